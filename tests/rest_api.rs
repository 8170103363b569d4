//! The REST contract: every endpoint's success shapes, headers and semantics.
mod common;

use common::{send, spawn_rest, spawn_rest_with};
use serde_json::{json, Value};

fn ids(reply: &common::Reply) -> Vec<i64> {
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// POST /articles answers 201 with the article, a message and a Location that resolves to it.
#[actix_web::test]
async fn create_returns_201_with_location_and_envelope() {
    let app = spawn_rest().await;
    let reply = app
        .post("/articles", &json!({"title": "Hello", "content": "World"}))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["success"], true);
    assert!(reply.body["message"].as_str().unwrap().contains("created"));
    let data = &reply.body["data"];
    assert_eq!(data["title"], "Hello");
    assert_eq!(data["content"], "World");
    let created_at = data["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with('Z'));
    assert_eq!(data["created_at"], data["updated_at"]);
    let location = reply.header("location").unwrap();
    assert_eq!(location, format!("/articles/{}", data["id"]));
    let fetched = app.get(&location).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(&fetched.body["data"], data);
    assert_eq!(fetched.body["success"], true);
}

/// GET /articles pages with count, total and a next link (a cursor) that keeps the filter;
/// offset pages work as before.
#[actix_web::test]
async fn list_pages_with_count_total_and_next() {
    let app = spawn_rest().await;
    for i in 1..=25 {
        app.create_article(&format!("Post {i}"), "body").await;
    }
    let first = app.get("/articles?limit=10").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["success"], true);
    assert_eq!(first.body["count"], 10);
    assert_eq!(first.body["total"], 25);
    assert_eq!(ids(&first), (1..=10).collect::<Vec<_>>());
    let next = first.body["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/articles?limit=10&cursor="), "{next}");
    let second = app.get(&next).await;
    assert_eq!(ids(&second), (11..=20).collect::<Vec<_>>());
    assert_eq!(second.body["total"], 25);
    assert_eq!(second.body["offset"], 0);
    let by_offset = app.get("/articles?limit=10&offset=10").await;
    assert_eq!(ids(&by_offset), ids(&second));
    assert_eq!(by_offset.body["offset"], 10);
    let third = app.get("/articles?limit=10&offset=20").await;
    assert_eq!(third.body["count"], 5);
    assert_eq!(third.body["next"], Value::Null);
    let default = app.get("/articles").await;
    assert_eq!(default.body["count"], 25);
    assert_eq!(default.body["limit"], 100);
    let beyond = app.get("/articles?offset=100").await;
    assert_eq!(beyond.body["count"], 0);
    assert_eq!(beyond.body["total"], 25);
}

/// `q` matches a case-insensitive substring of the title, Unicode included, and pages keep it.
#[actix_web::test]
async fn list_filters_by_title_substring_case_insensitively() {
    let app = spawn_rest().await;
    app.create_article("Rust in Production", "a").await;
    app.create_article("Why RUST?", "b").await;
    app.create_article("Python tips", "rust in the content only")
        .await;
    app.create_article("Émile et l'ÉTÉ", "c").await;
    app.create_article("100% done_right", "d").await;
    let reply = app.get("/articles?q=rust").await;
    assert_eq!(ids(&reply), vec![1, 2]);
    assert_eq!(reply.body["total"], 2);
    assert_eq!(
        ids(&app.get("/articles?q=%C3%A9t%C3%A9").await),
        vec![4],
        "été matches ÉTÉ"
    );
    assert_eq!(
        ids(&app.get("/articles?q=%25").await),
        vec![5],
        "% is literal"
    );
    assert_eq!(
        ids(&app.get("/articles?q=_").await),
        vec![5],
        "_ is literal"
    );
    let paged = app.get("/articles?q=rust&limit=1").await;
    let next = paged.body["next"].as_str().unwrap();
    assert!(
        next.starts_with("/articles?limit=1&q=rust&cursor="),
        "{next}"
    );
    let rest = app.get(next).await;
    assert_eq!(ids(&rest), vec![2]);
    assert_eq!(rest.body["next"], Value::Null);
}

