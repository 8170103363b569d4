//! `GET /articles` at any size (issue 11): cursor paging in every order while others write, the
//! exact `total` after every kind of write (and after a kill -9 mid-write), `q` equal to a
//! brute-force scan, and SQLite's query plans of every list, search and count query.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use articles::db::models::Timestamp;
use articles::db::{ListFilter, Position, Sort, SortKey};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{json, Value};

use common::{spawn_rest, ChildServer, TestApp, BIN};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn scalar(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// What the database file itself says: (rows of `articles`, the kept count, rows of the search
/// index, indexed titles that differ from their article's folded title).
fn bookkeeping(path: &Path) -> (i64, i64, i64, i64) {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
    #[derive(QueryableByName)]
    struct Pair {
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        folded: Option<String>,
    }
    let pairs: Vec<Pair> = diesel::sql_query(
        "SELECT a.title AS title, s.title_folded AS folded
         FROM articles a LEFT JOIN article_search s ON s.rowid = a.id",
    )
    .load(&mut conn)
    .unwrap();
    let wrong = pairs
        .iter()
        .filter(|p| p.folded.as_deref() != Some(p.title.to_lowercase().as_str()))
        .count() as i64;
    (
        scalar(&mut conn, "SELECT count(*) AS n FROM articles"),
        scalar(
            &mut conn,
            "SELECT articles AS n FROM article_stats WHERE only_row = 1",
        ),
        scalar(&mut conn, "SELECT count(*) AS n FROM article_search"),
        wrong,
    )
}

fn assert_bookkeeping(path: &Path, expected: i64) {
    assert_eq!(
        bookkeeping(path),
        (expected, expected, expected, 0),
        "(rows, kept count, indexed titles, indexed titles that differ)"
    );
}

/// [`bookkeeping`] of the database `app` runs on, SQLite's file or its PostgreSQL database (where
/// the search index is the `title_folded` column).
fn app_bookkeeping(app: &TestApp) -> (i64, i64, i64, i64) {
    let Some(database) = &app.postgres else {
        return bookkeeping(&app.db_path);
    };
    let mut conn = database.connect();
    #[derive(QueryableByName)]
    struct Pair {
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = Text)]
        folded: String,
    }
    let pairs: Vec<Pair> = diesel::sql_query("SELECT title, title_folded AS folded FROM articles")
        .load(&mut conn)
        .unwrap();
    let wrong = pairs
        .iter()
        .filter(|p| p.folded != p.title.to_lowercase())
        .count() as i64;
    let kept = diesel::sql_query("SELECT articles AS n FROM article_stats WHERE only_row = 1")
        .get_result::<N>(&mut conn)
        .unwrap()
        .n;
    let rows = pairs.len() as i64;
    (rows, kept, rows, wrong)
}

fn assert_app_bookkeeping(app: &TestApp, expected: i64) {
    assert_eq!(
        app_bookkeeping(app),
        (expected, expected, expected, 0),
        "(rows, kept count, indexed titles, indexed titles that differ)"
    );
}

/// `total` as the API reports it on a page that does not hold every row (so it is not the
/// page's own length).
async fn api_total(app: &TestApp) -> i64 {
    let reply = app.get("/articles?limit=1&sort=-id").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["total"].as_i64().unwrap()
}

