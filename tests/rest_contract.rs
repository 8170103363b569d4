//! The REST API does what `/openapi.json` says, at its edges: what the document forbids is
//! refused with a JSON 4xx, and what it allows is taken. One test per class of schemathesis
//! finding (issue 12), plus HEAD on every GET route.
mod common;

use common::{send, spawn_rest, Reply, TestApp};
use serde_json::{json, Value};

fn assert_refused(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["success"], false, "{}", reply.text);
    assert!(
        reply.body["error"].as_str().unwrap_or("").contains(needle),
        "{:?} should mention {needle:?}",
        reply.body["error"]
    );
}

async fn post_with_key(app: &TestApp, key: &str, title: &str) -> Reply {
    send(
        app.client
            .post(app.url("/articles"))
            .insert_header(("Idempotency-Key", key)),
        Some(&json!({"title": title, "content": "c"})),
    )
    .await
}

/// The document's schema at `pointer` (JSON Pointer) in the served `/openapi.json`.
async fn documented(app: &TestApp, pointer: &str) -> Value {
    let spec = app.get("/openapi.json").await.body;
    spec.pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer} is not in the document"))
        .clone()
}

/// Finding 2: an Idempotency-Key is 1 to 255 visible ASCII characters as sent, so a quoted
/// 255-character key (257 as sent), spaces, tabs, other bytes and a repeated header are 400,
/// and nothing is created; a quoted key is the same key as its content.
#[actix_web::test]
async fn idempotency_keys_are_what_the_document_says() {
    let app = spawn_rest().await;
    let schema = documented(&app, "/components/parameters/IdempotencyKey/schema").await;
    assert_eq!(schema["maxLength"], 255);
    assert_eq!(schema["pattern"], "^[!-~]+$");
    let longest = "k".repeat(255);
    for key in [
        format!("\"{longest}\""),
        "k".repeat(256),
        "two words".into(),
        "tab\tinside".into(),
    ] {
        assert_refused(
            &post_with_key(&app, &key, "refused").await,
            400,
            "Idempotency-Key",
        );
    }
    let non_ascii = send(
        app.client.post(app.url("/articles")).insert_header((
            "Idempotency-Key",
            awc::http::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )),
        Some(&json!({"title": "refused", "content": "c"})),
    )
    .await;
    assert_refused(&non_ascii, 400, "Idempotency-Key");
    let twice = send(
        app.client
            .post(app.url("/articles"))
            .append_header(("Idempotency-Key", "a"))
            .append_header(("Idempotency-Key", "b")),
        Some(&json!({"title": "refused", "content": "c"})),
    )
    .await;
    assert_refused(&twice, 400, "once");
    assert_eq!(app.get("/articles").await.body["total"], 0);

    let first = post_with_key(&app, &longest, "longest key").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let quoted = post_with_key(&app, &format!("\"{}\"", "q".repeat(200)), "quoted").await;
    assert_eq!(quoted.status, 201, "{}", quoted.text);
    let bare = post_with_key(&app, &"q".repeat(200), "quoted").await;
    assert_eq!(bare.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(bare.body, quoted.body);
    assert_eq!(app.get("/articles").await.body["total"], 2);
}

/// Finding 3, decided: a bulk row's `created_at` and `updated_at` may be null, meaning "not
/// given", and the document says so (nullable); any other type is still 400.
#[actix_web::test]
async fn bulk_timestamps_may_be_null_as_documented() {
    let app = spawn_rest().await;
    let row = documented(&app, "/components/schemas/BulkRow/properties").await;
    for field in ["created_at", "updated_at"] {
        let reference = row[field]["$ref"].as_str().unwrap().replace('#', "");
        assert_eq!(documented(&app, &reference).await["nullable"], true);
    }
    let with_nulls = json!({"upsert": [
        {"id": 7, "title": "t", "content": "c", "created_at": null, "updated_at": null}
    ]});
    let reply = app.post("/articles/bulk", &with_nulls).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["data"]["inserted"], 1);
    let again = app.post("/articles/bulk", &with_nulls).await;
    assert_eq!(
        again.body["data"]["unchanged"], 1,
        "null is the same as absent"
    );
    for bad in [json!(0), json!(false), json!([]), json!({})] {
        let reply = app
            .post(
                "/articles/bulk",
                &json!({"upsert": [{"id": 8, "title": "t", "content": "c", "updated_at": bad}]}),
            )
            .await;
        assert_refused(&reply, 400, "expected");
    }
    assert_eq!(app.get("/articles").await.body["total"], 1);
}

