//! One definition of a valid article, the same in the code and in the database, and database
//! refusals answered as the client's error (400 naming the field), never as an outage.
mod common;

use std::process::Command;
use std::time::Duration;

use articles::db::models::{Content, Title};
use common::{send, spawn_rest, ChildServer, Reply, TestApp, BIN};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

fn assert_field_error(reply: &Reply, field: &str, needle: &str) {
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["success"], false, "{}", reply.text);
    let problem = reply.body["details"][field]
        .as_str()
        .unwrap_or_else(|| panic!("details.{field} missing: {}", reply.text));
    assert!(
        problem.contains(needle),
        "{problem:?} should say {needle:?}"
    );
}

/// Finding 1: a title that begins with (or holds) NUL, or any control character, is refused with
/// 400 naming `title` on create, update and bulk; content holding NUL is refused naming
/// `content`. Nothing is stored, and no 5xx is counted.
#[actix_web::test]
async fn nul_and_control_characters_are_refused_on_every_write_path() {
    let app = spawn_rest().await;
    let existing = app.create_article("kept", "as it was").await;
    let id = existing["id"].as_i64().unwrap();
    for title in [
        "\u{0}leading NUL",
        "inner\u{0}NUL",
        "tab\there",
        "line\nbreak",
        "\u{85}",
    ] {
        let create = app
            .post("/articles", &json!({"title": title, "content": "c"}))
            .await;
        assert_field_error(&create, "title", "control characters");
        let update = app
            .put(&format!("/articles/{id}"), &json!({"title": title}))
            .await;
        assert_field_error(&update, "title", "control characters");
        let bulk = app
            .post(
                "/articles/bulk",
                &json!({"upsert": [{"id": 50, "title": title, "content": "c"}]}),
            )
            .await;
        assert_eq!(bulk.status, 400, "{}", bulk.text);
        assert!(bulk.text.contains("upsert[0].title"), "{}", bulk.text);
    }
    let nul_content = json!({"title": "t", "content": "a\u{0}b"});
    assert_field_error(&app.post("/articles", &nul_content).await, "content", "NUL");
    assert_field_error(
        &app.put(&format!("/articles/{id}"), &json!({"content": "\u{0}"}))
            .await,
        "content",
        "NUL",
    );
    let bulk = app
        .post(
            "/articles/bulk",
            &json!({"upsert": [{"id": 50, "title": "t", "content": "\u{0}"}]}),
        )
        .await;
    assert_eq!(bulk.status, 400, "{}", bulk.text);
    assert!(bulk.text.contains("upsert[0].content"), "{}", bulk.text);
    // Control characters other than NUL are fine in content, stored exactly.
    let kept = "tab\tline\nescape\u{1b}[0m";
    let created = app.create_article("ok", kept).await;
    assert_eq!(created["content"], kept);

    let list = app.get("/articles").await;
    assert_eq!(list.body["total"], 2, "{}", list.text);
    assert_eq!(
        app.get(&format!("/articles/{id}")).await.body["data"],
        existing
    );
    assert_no_server_errors(&app).await;
}

