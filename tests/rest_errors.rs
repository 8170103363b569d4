//! Bad input gets a clear JSON error with the right status, never an HTML page or a crash.
mod common;

use common::{send, spawn_rest, spawn_rest_with, Reply};
use serde_json::json;

fn assert_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["success"], false, "{}", reply.text);
    let message = reply.body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", reply.text));
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
    assert!(reply.body["code"].is_string());
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
}

async fn post_raw(
    app: &common::TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &'static str,
) -> Reply {
    let mut request = app.client.post(app.url(path));
    if let Some(content_type) = content_type {
        request = request.insert_header(("Content-Type", content_type));
    }
    let mut response = request.send_body(body).await.unwrap();
    let bytes = response.body().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or_default(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
        raw: bytes.to_vec(),
    }
}

/// Malformed JSON and non-object bodies get 400.
#[actix_web::test]
async fn malformed_and_non_object_bodies_are_400() {
    let app = spawn_rest().await;
    assert_error(
        &post_raw(&app, "/articles", Some("application/json"), "{\"title\": ").await,
        400,
        "not valid JSON",
    );
    assert_error(
        &post_raw(&app, "/articles", Some("application/json"), "").await,
        400,
        "JSON",
    );
    for body in ["[1, 2]", "\"text\"", "42", "null", "true"] {
        assert_error(
            &post_raw(&app, "/articles", Some("application/json"), body).await,
            400,
            "must be a JSON object",
        );
    }
    assert_error(
        &post_raw(
            &app,
            "/articles/bulk",
            Some("application/json"),
            "{\"upsert\": 5}",
        )
        .await,
        400,
        "expected shape",
    );
    assert_error(
        &post_raw(
            &app,
            "/articles/bulk",
            Some("application/json"),
            "{\"upsert\": [], \"extra\": 1}",
        )
        .await,
        400,
        "unknown field",
    );
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

/// Missing, null, empty, whitespace-only, wrongly typed and too-long fields get 400 naming the field.
#[actix_web::test]
async fn invalid_fields_are_400_naming_the_field() {
    let app = spawn_rest().await;
    let cases = [
        (json!({"content": "c"}), "title", "required"),
        (json!({"title": "t"}), "content", "required"),
        (json!({"title": null, "content": "c"}), "title", "null"),
        (json!({"title": "t", "content": null}), "content", "null"),
        (json!({"title": "", "content": "c"}), "title", "empty"),
        (
            json!({"title": " \u{3000}\u{a0} ", "content": "c"}),
            "title",
            "whitespace",
        ),
        (json!({"title": "t", "content": "   "}), "content", "empty"),
        (
            json!({"title": 42, "content": "c"}),
            "title",
            "must be a string",
        ),
        (
            json!({"title": "t", "content": ["c"]}),
            "content",
            "must be a string",
        ),
        (
            json!({"title": "x".repeat(201), "content": "c"}),
            "title",
            "200",
        ),
    ];
    for (body, field, needle) in cases {
        let reply = app.post("/articles", &body).await;
        assert_error(&reply, 400, needle);
        assert!(
            reply.body["error"].as_str().unwrap().starts_with(field),
            "{}",
            reply.text
        );
        assert!(reply.body["details"][field].is_string(), "{}", reply.text);
    }
    assert_eq!(
        app.post(
            "/articles",
            &json!({"title": "é".repeat(200), "content": "c"})
        )
        .await
        .status,
        201
    );
    assert_eq!(app.get("/articles").await.body["total"], 1);
}

/// PUT with neither field, or an invalid one, gets 400 and changes nothing.
#[actix_web::test]
async fn invalid_updates_are_400() {
    let app = spawn_rest().await;
    app.create_article("t", "c").await;
    assert_error(
        &app.put("/articles/1", &json!({})).await,
        400,
        "nothing to update",
    );
    assert_error(
        &app.put("/articles/1", &json!({"unrelated": 1})).await,
        400,
        "nothing to update",
    );
    assert_error(
        &app.put("/articles/1", &json!({"title": ""})).await,
        400,
        "title",
    );
    assert_error(
        &app.put("/articles/1", &json!({"title": "ok", "content": 5}))
            .await,
        400,
        "content",
    );
    assert_error(
        &app.put("/articles/1", &json!({"title": null})).await,
        400,
        "null",
    );
    assert_eq!(app.get("/articles/1").await.body["data"]["title"], "t");
}

/// Unknown ids, non-integer ids and unknown routes get a JSON 404.
#[actix_web::test]
async fn unknown_ids_and_routes_are_404() {
    let app = spawn_rest().await;
    assert_error(&app.get("/articles/12345").await, 404, "not found");
    for id in [
        "abc",
        "1.5",
        "-1",
        "0",
        "99999999999999999999999",
        "1%20OR%201=1",
    ] {
        assert_error(&app.get(&format!("/articles/{id}")).await, 404, "not found");
        assert_error(
            &app.put(&format!("/articles/{id}"), &json!({"title": "x"}))
                .await,
            404,
            "not found",
        );
        assert_error(
            &app.delete(&format!("/articles/{id}")).await,
            404,
            "not found",
        );
    }
    assert_error(
        &app.put("/articles/777", &json!({"title": "x"})).await,
        404,
        "not found",
    );
    assert_error(&app.get("/nope").await, 404, "no such endpoint");
    assert_error(
        &app.get("/articles/1/comments").await,
        404,
        "no such endpoint",
    );
}

/// A wrong method on a known route gets a JSON 405 with an Allow header.
#[actix_web::test]
async fn wrong_method_is_405() {
    let app = spawn_rest().await;
    let patch = send(app.client.patch(app.url("/articles/1")), None).await;
    assert_error(&patch, 405, "PATCH");
    assert_eq!(
        patch.header("allow").as_deref(),
        Some("GET, HEAD, PUT, DELETE")
    );
    assert_error(&app.delete("/articles").await, 405, "DELETE");
    assert_error(&app.get("/articles/bulk").await, 405, "GET");
    assert_error(&app.post("/health", &json!({})).await, 405, "POST");
}

/// Bodies over the limit get 413, with and without a Content-Length.
#[actix_web::test]
async fn oversized_bodies_are_413() {
    let app = spawn_rest_with(|args| args.body_limit = 1024).await;
    let big = json!({"title": "t", "content": "x".repeat(2000)});
    assert_error(&app.post("/articles", &big).await, 413, "1024");
    assert_error(&app.put("/articles/1", &big).await, 413, "limit");
    let chunks = futures_util::stream::iter(
        (0..40).map(|_| Ok::<_, std::io::Error>(actix_web::web::Bytes::from(vec![b' '; 100]))),
    );
    let mut streamed = app
        .client
        .post(app.url("/articles"))
        .insert_header(("Content-Type", "application/json"))
        .send_stream(chunks)
        .await
        .unwrap();
    assert_eq!(streamed.status().as_u16(), 413);
    let body: serde_json::Value = serde_json::from_slice(&streamed.body().await.unwrap()).unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(
        app.post("/articles", &json!({"title": "t", "content": "small"}))
            .await
            .status,
        201
    );
}

/// Writes without a JSON content type get 415.
#[actix_web::test]
async fn non_json_writes_are_415() {
    let app = spawn_rest().await;
    let body = r#"{"title": "t", "content": "c"}"#;
    assert_error(
        &post_raw(&app, "/articles", None, body).await,
        415,
        "application/json",
    );
    assert_error(
        &post_raw(&app, "/articles", Some("text/plain"), body).await,
        415,
        "JSON",
    );
    assert_error(
        &post_raw(
            &app,
            "/articles",
            Some("application/x-www-form-urlencoded"),
            "title=t&content=c",
        )
        .await,
        415,
        "JSON",
    );
    assert_error(
        &post_raw(&app, "/articles/bulk", Some("text/plain"), "{}").await,
        415,
        "JSON",
    );
    assert_eq!(
        post_raw(
            &app,
            "/articles",
            Some("application/json; charset=utf-8"),
            body
        )
        .await
        .status,
        201
    );
}

/// Out-of-range or malformed query values get 400 naming the parameter.
#[actix_web::test]
async fn bad_query_values_are_400() {
    let app = spawn_rest().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-5", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2026-13-01T00:00:00Z", "updated_since"),
    ] {
        let reply = app.get(&format!("/articles?{query}")).await;
        assert_error(&reply, 400, field);
    }
    assert_eq!(
        app.get("/articles?limit=1000&offset=0&unknown=1")
            .await
            .status,
        200
    );
}

