//! The GraphiQL page at `GET /graphql` and its scripts and styles, built into the binary (see
//! `assets/README.md` for where each file comes from). Nothing is loaded from a CDN: the page
//! works on a machine without internet. Asset URLs carry the package version, so they are cached
//! for a year.

use actix_web::http::header::{self, CacheControl, CacheDirective, ContentType, HeaderValue};
use actix_web::{web, HttpResponse};

const PAGE: &str = include_str!("assets/graphiql.html");

/// `(url path under /graphiql/, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql-3.8.3.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/graphiql.min.js"),
    ),
    (
        "graphiql-3.8.3.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/graphiql.min.css"),
    ),
    (
        "react-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react-dom.production.min.js"),
    ),
    (
        "start.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/start.js"),
    ),
];

/// Registers `/graphiql/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/graphiql/{file}").route(web::get().to(asset)));
}

/// `GET /graphql`: the GraphiQL page.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        // /graphql answers JSON or this page depending on Accept.
        .insert_header((header::VARY, HeaderValue::from_static("Accept")))
        .body(PAGE)
}

/// `GET /graphiql/{file}`: one embedded asset.
async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((name, content_type, bytes)) => {
            // start.js has no version in its name: revalidate it, cache the versioned bundles.
            let cache = if *name == "start.js" {
                vec![CacheDirective::NoCache]
            } else {
                vec![
                    CacheDirective::Public,
                    CacheDirective::MaxAge(365 * 24 * 3600),
                    CacheDirective::Extension("immutable".into(), None),
                ]
            };
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, *content_type))
                .insert_header(CacheControl(cache))
                .body(*bytes)
        }
        None => HttpResponse::NotFound().json(serde_json::json!({
            "success": false,
            "error": format!("no such asset: {file}"),
            "code": "not_found",
        })),
    }
}