/// Finding 4: ids are 1 to 9223372036854775807 in decimal, as documented (minimum and maximum),
/// and GET, PUT and DELETE work at both ends; a sign, a leading zero or a value past i64 names no
/// article (404).
#[actix_web::test]
async fn ids_span_the_documented_range() {
    let app = spawn_rest().await;
    let id = documented(&app, "/components/schemas/Id").await;
    assert_eq!(id["minimum"], 1);
    assert_eq!(id["maximum"], i64::MAX);
    let max = i64::MAX.to_string();
    let bulk = json!({"upsert": [
        {"id": 1, "title": "first", "content": "c"},
        {"id": i64::MAX, "title": "last", "content": "c"}
    ]});
    assert_eq!(app.post("/articles/bulk", &bulk).await.status, 200);
    for id in ["1", max.as_str()] {
        let path = format!("/articles/{id}");
        assert_eq!(app.get(&path).await.status, 200, "{path}");
        let put = app.put(&path, &json!({"content": "edited"})).await;
        assert_eq!(put.status, 200, "{path}: {}", put.text);
        assert_eq!(app.delete(&path).await.status, 200, "{path}");
    }
    app.post("/articles/bulk", &bulk).await;
    for id in ["+1", "01", "0", "9223372036854775808", "1e0", "%2B1"] {
        let path = format!("/articles/{id}");
        assert_refused(&app.get(&path).await, 404, "not found");
        assert_refused(
            &app.put(&path, &json!({"title": "x"})).await,
            404,
            "not found",
        );
        assert_refused(&app.delete(&path).await, 404, "not found");
    }
    assert_eq!(app.get("/articles").await.body["total"], 2);
}

/// `limit` and `offset` are integers in their documented ranges, written in decimal: a sign or a
/// leading zero is 400 like any other non-integer; the largest offset is a valid, empty page.
#[actix_web::test]
async fn limit_and_offset_are_documented_integers() {
    let app = spawn_rest().await;
    app.create_article("t", "c").await;
    for (query, field) in [
        ("limit=%2B5", "limit"),
        ("limit=05", "limit"),
        ("offset=%2B0", "offset"),
        ("offset=00", "offset"),
        ("offset=9223372036854775808", "offset"),
        ("limit=1&limit=2", "limit"),
    ] {
        assert_refused(&app.get(&format!("/articles?{query}")).await, 400, field);
    }
    let last = app.get(&format!("/articles?offset={}", i64::MAX)).await;
    assert_eq!(last.status, 200, "{}", last.text);
    assert_eq!(last.body["data"], json!([]));
    assert_eq!(last.body["next"], Value::Null);
}