/// `updated_since` returns only articles updated at or after the instant.
#[actix_web::test]
async fn list_filters_by_updated_since() {
    let app = spawn_rest().await;
    let old = app.create_article("old", "x").await;
    let new = app.create_article("new", "x").await;
    let since = new["updated_at"].as_str().unwrap();
    let reply = app
        .get(&format!("/articles?updated_since={}", urlencode(since)))
        .await;
    assert_eq!(ids(&reply), vec![2]);
    let touched = app
        .put(
            &format!("/articles/{}", old["id"]),
            &json!({"title": "old, edited"}),
        )
        .await;
    assert_eq!(touched.status, 200);
    let reply = app
        .get(&format!("/articles?updated_since={}", urlencode(since)))
        .await;
    assert_eq!(ids(&reply), vec![1, 2]);
    let offset = app
        .get("/articles?updated_since=2999-01-01T00:00:00%2B01:00")
        .await;
    assert_eq!(offset.body["total"], 0);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// GET /articles/{id} sends a strong ETag; If-None-Match with it gives 304, a stale one 200.
#[actix_web::test]
async fn etag_and_if_none_match() {
    let app = spawn_rest().await;
    let article = app.create_article("t", "c").await;
    let path = format!("/articles/{}", article["id"]);
    let first = app.get(&path).await;
    let etag = first.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let cached = send(
        app.client
            .get(app.url(&path))
            .insert_header(("If-None-Match", etag.as_str())),
        None,
    )
    .await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.text, "");
    assert_eq!(cached.header("etag").unwrap(), etag);
    app.put(&path, &json!({"content": "changed"})).await;
    let fresh = send(
        app.client
            .get(app.url(&path))
            .insert_header(("If-None-Match", etag.as_str())),
        None,
    )
    .await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.header("etag").unwrap(), etag);
}

/// PUT changes only the given fields, advances updated_at and keeps created_at.
#[actix_web::test]
async fn put_is_a_partial_update() {
    let app = spawn_rest().await;
    let article = app.create_article("title", "content").await;
    let path = format!("/articles/{}", article["id"]);
    let reply = app.put(&path, &json!({"title": "new title"})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["success"], true);
    assert!(reply.body["message"].as_str().unwrap().contains("updated"));
    let data = &reply.body["data"];
    assert_eq!(data["title"], "new title");
    assert_eq!(data["content"], "content");
    assert_eq!(data["created_at"], article["created_at"]);
    assert!(data["updated_at"].as_str().unwrap() > article["updated_at"].as_str().unwrap());
    let second = app.put(&path, &json!({"content": "new content"})).await;
    assert_eq!(second.body["data"]["title"], "new title");
    assert_eq!(second.body["data"]["content"], "new content");
    assert!(
        second.body["data"]["updated_at"].as_str().unwrap() > data["updated_at"].as_str().unwrap()
    );
    assert_eq!(app.get(&path).await.body["data"], second.body["data"]);
}

/// PUT and DELETE with a stale If-Match get 412 and change nothing; the current ETag or `*` works.
#[actix_web::test]
async fn if_match_guards_put_and_delete() {
    let app = spawn_rest().await;
    let article = app.create_article("t", "c").await;
    let path = format!("/articles/{}", article["id"]);
    let stale = app.get(&path).await.header("etag").unwrap();
    let current = app
        .put(&path, &json!({"title": "t2"}))
        .await
        .header("etag")
        .unwrap();
    let put = |tag: &str| {
        let request = app
            .client
            .put(app.url(&path))
            .insert_header(("If-Match", tag.to_owned()));
        async move { send(request, Some(&json!({"title": "t3"}))).await }
    };
    let refused = put(&stale).await;
    assert_eq!(refused.status, 412);
    assert_eq!(refused.body["success"], false);
    assert_eq!(app.get(&path).await.body["data"]["title"], "t2");
    let weak = put(&format!("W/{current}")).await;
    assert_eq!(weak.status, 412, "weak tags never match If-Match");
    let accepted = put(&current).await;
    assert_eq!(accepted.status, 200);
    let current = accepted.header("etag").unwrap();
    let delete = |tag: &str| {
        send(
            app.client
                .delete(app.url(&path))
                .insert_header(("If-Match", tag.to_owned())),
            None,
        )
    };
    assert_eq!(delete(&stale).await.status, 412);
    assert_eq!(app.get(&path).await.status, 200);
    assert_eq!(delete(&format!("\"zzz\", {current}")).await.status, 200);
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(
        delete("*").await.status,
        404,
        "If-Match: * needs an existing article"
    );
}