fn ts(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The sort key of an article as JSON gives it, for checking the order.
fn key(article: &Value, sort: Sort) -> (String, i64) {
    let id = article["id"].as_i64().unwrap();
    let at = match sort.key {
        SortKey::Id => String::new(),
        SortKey::CreatedAt => article["created_at"].as_str().unwrap().to_owned(),
        SortKey::UpdatedAt => article["updated_at"].as_str().unwrap().to_owned(),
    };
    (at, id)
}

/// Walking every order through `next`, with inserts, updates and deletes by another client
/// between pages, returns each row present throughout exactly once and in order (in the
/// updated_at orders: each such row the walk did not see updated; see the OpenAPI text).
#[actix_rt::test]
async fn every_order_pages_by_cursor_past_concurrent_writes() {
    let app = spawn_rest().await;
    // 40 rows with many equal timestamps (ties are broken by id), ids not in creation order.
    let upsert: Vec<Value> = (1..=40)
        .map(|i| {
            let id = (i * 37) % 101 + 1;
            json!({"id": id, "title": format!("row {id}"), "content": "c",
                   "created_at": ts(i / 4), "updated_at": ts(100 - i / 3)})
        })
        .collect();
    let reply = app.post("/articles/bulk", &json!({"upsert": upsert})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    for sort in Sort::ALL {
        let first = app.get("/articles?limit=1000").await;
        let initial: Vec<i64> = first.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        let mut seen: Vec<Value> = Vec::new();
        let mut deleted = Vec::new();
        let mut updated = Vec::new();
        let mut link = Some(format!("/articles?limit=3&sort={}", sort.name()));
        let mut round = 0;
        while let Some(path) = link {
            let page = app.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.text);
            let data = page.body["data"].as_array().unwrap().clone();
            assert_eq!(page.body["count"].as_u64().unwrap() as usize, data.len());
            seen.extend(data);
            link = page.body["next"].as_str().map(str::to_owned);
            // Another client writes between pages: a new row, an edit, a delete.
            round += 1;
            app.create_article(&format!("new {round}"), "x").await;
            let victim = initial[(round * 7) % initial.len()];
            if !deleted.contains(&victim)
                && app.delete(&format!("/articles/{victim}")).await.status == 200
            {
                deleted.push(victim);
            }
            let edited = initial[(round * 11 + 3) % initial.len()];
            if !deleted.contains(&edited) {
                let reply = app
                    .put(
                        &format!("/articles/{edited}"),
                        &json!({"title": format!("edited {round}")}),
                    )
                    .await;
                assert_eq!(reply.status, 200, "{}", reply.text);
                updated.push(edited);
            }
        }
        // In order, strictly (no row twice in one place).
        let keys: Vec<(String, i64)> = seen.iter().map(|a| key(a, sort)).collect();
        for pair in keys.windows(2) {
            let ordered = if sort.descending {
                pair[0] > pair[1]
            } else {
                pair[0] < pair[1]
            };
            if sort.key != SortKey::UpdatedAt {
                assert!(ordered, "{}: {:?} then {:?}", sort.name(), pair[0], pair[1]);
            }
        }
        let mut times_seen: HashMap<i64, usize> = HashMap::new();
        for article in &seen {
            *times_seen
                .entry(article["id"].as_i64().unwrap())
                .or_default() += 1;
        }
        for id in &initial {
            if deleted.contains(id) {
                continue;
            }
            let moved = sort.key == SortKey::UpdatedAt && updated.contains(id);
            let times = times_seen.get(id).copied().unwrap_or(0);
            if !moved {
                assert_eq!(times, 1, "{}: row {id} seen {times} times", sort.name());
            } else if !sort.descending {
                // Ascending updated_at: an edit moves the row forward; it is never missed.
                assert!(times >= 1, "{}: edited row {id} missed", sort.name());
            }
        }
        // Start the next order from the rows as they are now.
        let reply = app.get("/articles?limit=1000").await;
        let now: Vec<Value> = reply.body["data"].as_array().unwrap().clone();
        let delete: Vec<i64> = now
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .filter(|id| *id > 101)
            .collect();
        let reply = app.post("/articles/bulk", &json!({"delete": delete})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let reply = app.post("/articles/bulk", &json!({"upsert": upsert})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_app_bookkeeping(&app, 40);
}

/// `offset` still pages as before, its `next` link is a cursor that continues at the same
/// place, and `sort=-created_at` lists newest first.
#[actix_rt::test]
async fn offset_pages_continue_by_cursor() {
    let app = spawn_rest().await;
    for i in 0..12 {
        app.create_article(&format!("a{i}"), "x").await;
    }
    let all = app.get("/articles?limit=1000&sort=-created_at").await;
    let all: Vec<i64> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let mut expected = all.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        all, expected,
        "created one after another: newest first is highest id first"
    );

    let page = app.get("/articles?limit=4&offset=4&sort=-created_at").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["offset"], 4);
    assert_eq!(page.body["total"], 12);
    let ids: Vec<i64> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, all[4..8]);
    let next = page.body["next"].as_str().unwrap();
    assert!(
        next.contains("cursor=") && !next.contains("offset="),
        "{next}"
    );
    let after = app.get(next).await;
    assert_eq!(after.body["total"], 12);
    let ids: Vec<i64> = after.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, all[8..12]);
    assert_eq!(after.body["next"], Value::Null);
}