/// A refusal that only the database knows (here rules the operator added to the file, with
/// messages in the documented `articles.<column> …` / `articles: …` form) is the client's
/// error: 400 naming the field the rule is about, or `article`; never 5xx.
#[actix_web::test]
async fn a_rule_only_the_database_knows_is_a_400_not_an_outage() {
    let app = spawn_rest().await;
    app.create_article("first", "x").await;
    let mut conn = SqliteConnection::establish(&app.db_path.to_string_lossy()).unwrap();
    conn.batch_execute(
        "CREATE TRIGGER house_rule BEFORE INSERT ON articles WHEN NEW.title = 'reserved' \
         BEGIN SELECT RAISE(ABORT, 'articles.title is reserved by the house rules'); END; \
         CREATE TRIGGER no_spam BEFORE INSERT ON articles WHEN NEW.content = 'spam' \
         BEGIN SELECT RAISE(ABORT, 'articles: no spam here'); END;",
    )
    .unwrap();
    let reserved = app
        .post("/articles", &json!({"title": "reserved", "content": "x"}))
        .await;
    assert_field_error(&reserved, "title", "reserved by the house rules");
    let spam = app
        .post("/articles", &json!({"title": "t", "content": "spam"}))
        .await;
    assert_field_error(&spam, "article", "no spam here");
    let bulk = app
        .post(
            "/articles/bulk",
            &json!({"upsert": [{"id": 9, "title": "reserved", "content": "x"}]}),
        )
        .await;
    assert_field_error(&bulk, "title", "reserved");
    // The writer goes on: other writes in the same moment commit.
    assert_eq!(app.create_article("allowed", "x").await["title"], "allowed");
    assert_eq!(app.get("/articles").await.body["total"], 2);
    assert_no_server_errors(&app).await;
}

async fn assert_no_server_errors(app: &TestApp) {
    let metrics = app.get("/metrics").await.text;
    let errors: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("articles_http_requests_total") && l.contains("status=\"5"))
        .collect();
    assert!(errors.is_empty(), "5xx answered: {errors:?}");
}