/// DELETE answers 200 with a message, after which the article is gone (404 on GET and DELETE).
#[actix_web::test]
async fn delete_removes_the_article() {
    let app = spawn_rest().await;
    let article = app.create_article("t", "c").await;
    let path = format!("/articles/{}", article["id"]);
    let reply = app.delete(&path).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"success": true, "message": "Article deleted successfully"})
    );
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.delete(&path).await.status, 404);
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

/// Bulk keeps given ids and timestamps, fills missing ones, reports counts, and is idempotent.
#[actix_web::test]
async fn bulk_upserts_and_deletes_idempotently() {
    let app = spawn_rest().await;
    app.create_article("to delete", "x").await; // id 1
    app.create_article("to update", "x").await; // id 2
    let body = json!({
        "upsert": [
            {"id": 2, "title": "updated", "content": "new", "created_at": "2020-01-01T00:00:00Z",
             "updated_at": "2020-06-01T12:30:00.123456+02:00"},
            {"id": 500, "title": "kept id", "content": "", "created_at": "2021-03-04T05:06:07Z",
             "updated_at": "2021-03-04T05:06:08Z"},
            {"id": 501, "title": "no timestamps", "content": "c"}
        ],
        "delete": [1, 999]
    });
    let reply = app.post("/articles/bulk", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["success"], true);
    assert_eq!(
        reply.body["data"],
        json!({"inserted": 2, "updated": 1, "unchanged": 0, "deleted": 1, "stale": 0})
    );
    let updated = app.get("/articles/2").await.body["data"].clone();
    assert_eq!(updated["created_at"], "2020-01-01T00:00:00.000000Z");
    assert_eq!(updated["updated_at"], "2020-06-01T10:30:00.123456Z");
    assert_eq!(
        app.get("/articles/500").await.body["data"]["updated_at"],
        "2021-03-04T05:06:08.000000Z"
    );
    assert_eq!(app.get("/articles/500").await.body["data"]["content"], "");
    assert_eq!(app.get("/articles/1").await.status, 404);
    let before = app.get("/articles").await.body["data"].clone();
    let again = app.post("/articles/bulk", &body).await;
    assert_eq!(
        again.body["data"],
        json!({"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 0, "stale": 0})
    );
    assert_eq!(
        app.get("/articles").await.body["data"],
        before,
        "the same request twice leaves the same state"
    );
    let created = app.create_article("after bulk", "x").await;
    assert_eq!(
        created["id"], 502,
        "new ids continue after the largest kept id"
    );
}

/// With `keep_newer`, an upsert older than the stored row (by `updated_at`) is left out and
/// counted `stale`, so a late or replayed change never undoes a newer edit made through the API;
/// equal or newer timestamps, rows without one, and new ids are applied as usual.
#[actix_web::test]
async fn bulk_keep_newer_never_replaces_a_newer_row_with_an_older_one() {
    let app = spawn_rest().await;
    let row = |id: i64, title: &str, updated_at: Option<&str>| {
        let mut row = json!({"id": id, "title": title, "content": "c",
                             "created_at": "2026-01-01T00:00:00Z"});
        if let Some(at) = updated_at {
            row["updated_at"] = json!(at);
        }
        row
    };
    let seed = json!({"upsert": [
        row(1, "one", Some("2026-01-01T00:00:00Z")),
        row(2, "two", Some("2026-01-01T00:00:00Z")),
        row(3, "three", Some("2026-01-01T00:00:00Z")),
    ]});
    assert_eq!(app.post("/articles/bulk", &seed).await.status, 200);
    // An edit through the API makes article 1 newer than anything the replay carries.
    let edited = app
        .put("/articles/1", &json!({"title": "edited through the API"}))
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let replay = json!({"keep_newer": true, "upsert": [
        row(1, "old replay", Some("2026-01-02T00:00:00Z")),
        row(2, "same instant, new text", Some("2026-01-01T00:00:00Z")),
        row(3, "newer", Some("2026-01-03T00:00:00Z")),
        row(4, "new id", Some("2025-01-01T00:00:00Z")),
    ]});
    let reply = app.post("/articles/bulk", &replay).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body["data"],
        json!({"inserted": 1, "updated": 2, "unchanged": 0, "deleted": 0, "stale": 1})
    );
    let title = |body: Value| body["data"]["title"].clone();
    assert_eq!(
        title(app.get("/articles/1").await.body),
        "edited through the API"
    );
    assert_eq!(
        title(app.get("/articles/2").await.body),
        "same instant, new text"
    );
    assert_eq!(title(app.get("/articles/3").await.body), "newer");
    assert_eq!(title(app.get("/articles/4").await.body), "new id");
    // Without the flag, the same old row does replace the edit (the replication default).
    let plain = json!({"upsert": [row(1, "old replay", Some("2026-01-02T00:00:00Z"))]});
    assert_eq!(app.post("/articles/bulk", &plain).await.status, 200);
    assert_eq!(title(app.get("/articles/1").await.body), "old replay");
}

/// A bulk request with one bad row applies nothing (all or nothing).
#[actix_web::test]
async fn bulk_is_all_or_nothing() {
    let app = spawn_rest().await;
    app.create_article("keep me", "x").await;
    let mut rows: Vec<Value> = (10..20)
        .map(|id| json!({"id": id, "title": format!("t{id}"), "content": "c"}))
        .collect();
    rows.push(json!({"id": 20, "title": "", "content": "c"}));
    let reply = app
        .post("/articles/bulk", &json!({"upsert": rows, "delete": [1]}))
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("upsert[10].title"),
        "{}",
        reply.text
    );
    let dup = app.post("/articles/bulk", &json!({"upsert": [{"id": 5, "title": "a", "content": ""}, {"id": 5, "title": "b", "content": ""}]})).await;
    assert_eq!(dup.status, 400);
    assert_eq!(app.get("/articles").await.body["total"], 1);
    assert_eq!(app.get("/articles/1").await.status, 200);
}

