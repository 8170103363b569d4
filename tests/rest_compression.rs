//! Answers are compressed when the client asks, decode to the same JSON, vary on
//! Accept-Encoding, and keep ETags and conditional requests right (issue 12).
mod common;

use std::io::Read;

use articles::rest::Codings;
use common::{send, spawn_rest, spawn_rest_with, Reply, TestApp};
use serde_json::{json, Value};

/// `GET path` with these request headers.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app.client.get(app.url(path));
    for &header in headers {
        request = request.insert_header(header);
    }
    send(request, None).await
}

/// The body of `reply` decoded from its Content-Encoding.
fn decoded(reply: &Reply) -> Value {
    let raw = reply.raw.as_slice();
    let mut text = Vec::new();
    match reply.header("content-encoding").as_deref() {
        None => text.extend_from_slice(raw),
        Some("gzip") => {
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut text)
                .unwrap();
        }
        Some("deflate") => {
            flate2::read::ZlibDecoder::new(raw)
                .read_to_end(&mut text)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(raw, 4096)
                .read_to_end(&mut text)
                .unwrap();
        }
        Some("zstd") => text = zstd::decode_all(raw).unwrap(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    serde_json::from_slice(&text).unwrap()
}

fn varies_on_accept_encoding(reply: &Reply) -> bool {
    reply
        .headers
        .get_all("vary")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))
}

/// A page of articles is sent in the coding the client prefers among those offered (gzip and
/// zstd by default; br and deflate when configured; gzip, then zstd, then br among equals),
/// decodes to exactly the uncompressed JSON, and is smaller; every answer, compressed or not,
/// says `Vary: Accept-Encoding`.
#[actix_web::test]
async fn pages_are_compressed_when_asked_and_decode_to_the_same_json() {
    let app = spawn_rest_with(|args| {
        args.compress = Codings::parse("gzip,zstd,br,deflate").unwrap();
    })
    .await;
    let default = spawn_rest().await;
    for i in 0..20 {
        let content = format!(
            "article {i}: {}",
            "words that repeat and compress well ".repeat(30)
        );
        app.create_article(&format!("title {i}"), &content).await;
        default
            .create_article(&format!("title {i}"), &content)
            .await;
    }
    let plain = get(&app, "/articles", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(varies_on_accept_encoding(&plain));
    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("deflate", "deflate"),
        ("gzip;q=0.5, zstd", "zstd"),
        ("br, gzip, zstd", "gzip"),
        ("br, zstd", "zstd"),
        ("identity", "none"),
        ("*;q=0, identity", "none"),
    ] {
        let reply = get(&app, "/articles", &[("Accept-Encoding", accept)]).await;
        assert_eq!(reply.status, 200, "{accept}");
        let sent = reply.header("content-encoding");
        assert_eq!(sent.as_deref().unwrap_or("none"), coding, "{accept}");
        assert!(varies_on_accept_encoding(&reply), "{accept}");
        assert_eq!(decoded(&reply), plain.body, "{accept}");
        if sent.is_some() {
            assert!(
                reply.raw.len() * 4 < plain.raw.len(),
                "{accept}: {} bytes",
                reply.raw.len()
            );
        }
    }
    let default_plain = get(&default, "/articles", &[]).await;
    for (accept, coding) in [("br", "none"), ("deflate", "none"), ("br, zstd", "zstd")] {
        let reply = get(&default, "/articles", &[("Accept-Encoding", accept)]).await;
        let sent = reply.header("content-encoding");
        assert_eq!(
            sent.as_deref().unwrap_or("none"),
            coding,
            "default, {accept}"
        );
        assert!(decoded(&reply) == default_plain.body, "default, {accept}");
    }
}