/// A cursor that is not one the API gave out, or one of another order, or a bad `sort`, is a 400
/// in the JSON error envelope naming the parameter.
#[actix_rt::test]
async fn bad_cursors_and_sorts_are_400s() {
    let app = spawn_rest().await;
    for _ in 0..3 {
        app.create_article("t", "x").await;
    }
    let page = app.get("/articles?limit=1&sort=created_at").await;
    let next = page.body["next"].as_str().unwrap().to_owned();
    let cursor = next.split("cursor=").nth(1).unwrap().to_owned();
    for path in [
        "/articles?cursor=%%%".to_owned(),
        "/articles?cursor=AAAA".to_owned(),
        "/articles?cursor=".to_owned(),
        format!("/articles?cursor={cursor}"),
        format!("/articles?sort=-created_at&cursor={cursor}"),
        format!("/articles?sort=created_at&cursor={cursor}x"),
        "/articles?sort=title".to_owned(),
        "/articles?sort=".to_owned(),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        assert_eq!(reply.body["success"], false, "{path}");
        let field = if path.contains("cursor=") {
            "cursor"
        } else {
            "sort"
        };
        assert!(
            reply.body["details"][field].as_str().is_some(),
            "{path}: {}",
            reply.text
        );
    }
    let ok = app.get(&next).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// Titles that make case-insensitive substring search hard.
const TRICKY_TITLES: &[&str] = &[
    "Café au lait",
    "CAFÉ AU LAIT",
    "cafe au lait",
    "Straße und STRASSE",
    "İstanbul'da bir gün",
    "ISTANBUL",
    "ıstanbul",
    "ΟΔΟΣ and οδός",
    "Σίσυφος",
    "ǅemal ǈubljana ǋinja",
    "Kelvin \u{212A} sign",
    "ﬁnal ﬂow",
    "Ⅻ roman ⅻ",
    "100% pure_water",
    "under_score and per%cent",
    "He said \"quoted\" 'single'",
    "a",
    "ab",
    "AB",
    "日本語のタイトル",
    "emoji 😀 title",
    "MiXeD CaSe TiTlE",
    "e\u{301}cole (decomposed)",
    "école (composed)",
    "   spaced   out  ",
];

const TRICKY_QUERIES: &[&str] = &[
    "a",
    "A",
    "é",
    "É",
    "e",
    "ß",
    "SS",
    "ss",
    "straße",
    "STRASSE",
    "i",
    "İ",
    "İs",
    "i̇s",
    "ı",
    "I",
    "istanbul",
    "ISTANBUL",
    "σ",
    "Σ",
    "ς",
    "οδος",
    "ΟΔΟΣ",
    "όδός",
    "σίσυ",
    "ǆ",
    "ǅ",
    "ǆemal",
    "k",
    "K",
    "\u{212A}",
    "kelvin k",
    "fi",
    "ﬁ",
    "ﬁnal",
    "final",
    "ⅻ",
    "Ⅻ",
    "%",
    "_",
    "%_",
    "100%",
    "r_w",
    "per%c",
    "\"",
    "\"quoted\"",
    "'",
    "'single'",
    "\"\"",
    "ab",
    "AB",
    "b",
    "日本",
    "日本語",
    "😀",
    "😀 t",
    "cafe",
    "café",
    "CAFÉ",
    "au lait",
    "é au",
    "e\u{301}",
    "e\u{301}c",
    "  ",
    "   s",
    "e title",
    "xyz",
    "zzzz",
    "*",
    "a*",
    "NEAR",
    "title OR",
    "AND",
    "-",
    "^a",
    "\u{0}",
    "\u{1}",
];

/// `q` returns exactly the rows a brute-force scan of the same titles returns (Rust's
/// `to_lowercase`, today's documented semantics), with the right `total`, for accents, case
/// beyond ASCII, 1 and 2 characters, `%`, `_` and quotes, in id order and newest first.
#[actix_rt::test]
async fn search_equals_a_brute_force_scan() {
    let app = spawn_rest().await;
    let upsert: Vec<Value> = TRICKY_TITLES
        .iter()
        .enumerate()
        .map(|(i, title)| json!({"id": i + 1, "title": title, "content": "x"}))
        .collect();
    let reply = app.post("/articles/bulk", &json!({"upsert": upsert})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Edits go through the index too.
    let reply = app
        .put("/articles/3", &json!({"title": "CAFE au Lait (edited)"}))
        .await;
    assert_eq!(reply.status, 200);
    let titles: BTreeMap<i64, String> = {
        let all = app.get("/articles?limit=1000").await;
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_i64().unwrap(),
                    a["title"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    for q in TRICKY_QUERIES {
        let expected: Vec<i64> = titles
            .iter()
            .filter(|(_, title)| title.to_lowercase().contains(&q.to_lowercase()))
            .map(|(id, _)| *id)
            .collect();
        let encoded = serde_urlencoded::to_string([("q", q)]).unwrap();
        let reply = app.get(&format!("/articles?limit=1000&{encoded}")).await;
        assert_eq!(reply.status, 200, "q={q:?}: {}", reply.text);
        let found: Vec<i64> = reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(found, expected, "q={q:?}");
        assert_eq!(reply.body["total"], expected.len(), "q={q:?}");
        // One row per page, newest first, through the cursors: the same rows, and the same total.
        let mut link = Some(format!("/articles?limit=1&sort=-id&{encoded}"));
        let mut paged = Vec::new();
        while let Some(path) = link {
            let page = app.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.text);
            assert_eq!(page.body["total"], expected.len(), "q={q:?} {path}");
            paged.extend(
                page.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["id"].as_i64().unwrap()),
            );
            link = page.body["next"].as_str().map(str::to_owned);
        }
        paged.reverse();
        assert_eq!(paged, expected, "q={q:?} paged");
    }
    assert_app_bookkeeping(&app, TRICKY_TITLES.len() as i64);
}

/// `total` (and /health's and /metrics' count, and the search index) are exact after creates, deletes, bulk
/// upserts over new and existing ids, bulk deletes, and `articles sync` into the file.
#[actix_rt::test]
async fn total_is_exact_after_every_kind_of_write() {
    let app = spawn_rest().await;
    for i in 0..5 {
        app.create_article(&format!("t{i}"), "x").await;
    }
    assert_eq!(api_total(&app).await, 5);
    assert_eq!(app.delete("/articles/2").await.status, 200);
    assert_eq!(app.delete("/articles/2").await.status, 404);
    assert_eq!(api_total(&app).await, 4);
    // Upserts over existing ids (1, 3) and new ones (10, 11), then deletes of present and absent.
    let upsert: Vec<Value> = [1, 3, 10, 11]
        .iter()
        .map(|id| json!({"id": id, "title": format!("Bulk {id}"), "content": "y"}))
        .collect();
    let reply = app.post("/articles/bulk", &json!({"upsert": upsert})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(api_total(&app).await, 6);
    let reply = app
        .post("/articles/bulk", &json!({"delete": [3, 99, 10]}))
        .await;
    assert_eq!(reply.body["data"]["deleted"], 2, "{}", reply.text);
    assert_eq!(api_total(&app).await, 4);
    let health = app.get("/health").await;
    assert_eq!(health.body["articles"], 4);
    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .text
            .lines()
            .any(|line| line == "articles_articles 4"),
        "{}",
        metrics.text
    );
    assert_eq!(app.get("/articles?q=bulk").await.body["total"], 2);
    assert_app_bookkeeping(&app, 4);
    app.stop().await;

    // `articles sync` writing a database directly: first load, then changes and deletes.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let mut source = SqliteConnection::establish(&a.to_string_lossy()).unwrap();
    source
        .batch_execute(
            "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT,
                                    created_at TEXT, updated_at TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO articles SELECT i, 'Title ' || i, 'c', '2024-01-01 00:00:00',
                 '2024-01-01 00:00:00' FROM n;",
        )
        .unwrap();
    let sync = |extra: &[&str]| {
        let output = Command::new(BIN)
            .args([
                "sync",
                "--from",
                &a.to_string_lossy(),
                "--to",
                &b.to_string_lossy(),
                "--batch-size",
                "64",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    sync(&[]);
    assert_bookkeeping(&b, 300);
    source
        .batch_execute(
            "DELETE FROM articles WHERE id % 3 = 0;
             UPDATE articles SET title = 'Changed ' || id WHERE id % 5 = 0;
             INSERT INTO articles SELECT id + 1000, 'More', 'c', created_at, updated_at
                 FROM articles WHERE id <= 20;",
        )
        .unwrap();
    let expected = scalar(&mut source, "SELECT count(*) AS n FROM articles");
    sync(&[]);
    assert_bookkeeping(&b, expected);
    sync(&["--rescan"]);
    assert_bookkeeping(&b, expected);
    // Someone else writes the file behind our back; `sync --rescan` (as for any foreign write)
    // rebuilds the count and the index with the rows.
    let mut other = SqliteConnection::establish(&b.to_string_lossy()).unwrap();
    other
        .batch_execute(
            "DELETE FROM articles WHERE id IN (1, 2);
             INSERT INTO articles VALUES (5000, 'Foreign', 'c', '2024-01-01 00:00:00',
                                          '2024-01-01 00:00:00');",
        )
        .unwrap();
    sync(&["--rescan"]);
    assert_bookkeeping(&b, expected);
}

/// A database from before the kept count and the search index gets both when it is opened:
/// the migration counts its rows and indexes its titles.
#[actix_rt::test]
async fn an_existing_database_migrates_with_its_count_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut conn = articles::db::connect(&path).unwrap();
    // The file as the previous release left it: no count, no index, no created_at index.
    conn.batch_execute(
        "DROP TABLE article_search; DROP TABLE article_stats; DROP INDEX articles_created_at;
         DELETE FROM __diesel_schema_migrations WHERE version LIKE '20261207%';
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
         INSERT INTO articles SELECT i, 'Ünïcode title ' || i, 'c', '2024-01-01 00:00:00',
             '2024-01-01 00:00:00' FROM n;",
    )
    .unwrap();
    drop(conn);
    let app = common::spawn_rest_on(dir, path.clone(), |_| {}).await;
    assert_eq!(api_total(&app).await, 150);
    let found = app
        .get("/articles?q=%C3%9CN%C3%8FCODE%20TITLE%2014&limit=1")
        .await;
    assert_eq!(found.body["total"], 11, "{}", found.text);
    assert_bookkeeping(&path, 150);
}

/// A server killed with SIGKILL in the middle of bulk writes leaves the kept count and the search
/// index exactly in step with the rows that were committed.
#[test]
fn total_is_exact_after_kill_9_mid_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let server = ChildServer::start(
        &[
            "serve-rest",
            "--database",
            &db.to_string_lossy(),
            "--bind",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let url = format!("{}/articles/bulk", server.address);
    // Clients sending bulk requests of 2000 new and replaced rows each, as fast as they can.
    let senders: Vec<_> = (0..2)
        .map(|client| {
            let url = url.clone();
            std::thread::spawn(move || {
                for round in 0..1000i64 {
                    let first = (round * 2 + client) * 1500;
                    let upsert: Vec<Value> = (first..first + 2000)
                        .map(|id| json!({"id": id + 1, "title": format!("K {id}"), "content": "z".repeat(300)}))
                        .collect();
                    let body = json!({"upsert": upsert}).to_string();
                    let sent = Command::new("curl")
                        .args(["-sf", "-o", "/dev/null", "-H", "content-type: application/json", "--data-binary", "@-", &url])
                        .stdin(std::process::Stdio::piped())
                        .spawn()
                        .and_then(|mut curl| {
                            use std::io::Write;
                            curl.stdin.take().unwrap().write_all(body.as_bytes())?;
                            curl.wait()
                        });
                    if !matches!(sent, Ok(status) if status.success()) {
                        return round;
                    }
                }
                1000
            })
        })
        .collect();
    // Once rows are arriving, kill the server mid-stream.
    common::wait_for(Duration::from_secs(60), "8000 rows written", || {
        let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
        scalar(&mut conn, "SELECT count(*) AS n FROM articles") >= 8000
    });
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let rounds: Vec<i64> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert!(
        rounds.iter().all(|r| *r < 1000),
        "the server died mid-stream: {rounds:?}"
    );
    drop(server);
    let (rows, kept, indexed, wrong) = bookkeeping(&db);
    assert!(rows > 0);
    assert_eq!((kept, indexed, wrong), (rows, rows, 0), "rows {rows}");
}

/// Every list, search and count query, in every order, first page, by cursor and by offset,
/// with and without `q` (short and long) and `updated_since`: none scans the articles table
/// (a rowid walk in the page's own order, bounded by LIMIT, is the one scan allowed: the
/// unfiltered first pages in id order).
#[test]
fn no_list_query_scans_the_articles_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let mut conn = articles::db::connect(&path).unwrap();
    #[derive(QueryableByName, Debug)]
    struct Plan {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let at = Timestamp::now();
    let mut checked = 0;
    for sort in Sort::ALL {
        for q in [None, Some("ab"), Some("article 99999")] {
            for since in [None, Some(at)] {
                for (after, offset) in [(false, 0), (true, 0), (false, 40)] {
                    let filter = ListFilter {
                        limit: 20,
                        offset,
                        title_contains: q.map(str::to_owned),
                        updated_since: since,
                        sort,
                        after: after.then_some(Position {
                            sort,
                            at: (sort.key != SortKey::Id).then_some(at.naive()),
                            id: 5,
                        }),
                    };
                    for (sql, _) in articles::db::sqlite::articles::list_sql(&filter) {
                        let plan: Vec<Plan> =
                            diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                                .load(&mut conn)
                                .unwrap();
                        let details: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
                        let unfiltered_id_walk = q.is_none()
                            && since.is_none()
                            && sort.key == SortKey::Id
                            && details == ["SCAN a"];
                        for detail in &details {
                            let scans_articles = detail.starts_with("SCAN a")
                                && !detail.starts_with("SCAN a USING INDEX")
                                && !detail.starts_with("SCAN a USING COVERING INDEX")
                                || detail.starts_with("SCAN articles");
                            assert!(
                                !scans_articles || unfiltered_id_walk,
                                "{filter:?}\n{sql}\n{details:#?}"
                            );
                        }
                        // An index walk in the page's order must not be re-sorted, except
                        // where the documented cost says so (a filter drives the rows).
                        if q.is_none() && (since.is_none() || sort.key == SortKey::UpdatedAt) {
                            assert!(
                                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                                "{filter:?}\n{sql}\n{details:#?}"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

/// Creates, edits, deletes and bulk writes sent all at once (so the writer commits many of them
/// in one group commit, some touching the same ids) leave the kept count and the search index
/// exactly in step with the rows.
#[actix_rt::test]
async fn concurrent_writes_in_one_group_commit_keep_the_bookkeeping() {
    let app = spawn_rest().await;
    let seed: Vec<Value> = (1..=100)
        .map(|id| json!({"id": id, "title": format!("Seed {id}"), "content": "c"}))
        .collect();
    assert_eq!(
        app.post("/articles/bulk", &json!({"upsert": seed}))
            .await
            .status,
        200
    );
    let mut requests = Vec::new();
    for i in 0..60i64 {
        let app = &app;
        requests.push(Box::pin(async move {
            match i % 6 {
                0 => app.post("/articles", &json!({"title": format!("New {i}"), "content": "x"})).await,
                1 => app.put(&format!("/articles/{}", i + 1), &json!({"title": format!("Édité {i}")})).await,
                2 => app.delete(&format!("/articles/{}", i + 1)).await,
                3 => app.delete(&format!("/articles/{}", 101 + i % 12)).await,
                4 => {
                    let body = json!({"upsert": [{"id": 101 + i % 12, "title": format!("Bulk {i}"), "content": "b"}],
                                      "delete": [i + 2]});
                    app.post("/articles/bulk", &body).await
                }
                _ => app.put(&format!("/articles/{}", 101 + i % 12), &json!({"title": format!("Later {i}")})).await,
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = common::Reply>>>);
    }
    for reply in futures_util::future::join_all(requests).await {
        assert!(matches!(reply.status, 200 | 201 | 404), "{}", reply.text);
    }
    let (rows, ..) = app_bookkeeping(&app);
    assert_app_bookkeeping(&app, rows);
    assert_eq!(api_total(&app).await, rows);
}