/// Bulk takes thousands of rows in one request (and refuses more than its documented limit).
#[actix_web::test]
async fn bulk_accepts_thousands_of_rows() {
    let app = spawn_rest().await;
    let rows: Vec<Value> = (1..=5000)
        .map(|id| json!({"id": id, "title": format!("t{id}"), "content": "x".repeat(200)}))
        .collect();
    let reply = app.post("/articles/bulk", &json!({"upsert": rows})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["data"]["inserted"], 5000);
    assert_eq!(app.get("/articles?limit=1").await.body["total"], 5000);
    let too_many: Vec<i64> = (1..=10_001).collect();
    let refused = app
        .post("/articles/bulk", &json!({"delete": too_many}))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(app.get("/articles?limit=1").await.body["total"], 5000);
}

/// A retry with the same Idempotency-Key returns the original response and creates nothing;
/// the same key with another body gets 422.
#[actix_web::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let app = spawn_rest().await;
    let post = |key: &'static str, title: &'static str| {
        let request = app
            .client
            .post(app.url("/articles"))
            .insert_header(("Idempotency-Key", key));
        async move { send(request, Some(&json!({"title": title, "content": "body"}))).await }
    };
    let first = post("key-1", "once").await;
    assert_eq!(first.status, 201);
    app.put(
        &format!("/articles/{}", first.body["data"]["id"]),
        &json!({"title": "edited later"}),
    )
    .await;
    let retry = post("key-1", "once").await;
    assert_eq!(retry.status, 201);
    assert_eq!(
        retry.body, first.body,
        "the original response, not the current article"
    );
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    let reuse = post("key-1", "different").await;
    assert_eq!(reuse.status, 422);
    assert_eq!(reuse.body["success"], false);
    let other = post("key-2", "once").await;
    assert_eq!(other.status, 201);
    assert_eq!(app.get("/articles").await.body["total"], 2);
}