/// Timestamps in requests are RFC 3339 as its grammar writes them, and only instants that RFC
/// 3339 can write back in UTC: a space for `T`, a leap second, or an offset that moves the
/// instant out of years 0000 to 9999 is 400, so no answer ever holds a malformed timestamp.
#[actix_web::test]
async fn timestamps_are_rfc3339_both_ways() {
    let app = spawn_rest().await;
    for bad in [
        "2026-01-01%2000:00:00Z",
        "2026-06-30T23:59:60Z",
        "0000-01-01T00:00:00%2B00:01",
        "9999-12-31T23:59:59-00:01",
    ] {
        let reply = app.get(&format!("/articles?updated_since={bad}")).await;
        assert_refused(&reply, 400, "updated_since");
        let stamp = bad.replace("%2B", "+").replace("%20", " ");
        for field in ["created_at", "updated_at"] {
            let row = json!({"id": 3, "title": "t", "content": "c", field: stamp});
            let reply = app.post("/articles/bulk", &json!({"upsert": [row]})).await;
            assert_refused(&reply, 400, field);
        }
    }
    let edges = json!({"upsert": [
        {"id": 1, "title": "t", "content": "c", "created_at": "0000-01-01T00:00:00Z",
         "updated_at": "9999-12-31T23:59:59.999999Z"},
        {"id": 2, "title": "t", "content": "c", "created_at": "2026-01-01t01:00:00+01:00",
         "updated_at": "2026-01-01T00:00:00z"}
    ]});
    assert_eq!(app.post("/articles/bulk", &edges).await.status, 200);
    let stored = app.get("/articles").await.body["data"].clone();
    assert_eq!(stored[0]["created_at"], "0000-01-01T00:00:00.000000Z");
    assert_eq!(stored[0]["updated_at"], "9999-12-31T23:59:59.999999Z");
    assert_eq!(stored[1]["created_at"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(stored[1]["updated_at"], "2026-01-01T00:00:00.000000Z");
}

/// The bulk body and each of its rows are JSON objects, as documented: the arrays that serde
/// would read as a struct's fields in order (`[]`, `[[], []]`, `[7, "t", "c"]`) are 400.
#[actix_web::test]
async fn bulk_bodies_and_rows_are_objects() {
    let app = spawn_rest().await;
    for body in [
        json!([]),
        json!([[], []]),
        json!([[[1, "t", "c", null, null]], []]),
        json!({"upsert": [[1, "t", "c", null, null]]}),
        json!({"upsert": [[1, "t", "c"]]}),
    ] {
        assert_refused(&app.post("/articles/bulk", &body).await, 400, "expected");
    }
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

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

/// The document's title and content patterns and lengths accept exactly what `Title::parse`,
/// `Content::parse` and the create/update blank rule accept, for every character up to U+3100
/// (and a few beyond), alone and inside text; its timestamp pattern agrees with
/// `Timestamp::parse_rfc3339` on the shapes that matter.
#[test]
fn documented_patterns_are_the_code_rules() {
    use articles::db::models::{Content, Timestamp, Title};
    let spec: Value = serde_json::from_str(articles::rest::OPENAPI_JSON).unwrap();
    let schema = |name: &str| spec["components"]["schemas"][name].clone();
    let accepts = |schema: &Value| {
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        let (min, max) = (schema["minLength"].as_u64(), schema["maxLength"].as_u64());
        move |text: &str| {
            let chars = text.chars().count() as u64;
            pattern.is_match(text)
                && min.is_none_or(|min| chars >= min)
                && max.is_none_or(|max| chars <= max)
        }
    };
    let (title, content, stored) = (
        accepts(&schema("Title")),
        accepts(&schema("Content")),
        accepts(&schema("StoredContent")),
    );
    let mut candidates: Vec<String> = (0u32..0x3100)
        .chain([0xfeff, 0x1_f600, 0x10_ffff])
        .filter_map(char::from_u32)
        .flat_map(|c| {
            [
                c.to_string(),
                format!("a{c}b"),
                format!("{c}{c} "),
                format!("{c}\n"),
            ]
        })
        .collect();
    candidates.extend(["é".repeat(200), "é".repeat(201), String::new()]);
    let mut disagreements = Vec::new();
    for text in &candidates {
        let code_content = Content::parse(text.clone());
        for (schema, documented, code) in [
            ("Title", title(text), Title::parse(text.clone()).is_ok()),
            (
                "Content",
                content(text),
                code_content.as_ref().is_ok_and(|c| !c.is_blank()),
            ),
            ("StoredContent", stored(text), code_content.is_ok()),
        ] {
            if documented != code {
                disagreements.push(format!(
                    "{schema} {text:?}: document {documented}, code {code}"
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements, first: {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(10)]
    );

    let timestamp = accepts(&schema("Timestamp"));
    for (text, valid) in [
        ("2026-11-28T15:27:04Z", true),
        ("2026-11-28t15:27:04.1234567+01:00", true),
        ("2026-11-28T15:27:04-23:59", true),
        ("2026-11-28 15:27:04Z", false),
        ("2026-11-28T23:59:60Z", false),
        ("2026-11-28T15:27:04", false),
        ("2026-11-28T15:27Z", false),
        ("+12026-11-28T15:27:04Z", false),
    ] {
        assert_eq!(timestamp(text), valid, "document: {text}");
        assert_eq!(
            Timestamp::parse_rfc3339(text).is_some(),
            valid,
            "code: {text}"
        );
    }
}
