//! The GraphiQL page at `GET /graphql` and its scripts and styles, built into the binary (see
//! `assets/README.md` for where each file comes from). Nothing is loaded from a CDN: the page
//! works on a machine without internet.
//!
//! Each asset's URL carries a hash of its bytes (`/graphiql/graphiql-3.8.3.min.<hash>.js`), so a
//! binary with other bytes serves them under other URLs: the assets are cached for a year as
//! `immutable`, honestly. The page itself is revalidated on every load (`no-cache`) and names the
//! current URLs.
//!
//! Assets are sent compressed when the browser asks (br, zstd, gzip or deflate), compressed once
//! per process and encoding, at the first request that asks, and kept. Compressing the 3.5 MB GraphiQL
//! bundle per request, as the `Compress` middleware does for GraphQL answers, costs 20-70 ms of
//! CPU each time (release build): a cheap request would buy a client that much of our CPU. Once,
//! at better levels, it is sent as 734 KB (gzip 6), 667 KB (br 5) or 656 KB (zstd 9), against
//! 1057 / 762 / 761 KB at the middleware's fast levels, for about 0.5 s of CPU in all.

use std::io::Write;
use std::sync::LazyLock;

use actix_web::http::header::{
    self, AcceptEncoding, CacheControl, CacheDirective, ContentEncoding, ContentType, Encoding,
    HeaderValue,
};
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use tokio::sync::OnceCell;

/// The page as shipped, naming each asset by its file name.
const PAGE_TEMPLATE: &str = include_str!("assets/graphiql.html");

/// `(file name in the page, content type, bytes)`.
const FILES: &[(&str, &str, &[u8])] = &[
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

/// An asset under its content-addressed name, with its compressed forms once made.
struct Asset {
    /// `graphiql-3.8.3.min.0123456789abcdef.js`
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
    gzip: OnceCell<Bytes>,
    deflate: OnceCell<Bytes>,
    br: OnceCell<Bytes>,
    zstd: OnceCell<Bytes>,
}

/// What the assets can be sent as: every encoding the `Compress` middleware offers, so that it
/// never compresses an asset per request.
const ENCODINGS: [Encoding; 5] = [
    Encoding::brotli(),
    Encoding::zstd(),
    Encoding::gzip(),
    Encoding::deflate(),
    Encoding::identity(),
];

impl Asset {
    /// The asset in `encoding`, compressed on first use (off the async workers; concurrent
    /// first requests wait for the same work). `None` for identity.
    async fn encoded(&'static self, encoding: ContentEncoding) -> Option<Bytes> {
        let cell = match encoding {
            ContentEncoding::Gzip => &self.gzip,
            ContentEncoding::Deflate => &self.deflate,
            ContentEncoding::Brotli => &self.br,
            ContentEncoding::Zstd => &self.zstd,
            _ => return None,
        };
        let made = cell
            .get_or_try_init(|| async move {
                web::block(move || compress(encoding, self.bytes))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?
            })
            .await;
        match made {
            Ok(bytes) => Some(bytes.clone()),
            Err(error) => {
                tracing::error!(%error, asset = %self.name, "cannot compress an asset; sending it as it is");
                None
            }
        }
    }
}

/// Compresses `bytes` at the levels measured in the module documentation (deflate as gzip).
fn compress(encoding: ContentEncoding, bytes: &[u8]) -> std::io::Result<Bytes> {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    match encoding {
        ContentEncoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
            encoder.write_all(bytes)?;
            encoder.finish()?;
        }
        ContentEncoding::Deflate => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::new(6));
            encoder.write_all(bytes)?;
            encoder.finish()?;
        }
        ContentEncoding::Brotli => {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            encoder.write_all(bytes)?;
            encoder.flush()?;
        }
        ContentEncoding::Zstd => out = zstd::encode_all(bytes, 9)?,
        _ => out.extend_from_slice(bytes),
    }
    Ok(Bytes::from(out))
}

/// The assets, named once per process (xxh3 of 4 MB takes about a millisecond).
static ASSETS: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(file, content_type, bytes)| {
            let hash = xxhash_rust::xxh3::xxh3_64(bytes);
            let name = match file.rsplit_once('.') {
                Some((stem, extension)) => format!("{stem}.{hash:016x}.{extension}"),
                None => format!("{file}.{hash:016x}"),
            };
            let asset = Asset {
                name,
                content_type,
                bytes,
                gzip: OnceCell::new(),
                deflate: OnceCell::new(),
                br: OnceCell::new(),
                zstd: OnceCell::new(),
            };
            (file, asset)
        })
        .collect()
});

/// The page, naming every asset by its content-addressed URL.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    ASSETS
        .iter()
        .fold(PAGE_TEMPLATE.to_owned(), |page, (file, asset)| {
            page.replace(
                &format!("/graphiql/{file}\""),
                &format!("/graphiql/{}\"", asset.name),
            )
        })
});

/// Registers `/graphiql/{file}` (GET and HEAD).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::routes::get_and_head("/graphiql/{file}", asset));
}

/// The GraphiQL page (for `GET /graphql` from a browser).
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        // /graphql answers JSON or this page depending on Accept.
        .insert_header((header::VARY, HeaderValue::from_static("Accept")))
        .body(PAGE.as_str())
}

/// `GET /graphiql/{file}`: one embedded asset, compressed as the browser asks.
async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let Some((_, asset)) = ASSETS.iter().find(|(_, asset)| asset.name == file.as_str()) else {
        return HttpResponse::NotFound().json(serde_json::json!({
            "success": false,
            "error": format!("no such asset: {file}"),
            "code": "not_found",
        }));
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(365 * 24 * 3600),
            CacheDirective::Extension("immutable".into(), None),
        ]))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    let wanted = req
        .get_header::<AcceptEncoding>()
        .and_then(|accept| accept.negotiate(ENCODINGS.iter()));
    if let Some(Encoding::Known(encoding)) = wanted {
        if let Some(encoded) = asset.encoded(encoding).await {
            // A Content-Encoding tells the Compress middleware to leave the body alone.
            return response
                .insert_header((header::CONTENT_ENCODING, encoding.to_header_value()))
                .body(encoded);
        }
    }
    response.body(asset.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page names every asset by its hashed URL, and no longer by its plain file name.
    #[test]
    fn the_page_names_content_addressed_assets() {
        for (file, asset) in ASSETS.iter() {
            assert!(
                PAGE.contains(&format!("\"/graphiql/{}\"", asset.name)),
                "{file}"
            );
            assert!(!PAGE.contains(&format!("/graphiql/{file}\"")), "{file}");
            assert_ne!(asset.name, *file);
        }
    }
}