/// Keys are forgotten after the configured TTL: the same key then creates a new article.
#[actix_web::test]
async fn idempotency_keys_expire() {
    let app =
        spawn_rest_with(|args| args.idempotency_ttl = std::time::Duration::from_millis(300)).await;
    let post = || {
        let request = app
            .client
            .post(app.url("/articles"))
            .insert_header(("Idempotency-Key", "k"));
        async move { send(request, Some(&json!({"title": "t", "content": "c"}))).await }
    };
    assert_eq!(post().await.body["data"]["id"], 1);
    assert_eq!(post().await.body["data"]["id"], 1);
    actix_rt::time::sleep(std::time::Duration::from_millis(400)).await;
    // A new article: ids come from the database and need not be consecutive (a PostgreSQL
    // sequence skips values a replay drew).
    let again = post().await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_ne!(again.body["data"]["id"], 1);
    assert_eq!(app.get("/articles").await.body["total"], 2);
}

/// Unicode, emoji, quotes, SQL-looking text and 100 KB contents come back byte for byte.
#[actix_web::test]
async fn text_round_trips_exactly() {
    let app = spawn_rest().await;
    let samples = [
        (
            "Ünïcödé — 日本語 — עברית",
            "Ω≈ç√∫˜µ≤≥÷ and combining e\u{301}",
        ),
        ("Emoji 🎉🦀👩‍👩‍👧", "🔥 zero\u{200b}width and \u{1F600}"),
        (
            "\"quotes\" 'single' `back`",
            "line1\nline2\r\n\ttab \\ backslash \u{0001}",
        ),
        (
            "Robert'); DROP TABLE articles;--",
            "' OR '1'='1'; -- %_ LIKE",
        ),
        (
            "  leading and trailing spaces  ",
            &"0123456789abcdef".repeat(6400),
        ),
    ];
    for (title, content) in samples {
        let created = app.create_article(title, content).await;
        let fetched = app.get(&format!("/articles/{}", created["id"])).await;
        assert_eq!(fetched.body["data"]["title"], title);
        assert_eq!(fetched.body["data"]["content"], content);
    }
    assert_eq!(app.get("/articles").await.body["total"], 5);
}

