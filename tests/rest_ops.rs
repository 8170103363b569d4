//! Operating the REST API: concurrency, metrics, health, an unavailable database, restarts,
//! signals and start-up errors.
mod common;

use std::time::Duration;

use common::{spawn_rest, ChildServer, BIN};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::json;

/// 32 clients posting 25 articles each all get 201 and the total grows by exactly 800.
#[actix_web::test]
async fn concurrent_writers_all_succeed() {
    let app = spawn_rest().await;
    let base = app.get("/articles?limit=1").await.body["total"]
        .as_i64()
        .unwrap();
    let clients = (0..32).map(|c| {
        let client = common::client();
        let url = app.url("/articles");
        async move {
            let mut statuses = Vec::new();
            for i in 0..25 {
                let reply = common::send(
                    client.post(&url),
                    Some(&json!({"title": format!("c{c} #{i}"), "content": "x"})),
                )
                .await;
                statuses.push(reply.status);
            }
            statuses
        }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(statuses.len(), 800);
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let after = app.get("/articles?limit=1000").await;
    assert_eq!(after.body["total"].as_i64().unwrap(), base + 800);
    let mut ids: Vec<i64> = after.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 800, "every article got its own id");
}

/// /metrics exports the HTTP families labelled by route template, process metrics, the pool,
/// the article count and build info.
#[actix_web::test]
async fn metrics_families_and_labels() {
    let app = spawn_rest().await;
    app.create_article("t", "c").await;
    app.get("/articles/1").await;
    app.get("/articles/2").await;
    app.get("/articles/abc").await;
    app.get("/no/such/route").await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text;
    for expected in [
        r#"articles_http_requests_total{method="POST",path="/articles",status="201"} 1"#,
        r#"articles_http_requests_total{method="GET",path="/articles/{id}",status="200"} 1"#,
        r#"articles_http_requests_total{method="GET",path="/articles/{id}",status="404"} 2"#,
        r#"articles_http_requests_total{method="GET",path="unmatched",status="404"} 1"#,
        r#"articles_http_request_duration_seconds_bucket{method="GET",path="/articles/{id}",status="200",le="0.0001"}"#,
        r#"articles_http_request_duration_seconds_bucket{method="GET",path="/articles/{id}",status="200",le="10"} 1"#,
        "articles_http_requests_in_flight 1",
        "articles_articles 1",
        "articles_db_pool_connections_in_use",
        r#"articles_build_info{version=""#,
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains("/articles/abc") && !text.contains("/no/such/route"),
        "raw paths never become labels"
    );
}

/// Holds SQLite's write lock from another connection (as a stuck process would) until released.
struct Lock(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>);

fn lock_database(path: &std::path::Path) -> Lock {
    let (release, released) = std::sync::mpsc::channel();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let url = path.to_string_lossy().into_owned();
    let holder = std::thread::spawn(move || {
        let mut conn = diesel::SqliteConnection::establish(&url).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE;")
            .unwrap();
        locked.send(()).unwrap();
        let _ = released.recv();
        conn.batch_execute("ROLLBACK;").unwrap();
    });
    is_locked.recv().unwrap();
    Lock(release, holder)
}

/// While another process holds the write lock past the busy timeout, writes and /health answer
/// 503 in JSON (reads go on from the WAL); once it lets go, everything works without a restart.
#[actix_web::test]
async fn unavailable_database_gives_503_then_recovers() {
    let app = spawn_rest().await;
    app.create_article("before", "x").await;
    let lock = lock_database(&app.db_path);
    let during = json!({"title": "during", "content": "x"});
    let (health, read, write) = tokio::join!(
        app.get("/health"),
        app.get("/articles"),
        app.post("/articles", &during),
    );
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.body["status"], "unhealthy");
    assert_eq!(read.status, 200, "reads are served from the WAL meanwhile");
    assert_eq!(write.status, 503, "{}", write.text);
    assert_eq!(write.body["success"], false);
    assert_eq!(write.header("retry-after").as_deref(), Some("1"));
    assert!(
        !write.text.to_lowercase().contains("sqlite") && !write.text.contains("locked"),
        "no internals leak: {}",
        write.text
    );
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(
            r#"articles_http_request_exceptions_total{method="POST",path="/articles"} 1"#
        ),
        "{metrics}"
    );
    drop(lock.0);
    lock.1.join().unwrap();
    let health = app.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "healthy");
    assert_eq!(
        app.post("/articles", &json!({"title": "after", "content": "x"}))
            .await
            .status,
        201
    );
    assert_eq!(
        app.get("/articles").await.body["total"],
        2,
        "the refused write left nothing behind"
    );
}

/// Data written survives a restart of the real binary; SIGTERM stops it with exit status 0.
#[test]
fn data_survives_restart_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("articles.db");
    let db_arg = db.to_str().unwrap();
    let run = |f: &dyn Fn(&str)| {
        let server = ChildServer::start(
            &["serve-rest", "--database", db_arg, "--bind", "127.0.0.1:0"],
            dir.path(),
        );
        f(&server.address);
        let status = server.terminate();
        assert!(status.success(), "exit status {status:?}");
    };
    run(&|address| {
        let status = curl(&[
            "-X",
            "POST",
            &format!("{address}/articles"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"title":"persisted","content":"yes"}"#,
        ]);
        assert!(status.contains("\"id\":1"), "{status}");
    });
    run(&|address| {
        let body = curl(&[&format!("{address}/articles/1")]);
        assert!(body.contains("\"title\":\"persisted\""), "{body}");
    });
}

fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .arg("-s")
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8(out.stdout).unwrap()
}

/// SIGTERM lets an in-flight request finish before the process exits 0.
#[test]
fn sigterm_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(
        &["serve-rest", "--database", "a.db", "--bind", "127.0.0.1:0"],
        dir.path(),
    );
    let url = format!("{}/articles", server.address);
    // A 2 MiB bulk body sent slowly (in a few chunks) is in flight when SIGTERM arrives.
    let rows: Vec<_> = (1..=2000)
        .map(|id| json!({"id": id, "title": "t", "content": "x".repeat(900)}))
        .collect();
    let body = serde_json::to_vec(&json!({"upsert": rows})).unwrap();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches("/articles")
            .to_owned();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(stream, "POST /articles/bulk HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
        for chunk in body.chunks(body.len() / 4 + 1) {
            stream.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    });
    std::thread::sleep(Duration::from_millis(400));
    let status = server.terminate();
    let answer = sender.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"inserted\":2000"), "{answer}");
    assert!(status.success(), "{status:?}");
}

/// The start-up log says when writes are open, and bad settings fail with one clear line.
#[test]
fn startup_messages_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(
        &["serve-rest", "--database", "a.db", "--bind", "127.0.0.1:0"],
        dir.path(),
    );
    let _ = server.terminate();

    let fail = |args: &[&str], needle: &str| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    fail(
        &["serve-rest", "--bind", "not-an-address"],
        "cannot listen on not-an-address",
    );
    fail(
        &[
            "serve-rest",
            "--database",
            "/nonexistent-dir/x/a.db",
            "--bind",
            "127.0.0.1:0",
        ],
        "cannot open database",
    );
    std::fs::write(dir.path().join("junk.db"), vec![b'x'; 4096]).unwrap();
    fail(
        &[
            "serve-rest",
            "--database",
            "junk.db",
            "--bind",
            "127.0.0.1:0",
        ],
        "junk.db",
    );
    fail(&["serve-rest", "--body-limit", "lots"], "size");
    fail(&["serve-rest", "--idempotency-ttl", "48h"], "at most 24h");
}

/// The binary warns at start-up when no token protects writes, and only then.
#[test]
fn startup_log_says_writes_are_open() {
    let dir = tempfile::tempdir().unwrap();
    let startup_log = |extra: &[&str]| {
        let out = std::process::Command::new("timeout")
            .args(["2", BIN, "serve-rest", "--bind", "127.0.0.1:0"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let open = startup_log(&["--database", "b.db"]);
    assert!(open.contains("writes are open"), "{open}");
    let protected = startup_log(&["--database", "c.db", "--api-token", "t"]);
    assert!(
        protected.contains("REST API listening") && !protected.contains("writes are open"),
        "{protected}"
    );
}

/// Under a steady stream of writes the WAL file stays bounded (checkpoints catch up), instead of
/// growing with everything written.
#[actix_web::test]
async fn wal_stays_bounded_under_steady_writes() {
    let app = spawn_rest().await;
    let content = "w".repeat(2000);
    for batch in 0..40 {
        let rows: Vec<_> = (0..1000)
            .map(|i| json!({"id": batch * 1000 + i + 1, "title": "t", "content": content}))
            .collect();
        let reply = app.post("/articles/bulk", &json!({"upsert": rows})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let wal = app.db_path.with_extension("db-wal");
    let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        wal_bytes < 48 << 20,
        "WAL is {} MiB after writing ~80 MiB",
        wal_bytes >> 20
    );
    assert_eq!(app.get("/articles?limit=1").await.body["total"], 40_000);
}

/// The page size a database file has (PRAGMA page_size).
fn page_size(path: &std::path::Path) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct PageSize {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        page_size: i64,
    }
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    diesel::RunQueryDsl::get_result::<PageSize>(diesel::sql_query("PRAGMA page_size"), &mut conn)
        .unwrap()
        .page_size
}

/// A database the API creates has 16 KiB pages (articles of ~1 KB write half the WAL frames they
/// did with 4 KiB); a file that exists keeps its own page size and is served as before.
#[actix_web::test]
async fn new_databases_get_16k_pages_and_existing_ones_keep_theirs() {
    let app = spawn_rest().await;
    let reply = app
        .post("/articles", &json!({"title": "paged", "content": "x"}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(page_size(&app.db_path), 16384);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        conn.batch_execute("PRAGMA page_size = 4096; CREATE TABLE made_elsewhere (x INTEGER);")
            .unwrap();
    }
    let old = common::spawn_rest_on(dir, path.clone(), |_| {}).await;
    let reply = old
        .post("/articles", &json!({"title": "old file", "content": "x"}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(old.get("/articles?q=old").await.body["total"], 1);
    assert_eq!(page_size(&path), 4096);
}