/// The database's rules are the code's rules: for every character up to U+3100 (and a few
/// beyond), alone and inside a title and content, SQLite accepts exactly what `Title::parse` and
/// `Content::parse` accept.
#[test]
fn database_and_code_agree_on_every_character() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = articles::db::connect(&dir.path().join("rules.db")).unwrap();
    let mut candidates: Vec<String> = (0u32..0x3100)
        .chain([0xfeff, 0x1_f600, 0x10_ffff])
        .filter_map(char::from_u32)
        .flat_map(|c| [c.to_string(), format!("a{c}b"), format!("{c}{c} ")])
        .collect();
    candidates.extend(["é".repeat(200), "é".repeat(201), String::new()]);
    let mut id = 0i64;
    let mut disagreements = Vec::new();
    for text in &candidates {
        for (column, code_accepts) in [
            ("title", Title::parse(text.clone()).is_ok()),
            ("content", Content::parse(text.clone()).is_ok()),
        ] {
            id += 1;
            let (title, content) = if column == "title" {
                (text.as_str(), "c")
            } else {
                ("t", text.as_str())
            };
            let stored = diesel::sql_query(
                "INSERT INTO articles (id, title, content, created_at, updated_at) \
                 VALUES (?, ?, ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            )
            .bind::<diesel::sql_types::BigInt, _>(id)
            .bind::<diesel::sql_types::Text, _>(title)
            .bind::<diesel::sql_types::Text, _>(content)
            .execute(&mut conn)
            .is_ok();
            if stored != code_accepts {
                disagreements.push(format!(
                    "{column} {text:?}: code {code_accepts}, db {stored}"
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
}

/// With the disk full (a file-size limit on the server process), writes answer 507 or 503 in
/// JSON without internals, reads and the process go on, and writes work again once space
/// returns, without a restart.
#[actix_web::test]
async fn a_full_disk_is_a_clear_error_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("articles.db");
    // SIGXFSZ ignored, so writes past the limit fail as they would on a full disk.
    let script = r#"trap "" XFSZ; ulimit -S -f 2048; exec "$0" "$@""#;
    let server = ChildServer::spawn(
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .args([
                BIN,
                "serve-rest",
                "--database",
                db.to_str().unwrap(),
                "--bind",
                "127.0.0.1:0",
            ])
            .current_dir(dir.path()),
    );
    let client = common::client();
    let url = |path: &str| format!("{}{path}", server.address);
    let content = "x".repeat(256 << 10);
    let mut refused: Option<Reply> = None;
    for i in 0..64 {
        let body = json!({"title": format!("big {i}"), "content": content});
        let reply = send(client.post(url("/articles")), Some(&body)).await;
        if reply.status != 201 {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("a 2 MiB limit refuses 16 MiB of writes");
    assert!(
        refused.status == 507 || refused.status == 503,
        "a full disk is 507 or 503: {refused:?}"
    );
    assert_eq!(refused.body["success"], false, "{}", refused.text);
    let text = refused.text.to_lowercase();
    assert!(
        !text.contains("sqlite") && !text.contains("i/o"),
        "no internals: {text}"
    );
    let read = send(client.get(url("/articles?limit=1")), None).await;
    assert_eq!(read.status, 200, "reads go on");
    let lifted = Command::new("prlimit")
        .args(["--pid", &server.child.id().to_string(), "--fsize=unlimited"])
        .status()
        .expect("prlimit runs");
    assert!(lifted.success());
    let after = json!({"title": "after", "content": "space is back"});
    let mut recovered = false;
    for _ in 0..50 {
        if send(client.post(url("/articles")), Some(&after))
            .await
            .status
            == 201
        {
            recovered = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "writes work again once space returns");
    let status = server.terminate();
    assert!(status.success(), "exit {status:?}");
}

/// A database written before the rules (the API accepted tabs in titles and NUL in content)
/// migrates without failing and without losing a row: the rows that break a rule wait in
/// `articles_set_aside` with the rule they break, the others stay, the server says so at start,
/// and from then on the rules hold.
#[test]
fn rows_from_before_the_rules_are_set_aside_not_lost() {
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut old = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        // The two migrations of the previous release.
        for _ in 0..2 {
            old.run_next_migration(articles::db::sqlite::MIGRATIONS)
                .unwrap();
        }
        for (id, title, content) in [
            (1, "fine", "kept"),
            (2, "tab\there", "c"),
            (3, "ok", "nul\u{0}inside"),
            (4, "also fine", "line\nbreaks\tare fine in content"),
        ] {
            diesel::sql_query(
                "INSERT INTO articles VALUES (?, ?, ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            )
            .bind::<diesel::sql_types::BigInt, _>(id)
            .bind::<diesel::sql_types::Text, _>(title)
            .bind::<diesel::sql_types::Text, _>(content)
            .execute(&mut old)
            .unwrap();
        }
    }
    let (mut server, log) = common::spawn_logged(
        Command::new(BIN)
            .args(["serve-rest", "--database", path.to_str().unwrap()])
            .args(["--bind", "127.0.0.1:0"]),
    );
    // The start-up log, up to the line that says the server listens.
    let mut start_up = Vec::new();
    while let Ok(line) = log.recv_timeout(Duration::from_secs(30)) {
        let listening = line.contains("listening");
        start_up.push(line);
        if listening {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        start_up
            .iter()
            .any(|l| l.contains("articles_set_aside") && l.contains("rows=2")),
        "{start_up:#?}"
    );

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct SetAside {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        content: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        broken_rule: String,
    }
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    let aside: Vec<SetAside> =
        diesel::sql_query("SELECT id, content, broken_rule FROM articles_set_aside ORDER BY id")
            .load(&mut conn)
            .unwrap();
    assert_eq!(
        aside,
        [
            SetAside {
                id: 2,
                content: "c".into(),
                broken_rule: "title has control characters".into()
            },
            SetAside {
                id: 3,
                content: "nul\u{0}inside".into(),
                broken_rule: "content has NUL characters".into()
            },
        ]
    );
    let kept: Vec<i64> = articles::db::sqlite::schema::articles::table
        .select(articles::db::sqlite::schema::articles::id)
        .order(articles::db::sqlite::schema::articles::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(kept, [1, 4]);
    let refused = diesel::sql_query(
        "INSERT INTO articles VALUES (9, 'a' || char(9), 'c', '2026-01-01', '2026-01-01')",
    )
    .execute(&mut conn);
    assert!(refused.is_err(), "the rules hold after the migration");
}