/// An answer under `--compress-min-size` (2 KiB by default: one article) is sent as it is, with
/// `Vary`; `--compress-min-size 0` compresses it too.
#[actix_web::test]
async fn small_answers_are_sent_uncompressed() {
    let app = spawn_rest().await;
    let article = app.create_article("short", "a short article").await;
    let path = format!("/articles/{}", article["id"]);
    let reply = get(&app, &path, &[("Accept-Encoding", "gzip, br")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), None);
    assert!(varies_on_accept_encoding(&reply));
    assert_eq!(reply.body["data"], article);
    let missing = get(&app, "/articles/999", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(missing.header("content-encoding"), None);
    assert_eq!(missing.body["code"], "not_found");

    let all = spawn_rest_with(|args| args.compress_min_size = 0).await;
    let article = all.create_article("short", "a short article").await;
    let reply = get(&all, &path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(reply.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(decoded(&reply)["data"], article);
}

/// A compressed representation has its own strong ETag (`"<version>-gzip"`), and so does its 304;
/// If-None-Match and If-Match accept the tag of any coding of the current version, so a client
/// that read the article compressed can still update it, and a stale or weak tag still fails.
#[actix_web::test]
async fn etags_name_the_coding_and_preconditions_accept_every_coding() {
    let app = spawn_rest().await;
    let article = app
        .create_article("long", &"a long article body ".repeat(500))
        .await;
    let path = format!("/articles/{}", article["id"]);
    let plain = get(&app, &path, &[]).await;
    let version = plain.header("etag").unwrap();
    let version = version.trim_matches('"');
    let zipped = get(&app, &path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(zipped.header("content-encoding").as_deref(), Some("gzip"));
    let gzip_tag = zipped.header("etag").unwrap();
    assert_eq!(gzip_tag, format!("\"{version}-gzip\""));

    for (accept, tag) in [
        (None, format!("\"{version}\"")),
        (Some("gzip"), format!("\"{version}-gzip\"")),
        (Some("zstd"), format!("\"{version}-zstd\"")),
        (Some("br"), format!("\"{version}\"")),
    ] {
        for presented in [
            gzip_tag.clone(),
            format!("W/{gzip_tag}"),
            format!("\"{version}\""),
        ] {
            let mut headers = vec![("If-None-Match", presented.as_str())];
            headers.extend(accept.map(|a| ("Accept-Encoding", a)));
            let cached = get(&app, &path, &headers).await;
            assert_eq!(cached.status, 304, "{accept:?} {presented}");
            assert_eq!(
                cached.header("etag"),
                Some(tag.clone()),
                "{accept:?} {presented}"
            );
            assert!(varies_on_accept_encoding(&cached));
        }
    }

    let put = |if_match: String, title: &'static str| {
        let request = app
            .client
            .put(app.url(&path))
            .insert_header(("If-Match", if_match))
            .insert_header(("Accept-Encoding", "gzip"));
        async move { send(request, Some(&json!({"title": title}))).await }
    };
    assert_eq!(put(format!("W/{gzip_tag}"), "weak").await.status, 412);
    assert_eq!(put(format!("\"{version}-gzipx\""), "odd").await.status, 412);
    let updated = put(gzip_tag.clone(), "updated").await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert!(updated.header("etag").unwrap().ends_with("-gzip\""));
    assert_eq!(put(gzip_tag.clone(), "stale").await.status, 412);
    let stale = get(&app, &path, &[("If-None-Match", gzip_tag.as_str())]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body["data"]["title"], "updated");
}

/// An Accept-Encoding that accepts none of our codings, not even identity, is answered
/// uncompressed in JSON (RFC 9110 12.5.3), not with actix's plain-text 406; HEAD with gzip has
/// the headers of GET with gzip.
#[actix_web::test]
async fn unsatisfiable_accept_encoding_gets_identity_and_head_matches_get() {
    let app = spawn_rest().await;
    app.create_article("t", &"c".repeat(5000)).await;
    for accept in ["identity;q=0", "*;q=0", "compress, identity;q=0"] {
        let reply = get(&app, "/articles", &[("Accept-Encoding", accept)]).await;
        assert_eq!(reply.status, 200, "{accept}: {}", reply.text);
        assert_eq!(reply.header("content-encoding"), None, "{accept}");
        assert_eq!(reply.body["total"], 1, "{accept}");
    }
    let get_gzip = get(&app, "/articles/1", &[("Accept-Encoding", "gzip")]).await;
    let head_gzip = send(
        app.client
            .head(app.url("/articles/1"))
            .insert_header(("Accept-Encoding", "gzip")),
        None,
    )
    .await;
    assert_eq!(head_gzip.status, 200);
    assert!(head_gzip.raw.is_empty());
    for name in [
        "content-encoding",
        "etag",
        "content-type",
        "transfer-encoding",
    ] {
        assert_eq!(head_gzip.header(name), get_gzip.header(name), "{name}");
    }
}
