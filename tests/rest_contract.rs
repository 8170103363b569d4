//! The REST API does what `/openapi.json` says, at its edges: what the document forbids is
//! refused with a JSON 4xx, and what it allows is taken. HEAD on every GET route.
mod common;

use common::{send, spawn_rest};

/// Every GET route answers HEAD with the same status and headers and no body (a 404 and a 304
/// too), and the 405 `Allow` header and OPTIONS list HEAD wherever GET is.
#[actix_web::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_rest().await;
    let article = app.create_article("t", "c").await;
    let path = format!("/articles/{}", article["id"]);
    let etag = app.get(&path).await.header("etag").unwrap();
    for (path, if_none_match) in [
        ("/", None),
        ("/health", None),
        ("/openapi.json", None),
        ("/articles", None),
        ("/articles?limit=0", None),
        (path.as_str(), None),
        (path.as_str(), Some(etag.as_str())),
        ("/articles/999", None),
    ] {
        let request = |method| {
            let mut request = app.client.request(method, app.url(path));
            if let Some(tag) = if_none_match {
                request = request.insert_header(("If-None-Match", tag));
            }
            request
        };
        let get = send(request(awc::http::Method::GET), None).await;
        let head = send(request(awc::http::Method::HEAD), None).await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert_eq!(head.text, "", "HEAD {path} has no body");
        for name in ["content-type", "content-length", "etag", "allow"] {
            assert_eq!(head.header(name), get.header(name), "HEAD {path}: {name}");
        }
    }
    let metrics = send(app.client.head(app.url("/metrics")), None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(metrics.text, "");

    for (path, allow) in [
        ("/", "GET, HEAD"),
        ("/health", "GET, HEAD"),
        ("/metrics", "GET, HEAD"),
        ("/openapi.json", "GET, HEAD"),
        ("/articles", "GET, HEAD, POST"),
        ("/articles/bulk", "POST"),
        ("/articles/1", "GET, HEAD, PUT, DELETE"),
    ] {
        let patch = send(app.client.patch(app.url(path)), None).await;
        assert_eq!(patch.status, 405, "PATCH {path}");
        assert_eq!(
            patch.header("allow").as_deref(),
            Some(allow),
            "PATCH {path}"
        );
        let options = send(
            app.client
                .request(awc::http::Method::OPTIONS, app.url(path)),
            None,
        )
        .await;
        assert_eq!(options.status, 204, "OPTIONS {path}");
        assert_eq!(
            options.header("allow").as_deref(),
            Some(allow),
            "OPTIONS {path}"
        );
    }
}