/// With a token, writes need `Authorization: Bearer <token>` (401 otherwise); reads stay open.
#[actix_web::test]
async fn token_protects_writes_only() {
    let app = spawn_rest_with(|args| args.api_token = Some("s3cret".into())).await;
    let body = json!({"title": "t", "content": "c"});
    let anonymous = app.post("/articles", &body).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["success"], false);
    assert_eq!(
        anonymous.header("www-authenticate").as_deref(),
        Some("Bearer")
    );
    for header in ["Bearer wrong", "Bearer s3cret2", "Basic s3cret", "s3cret"] {
        let reply = send(
            app.client
                .post(app.url("/articles"))
                .insert_header(("Authorization", header)),
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 401, "{header}");
    }
    let authed = |req: awc::ClientRequest| req.insert_header(("Authorization", "Bearer s3cret"));
    let created = send(authed(app.client.post(app.url("/articles"))), Some(&body)).await;
    assert_eq!(created.status, 201);
    assert_eq!(
        app.get("/articles/1").await.status,
        200,
        "reads need no token"
    );
    assert_eq!(app.get("/articles").await.status, 200);
    assert_eq!(
        app.put("/articles/1", &json!({"title": "x"})).await.status,
        401
    );
    assert_eq!(app.delete("/articles/1").await.status, 401);
    assert_eq!(
        app.post("/articles/bulk", &json!({"delete": [1]}))
            .await
            .status,
        401
    );
    assert_eq!(
        send(
            authed(app.client.put(app.url("/articles/1"))),
            Some(&json!({"title": "x"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            authed(app.client.post(app.url("/articles/bulk"))),
            Some(&json!({"delete": [1]}))
        )
        .await
        .status,
        200
    );
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

/// Without a token, writes are open.
#[actix_web::test]
async fn writes_are_open_without_a_token() {
    let app = spawn_rest().await;
    assert_eq!(
        app.post("/articles", &json!({"title": "t", "content": "c"}))
            .await
            .status,
        201
    );
    assert_eq!(app.delete("/articles/1").await.status, 200);
}

/// CORS: any origin by default (as the original), a configured list otherwise.
#[actix_web::test]
async fn cors_is_configurable() {
    let open = spawn_rest().await;
    let reply = send(
        open.client
            .get(open.url("/articles"))
            .insert_header(("Origin", "https://example.org")),
        None,
    )
    .await;
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let listed =
        spawn_rest_with(|args| args.cors_origins = vec!["https://blog.example".into()]).await;
    let allowed = send(
        listed
            .client
            .get(listed.url("/articles"))
            .insert_header(("Origin", "https://blog.example")),
        None,
    )
    .await;
    assert_eq!(
        allowed.header("access-control-allow-origin").as_deref(),
        Some("https://blog.example")
    );
    let preflight = send(
        listed
            .client
            .request(awc::http::Method::OPTIONS, listed.url("/articles"))
            .insert_header(("Origin", "https://blog.example"))
            .insert_header(("Access-Control-Request-Method", "POST")),
        None,
    )
    .await;
    assert!(preflight.status < 300, "{}", preflight.status);
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let none = spawn_rest_with(|args| args.cors_origins = vec!["none".into()]).await;
    let reply = send(
        none.client
            .get(none.url("/articles"))
            .insert_header(("Origin", "https://example.org")),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

/// GET / lists the endpoints; GET /openapi.json describes exactly the routes the server has
/// (and HEAD beside every GET).
#[actix_web::test]
async fn index_and_openapi_describe_the_routes() {
    let app = spawn_rest().await;
    app.create_article("t", "c").await;
    let index = app.get("/").await;
    assert_eq!(index.status, 200);
    let endpoints = index.body["endpoints"].as_object().unwrap();
    let spec = app.get("/openapi.json").await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in spec.body["paths"].as_object().unwrap() {
        let methods = item.as_object().unwrap();
        assert_eq!(
            methods.contains_key("get"),
            methods.contains_key("head"),
            "{path}: HEAD is documented wherever GET is"
        );
        for method in methods
            .keys()
            .filter(|k| *k != "parameters" && *k != "head")
        {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut listed: Vec<String> = endpoints.keys().cloned().collect();
    listed.push("GET /".into());
    listed.sort();
    assert_eq!(
        documented, listed,
        "openapi.json and the index name the same endpoints"
    );
    for endpoint in &listed {
        let (method, path) = endpoint.split_once(' ').unwrap();
        let path = path.replace("{id}", "1");
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = send(
            app.client
                .request(method, app.url(&path))
                .insert_header(("Content-Type", "application/json")),
            None,
        )
        .await;
        assert!(
            !reply.text.contains("no such endpoint"),
            "{endpoint} is routed"
        );
        assert_ne!(reply.status, 405, "{endpoint} is routed");
    }
}

/// The API under test stores its articles where the run asked (`ARTICLES_TEST_STORE`): the row
/// created over HTTP is in that PostgreSQL database, or in the SQLite file, and not elsewhere.
#[actix_web::test]
async fn articles_land_in_the_store_under_test() {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Title {
        #[diesel(sql_type = diesel::sql_types::Text)]
        title: String,
    }
    let app = spawn_rest().await;
    app.create_article("where am I", "x").await;
    let sql = diesel::sql_query("SELECT title FROM articles");
    let titles: Vec<Title> = match &app.postgres {
        Some(database) => {
            assert!(common::on_postgres());
            assert!(!app.db_path.exists(), "a SQLite file was made too");
            sql.load(&mut database.connect()).unwrap()
        }
        None => {
            assert!(!common::on_postgres());
            let mut conn = <diesel::SqliteConnection as diesel::Connection>::establish(
                &app.db_path.to_string_lossy(),
            )
            .unwrap();
            sql.load(&mut conn).unwrap()
        }
    };
    let titles: Vec<String> = titles.into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["where am I"]);
}