/// Bulk rows with bad ids or timestamps are refused with the row named.
#[actix_web::test]
async fn bad_bulk_rows_are_400() {
    let app = spawn_rest().await;
    for (body, needle) in [
        (
            json!({"upsert": [{"id": 0, "title": "t", "content": "c"}]}),
            "upsert[0].id must be a positive integer",
        ),
        (
            json!({"upsert": [{"id": 1, "title": "t", "content": "c", "updated_at": "soon"}]}),
            "upsert[0].updated_at",
        ),
        (json!({"upsert": [{"id": 1, "title": "t"}]}), "content"),
        (json!({"delete": [-3]}), "delete[0]"),
        (
            json!({"upsert": [{"id": 1, "title": "t", "content": "c"}], "delete": [1]}),
            "both",
        ),
    ] {
        assert_error(&app.post("/articles/bulk", &body).await, 400, needle);
    }
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

/// Hostile bodies, paths and queries get a 4xx JSON answer and the server keeps serving.
#[actix_web::test]
async fn hostile_input_never_breaks_the_server() {
    let app = spawn_rest().await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"{\"title\": \"\xff\xfe\", \"content\": \"x\"}".to_vec(),
        deep.into_bytes(),
        br#"{"title": 1e400, "content": "x"}"#.to_vec(),
        b"\x00\x01\x02".to_vec(),
        br#"{"title": "\ud800", "content": "x"}"#.to_vec(),
        vec![b'{'; 50_000],
    ];
    for body in bodies {
        for path in ["/articles", "/articles/bulk"] {
            let mut response = app
                .client
                .post(app.url(path))
                .insert_header(("Content-Type", "application/json"))
                .send_body(body.clone())
                .await
                .unwrap();
            let status = response.status().as_u16();
            let json: serde_json::Value =
                serde_json::from_slice(&response.body().await.unwrap()).unwrap();
            assert!((400..500).contains(&status), "{path}: {status} {json}");
            assert_eq!(json["success"], false);
        }
    }
    let long_id = "9".repeat(5000);
    for path in [
        format!("/articles/{long_id}"),
        "/articles/%00".into(),
        "/articles/%ZZ".into(),
        "/articles?q=%FF%FE".into(),
        "/articles?limit=%00".into(),
    ] {
        let reply = app.get(&path).await;
        assert!(reply.status < 500, "{path}: {}", reply.status);
        assert!(reply.body["success"].is_boolean(), "{path}: {}", reply.text);
    }
    // NUL is refused (tests/article_rules.rs has the details); other control characters in
    // content are stored exactly.
    let title_with_nul = app
        .post(
            "/articles",
            &json!({"title": "a\u{0}b", "content": "c\u{0}d"}),
        )
        .await;
    assert_eq!(title_with_nul.status, 400, "{}", title_with_nul.text);
    let controls = app
        .post(
            "/articles",
            &json!({"title": "ok", "content": "c\u{1}\u{1b}\u{7f}d"}),
        )
        .await;
    assert_eq!(controls.status, 201, "{}", controls.text);
    let id = controls.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/articles/{id}")).await.body["data"]["content"],
        "c\u{1}\u{1b}\u{7f}d"
    );
    assert_eq!(app.get("/health").await.status, 200);
}
