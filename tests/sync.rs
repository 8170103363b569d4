//! `articles sync` and `articles verify` through the real binary (exit codes, messages, files),
//! the REST API destination against the in-process server, and the step API driven directly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use articles::db::sqlite::sync_state::{RawArticle, SourceDb};
use articles::sync::{Destination, SyncOptions, SyncPass};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use tempfile::TempDir;

use common::BIN;

/// A source row: id, title, content, created_at, updated_at (stored as given).
type Row<'a> = (i64, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// A source database shaped like the original app's (timestamps as text, no constraints).
fn create_source(path: &Path, rows: &[Row]) {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(
        "CREATE TABLE articles (id INTEGER PRIMARY KEY, title VARCHAR(200), content TEXT,
         created_at DATETIME, updated_at DATETIME)",
    )
    .unwrap();
    for row in rows {
        upsert_source(&mut conn, *row);
    }
}

fn open(path: &Path) -> SqliteConnection {
    SqliteConnection::establish(&path.to_string_lossy()).unwrap()
}

fn upsert_source(conn: &mut SqliteConnection, (id, title, content, created, updated): Row) {
    diesel::sql_query("INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?)")
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(title)
        .bind::<Text, _>(content)
        .bind::<Nullable<Text>, _>(created)
        .bind::<Nullable<Text>, _>(updated)
        .execute(conn)
        .unwrap();
}

/// `n` rows with ids 1..=n and `size` bytes of content each, in one statement.
fn create_large_source(path: &Path, n: i64, size: usize) {
    let mut conn = open(path);
    conn.batch_execute(&format!(
        "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT,
                                created_at TEXT, updated_at TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO articles SELECT i, 'title ' || i, substr(hex(randomblob({half})), 1, {size}),
             '2024-01-01 00:00:00', datetime(1700000000 + i, 'unixepoch') FROM n;",
        half = size / 2 + 1
    ))
    .unwrap();
}

/// Every article of `database` (a SQLite path or a PostgreSQL URL) as stored, in id order.
fn articles_of(database: impl AsRef<std::ffi::OsStr>) -> Vec<RawArticle> {
    let database = database.as_ref().to_string_lossy();
    let mut db = articles::sync::source::Source::open(&database, "destination").unwrap();
    db.page(i64::MIN, usize::MAX, usize::MAX).unwrap().rows
}

fn ids_of(database: impl AsRef<std::ffi::OsStr>) -> Vec<i64> {
    articles_of(database).into_iter().map(|a| a.id).collect()
}

/// Runs `articles <args>` to completion.
fn articles(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("ARTICLES_API_TOKEN")
        .output()
        .expect("articles runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `articles sync --from a --to b [extra]`, asserting success.
fn sync_ok(from: &Path, to: &str, extra: &[&str]) -> String {
    let from = from.to_string_lossy();
    let mut args = vec!["sync", "--from", &from, "--to", to];
    args.extend_from_slice(extra);
    let output = articles(&args);
    assert!(
        output.status.success(),
        "sync failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn verify(from: &Path, to: impl AsRef<std::ffi::OsStr>) -> Output {
    articles(&[
        "verify",
        "--from",
        &from.to_string_lossy(),
        "--to",
        &to.as_ref().to_string_lossy(),
    ])
}

/// The database an in-process REST API runs on: its SQLite file or its PostgreSQL URL.
fn app_database(app: &common::TestApp) -> String {
    match &app.postgres {
        Some(database) => database.url.clone(),
        None => app.db_path.to_string_lossy().into_owned(),
    }
}

/// A source file `a` and a destination: the SQLite file `b`, or with `ARTICLES_TEST_STORE=postgres`
/// a PostgreSQL database of the test's own (`b()` names whichever it is; tests that read `b` as a
/// file are about SQLite's destination only, and scripts/test.sh skips them in that run).
struct Paths {
    _dir: TempDir,
    a: PathBuf,
    b: PathBuf,
    postgres: Option<common::pg_support::TestDatabase>,
}

impl Paths {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            a: dir.path().join("a.db"),
            b: dir.path().join("b.db"),
            _dir: dir,
            postgres: common::on_postgres()
                .then(|| common::pg_support::TestDatabase::create("sync")),
        }
    }

    fn b(&self) -> String {
        match &self.postgres {
            Some(database) => database.url.clone(),
            None => self.b.to_string_lossy().into_owned(),
        }
    }
}

/// A first sync copies every row with its id, text and timestamps, whatever their source format.
#[test]
fn fresh_copy_keeps_ids_text_and_timestamps() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[
            (
                3,
                "Naive",
                "c3",
                Some("2024-01-01 12:00:00.123456"),
                Some("2024-02-01 08:30:00"),
            ),
            (
                7,
                "Iso",
                "c7",
                Some("2024-01-01T12:00:00Z"),
                Some("2024-01-01T14:00:00+02:00"),
            ),
            (9, "Unix", "c9", Some("1704110400"), Some("1704110400.5")),
        ],
    );
    let out = sync_ok(&p.a, &p.b(), &[]);
    assert!(out.contains("inserted 3, updated 0, deleted 0"), "{out}");
    let b = articles_of(p.b());
    assert_eq!(ids_of(p.b()), [3, 7, 9]);
    let stamps: Vec<_> = b
        .iter()
        .map(|a| (a.created_at.clone().unwrap(), a.updated_at.clone().unwrap()))
        .collect();
    assert_eq!(
        stamps,
        [
            (
                "2024-01-01 12:00:00.123456".into(),
                "2024-02-01 08:30:00".into()
            ),
            ("2024-01-01 12:00:00".into(), "2024-01-01 12:00:00".into()),
            (
                "2024-01-01 12:00:00".into(),
                "2024-01-01 12:00:00.500".into()
            ),
        ] as [(String, String); 3]
    );
    assert_eq!(b[1].title.as_deref(), Some("Iso"));
    assert!(verify(&p.a, p.b()).status.success());
    if p.postgres.is_none() {
        assert_fully_indexed(&p.b, 3);
    }
}

/// Inserts, updates (even with updated_at unchanged) and deletes arrive; a rerun applies nothing.
#[test]
fn changes_in_source_reach_destination_and_rerun_applies_nothing() {
    let p = Paths::new();
    let at = Some("2024-01-01 00:00:00");
    create_source(
        &p.a,
        &[
            (1, "one", "a", at, at),
            (2, "two", "b", at, at),
            (3, "three", "c", at, at),
        ],
    );
    sync_ok(&p.a, &p.b(), &[]);
    let mut a = open(&p.a);
    upsert_source(&mut a, (2, "two", "b, edited in place", at, at));
    upsert_source(&mut a, (4, "four", "d", at, at));
    diesel::sql_query("DELETE FROM articles WHERE id = 1")
        .execute(&mut a)
        .unwrap();

    let out = sync_ok(&p.a, &p.b(), &[]);
    assert!(
        out.contains("inserted 1, updated 1, deleted 1, unchanged 1"),
        "{out}"
    );
    let b = articles_of(p.b());
    assert_eq!(ids_of(p.b()), [2, 3, 4]);
    assert_eq!(b[0].content.as_deref(), Some("b, edited in place"));
    assert!(verify(&p.a, p.b()).status.success());

    let again = sync_ok(&p.a, &p.b(), &[]);
    assert!(
        again.contains("inserted 0, updated 0, deleted 0, unchanged 3"),
        "{again}"
    );
}

/// --no-delete keeps rows that left the source; a later plain sync deletes them.
#[test]
fn no_delete_keeps_vanished_rows() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[(1, "one", "a", None, None), (2, "two", "b", None, None)],
    );
    sync_ok(&p.a, &p.b(), &[]);
    diesel::sql_query("DELETE FROM articles WHERE id = 2")
        .execute(&mut open(&p.a))
        .unwrap();
    let out = sync_ok(&p.a, &p.b(), &["--no-delete"]);
    assert!(out.contains("deleted 0"), "{out}");
    assert_eq!(ids_of(p.b()), [1, 2]);
    let out = sync_ok(&p.a, &p.b(), &[]);
    assert!(out.contains("deleted 1"), "{out}");
    assert_eq!(ids_of(p.b()), [1]);
}

/// A dry run prints counts and (verbose) ids, and neither creates nor changes the destination.
#[test]
fn dry_run_writes_nothing() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[(1, "one", "a", None, None), (2, "two", "b", None, None)],
    );
    let out = sync_ok(&p.a, &p.b(), &["--dry-run", "--verbose"]);
    assert!(out.contains("insert 1\ninsert 2\n"), "{out}");
    assert!(out.contains("inserted 2"), "{out}");
    if p.postgres.is_none() {
        assert!(!p.b.exists(), "dry run created the destination");
    } else {
        let opened = articles::sync::source::Source::open(&p.b(), "destination");
        let error = opened
            .err()
            .expect("dry run created the articles table")
            .to_string();
        assert!(error.contains("no `articles` table"), "{error}");
    }

    sync_ok(&p.a, &p.b(), &[]);
    let mut a = open(&p.a);
    upsert_source(&mut a, (2, "two", "changed", None, None));
    upsert_source(&mut a, (5, "five", "e", None, None));
    diesel::sql_query("DELETE FROM articles WHERE id = 1")
        .execute(&mut a)
        .unwrap();
    let before = (p.postgres.is_none()).then(|| std::fs::read(&p.b).unwrap());
    let rows_before = articles_of(p.b());
    let out = sync_ok(&p.a, &p.b(), &["--dry-run", "-v"]);
    assert!(out.contains("insert 5\nupdate 2\ndelete 1\n"), "{out}");
    assert!(out.contains("inserted 1, updated 1, deleted 1"), "{out}");
    if let Some(before) = before {
        assert_eq!(std::fs::read(&p.b).unwrap(), before);
    }
    assert_eq!(articles_of(p.b()), rows_before);
    assert_eq!(ids_of(p.b()), [1, 2]);
}

/// Sync and verify never write to the source: its bytes and mtime are unchanged.
#[test]
fn source_is_never_written() {
    let p = Paths::new();
    create_source(&p.a, &[(1, "one", "a", None, None)]);
    let bytes = std::fs::read(&p.a).unwrap();
    let mtime = std::fs::metadata(&p.a).unwrap().modified().unwrap();
    sync_ok(&p.a, &p.b(), &[]);
    sync_ok(&p.a, &p.b(), &["--dry-run"]);
    assert!(verify(&p.a, p.b()).status.success());
    assert_eq!(std::fs::read(&p.a).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&p.a).unwrap().modified().unwrap(), mtime);
    let journal: Vec<_> = std::fs::read_dir(p.a.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("a.db-"))
        .collect();
    assert!(
        journal.is_empty(),
        "source side files appeared: {journal:?}"
    );
}

/// Missing file, not a database, no table, missing column: one `error:` line and exit 2 each.
#[test]
fn bad_sources_fail_with_one_clear_line() {
    let p = Paths::new();
    let dir = p.a.parent().unwrap();
    let not_db = dir.join("notes.txt");
    std::fs::write(
        &not_db,
        "these are not the tables you are looking for\n".repeat(100),
    )
    .unwrap();
    let no_table = dir.join("empty.db");
    open(&no_table)
        .batch_execute("CREATE TABLE posts (id INTEGER PRIMARY KEY)")
        .unwrap();
    let no_content = dir.join("partial.db");
    open(&no_content)
        .batch_execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT)")
        .unwrap();
    for (source, expected) in [
        (dir.join("missing.db"), "does not exist"),
        (not_db, "file is not a database"),
        (no_table, "has no `articles` table"),
        (no_content, "has no column content"),
    ] {
        let output = articles(&["sync", "--from", &source.to_string_lossy(), "--to", &p.b()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{err}"
        );
        assert!(!p.b.exists());
    }
}

/// Unicode, emoji, quotes, SQL, control characters and 100 KB contents arrive byte for byte.
#[test]
fn tricky_text_round_trips_exactly() {
    let p = Paths::new();
    let big = "Ünïcødé ✓ 🦀 ".repeat(100_000 / 18);
    let rows: Vec<(i64, String, String)> = vec![
        (
            1,
            "日本語のタイトル".into(),
            "Grüße, 🦀🚀 and ZWJ 👩‍👩‍👧".into(),
        ),
        (
            2,
            "\"quoted\" 'single'".into(),
            "a\\b\"c'd\n\t\r\u{1}\u{1f}end".into(),
        ),
        (
            3,
            "Robert'); DROP TABLE articles;--".into(),
            "SELECT * FROM x; -- ' OR 1=1".into(),
        ),
        (4, "big".into(), big),
        (5, "  padded title  ".into(), "".into()),
    ];
    let mut a = {
        create_source(&p.a, &[]);
        open(&p.a)
    };
    for (id, title, content) in &rows {
        upsert_source(&mut a, (*id, title, content, None, None));
    }
    sync_ok(&p.a, &p.b(), &[]);
    let copied: Vec<(i64, String, String)> = articles_of(p.b())
        .into_iter()
        .map(|r| (r.id, r.title.unwrap(), r.content.unwrap()))
        .collect();
    assert_eq!(copied, rows);
    assert!(copied[3].2.len() >= 99_000);
    assert!(verify(&p.a, p.b()).status.success());
}

/// A destination filled by someone else (no sync state) becomes an exact replica.
#[test]
fn foreign_rows_in_destination_are_reconciled() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[(1, "one", "a", None, None), (2, "two", "b", None, None)],
    );
    let other = p.a.with_file_name("other.db");
    create_source(
        &other,
        &[
            (2, "two", "stale", None, None),
            (9, "nine", "x", None, None),
        ],
    );
    sync_ok(&other, &p.b(), &[]);
    // Forget what sync knows: as if B had been filled by someone else.
    open(&p.b).batch_execute("DELETE FROM sync_state").unwrap();
    let out = sync_ok(&p.a, &p.b(), &[]);
    assert!(out.contains("inserted 1, updated 1, deleted 1"), "{out}");
    assert!(verify(&p.a, p.b()).status.success());
    assert_eq!(ids_of(p.b()), [1, 2]);
}

/// verify (and sync --check) exit 1 and name the differing ids; 0 once synced.
#[test]
fn verify_names_differing_ids() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[(1, "one", "a", None, None), (2, "two", "b", None, None)],
    );
    sync_ok(&p.a, &p.b(), &[]);
    let mut b = open(&p.b);
    b.batch_execute(
        "UPDATE articles SET content = 'tampered' WHERE id = 2; DELETE FROM articles WHERE id = 1",
    )
    .unwrap();
    let output = verify(&p.a, p.b());
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("2 of 2 ids differ"), "{out}");
    assert!(
        out.contains("1: missing from destination") && out.contains("2: differs"),
        "{out}"
    );
    let from = p.a.to_string_lossy().into_owned();
    let check = articles(&["sync", "--check", "--from", &from, "--to", &p.b()]);
    assert_eq!(check.status.code(), Some(1));
    sync_ok(&p.a, &p.b(), &["--rescan"]);
    assert!(verify(&p.a, p.b()).status.success());
    let check = articles(&["sync", "--check", "--from", &from, "--to", &p.b()]);
    assert!(check.status.success(), "{}", stdout(&check));
}

/// kill -9 during a first load (rollback journal) leaves B consistent; a rerun converges.
#[test]
fn killed_first_load_converges_on_rerun() {
    killed_sync_converges_on_rerun(false);
}

/// kill -9 during a sync into a B that has rows (WAL) leaves B consistent; a rerun converges.
#[test]
fn killed_incremental_sync_converges_on_rerun() {
    killed_sync_converges_on_rerun(true);
}

/// Kills a 40,000-row sync once it has committed something; checks that every state entry
/// matches a committed row, then reruns and compares with a clean copy.
fn killed_sync_converges_on_rerun(destination_has_rows: bool) {
    let p = Paths::new();
    create_large_source(&p.a, 40_000, 600);
    if destination_has_rows {
        let seed = p.a.with_file_name("seed.db");
        create_source(&seed, &[(40_000, "last", "x", None, None)]);
        sync_ok(&seed, &p.b(), &[]);
    }
    let mut child = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &p.a.to_string_lossy(),
            "--to",
            &p.b(),
            "--batch-size",
            "200",
        ])
        .env("RUST_LOG", "warn,articles::sync=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a batch is committed (the sync says so in its debug log), then kill without
    // warning.
    let log = BufReader::new(child.stderr.take().unwrap());
    let committed = log
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("batch applied"));
    assert!(committed, "sync ended without committing a batch");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // A writable connection first: it rolls back what the killed run left half-written.
    let state = diesel::sql_query("SELECT count(*) AS n FROM sync_state")
        .get_result::<Count>(&mut open(&p.b))
        .unwrap()
        .n;
    let partial = ids_of(p.b()).len();
    assert!(
        partial > usize::from(destination_has_rows) && partial < 40_000,
        "kill landed outside the run: {partial} rows"
    );
    assert_eq!(
        state as usize, partial,
        "state and rows disagree after kill -9"
    );
    if !destination_has_rows {
        // A first load builds its indexes at the end: killed before, it left them to build,
        // and whoever opens the database next builds them (here a copy: the rerun below must
        // also cope with the unfinished load itself).
        assert!(
            deferred_indexes_pending(&p.b),
            "the first load deferred no index"
        );
        let copy = p.a.with_file_name("killed-copy.db");
        std::fs::copy(&p.b, &copy).unwrap();
        drop(articles::db::connect(&copy).unwrap());
        assert_fully_indexed(&copy, partial as i64);
    }

    sync_ok(&p.a, &p.b(), &[]);
    assert_fully_indexed(&p.b, 40_000);
    assert!(verify(&p.a, p.b()).status.success());
    let clean = p.a.with_file_name("clean.db");
    sync_ok(&p.a, &clean.to_string_lossy(), &[]);
    assert!(verify(&clean, p.b()).status.success());
    let again = sync_ok(&p.a, &p.b(), &[]);
    assert!(
        again.contains("inserted 0, updated 0, deleted 0, unchanged 40000"),
        "{again}"
    );
}

/// Whether a first load's deferred indexes still wait to be built.
fn deferred_indexes_pending(path: &Path) -> bool {
    diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_schema WHERE name = 'first_load_deferred_indexes'",
    )
    .get_result::<Count>(&mut open(path))
    .unwrap()
    .n > 0
}

/// The database at `path` has its list indexes, a search entry per article and the right kept
/// count, as the migrations and every write keep them, and no first load left to finish.
fn assert_fully_indexed(path: &Path, articles: i64) {
    let mut conn = open(path);
    let count = |conn: &mut SqliteConnection, sql: &str| {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    };
    assert!(!deferred_indexes_pending(path));
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'index' \
             AND name IN ('articles_created_at', 'articles_updated_at')"
        ),
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM articles"),
        articles
    );
    assert_eq!(
        count(&mut conn, "SELECT articles AS n FROM article_stats"),
        articles
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM article_search"),
        articles
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM articles a JOIN article_search s ON s.rowid = a.id \
             WHERE s.title_folded = lower(a.title)"
        ),
        articles
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Through the REST API: 401 without the token (one error line), a replica with it, then no-ops.
#[actix_web::test]
async fn sync_through_rest_api_with_and_without_token() {
    let app = common::spawn_rest_with(|args| args.api_token = Some("s3cret".into())).await;
    let p = Paths::new();
    create_source(
        &p.a,
        &[
            (1, "one", "🦀 \"a\"", Some("2024-01-01 12:00:00.5"), None),
            (
                5,
                "five",
                "'; DROP TABLE articles;--",
                None,
                Some("1704110400"),
            ),
        ],
    );
    let state = p.a.with_file_name("state.db");
    let state = state.to_string_lossy().into_owned();
    let from = p.a.to_string_lossy().into_owned();
    // The server runs on this thread's runtime: wait for the child off it.
    let run = |token: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "sync",
            "--from",
            &from,
            "--to",
            &app.address,
            "--state",
            &state,
        ])
        .env("RUST_LOG", "warn")
        .env_remove("ARTICLES_API_TOKEN");
        if let Some(token) = token {
            cmd.args(["--api-token", token]);
        }
        async move {
            actix_web::rt::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };

    let refused = run(None).await;
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("401"), "{err}");
    assert_eq!(app.get("/articles").await.body["total"], 0);

    let out = run(Some("s3cret")).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("inserted 2"), "{}", stdout(&out));
    assert!(verify(&p.a, app_database(&app)).status.success());
    let one = app.get("/articles/1").await;
    assert_eq!(
        one.body["data"]["created_at"],
        "2024-01-01T12:00:00.500000Z"
    );

    let again = run(Some("s3cret")).await;
    assert!(stdout(&again).contains("inserted 0, updated 0, deleted 0, unchanged 2"));
    diesel::sql_query("DELETE FROM articles WHERE id = 5")
        .execute(&mut open(&p.a))
        .unwrap();
    let out = run(Some("s3cret")).await;
    assert!(stdout(&out).contains("deleted 1"), "{}", stdout(&out));
    assert_eq!(app.get("/articles/5").await.status, 404);
    app.stop().await;
}

/// An unreachable REST API gives one error line and a non-zero exit.
#[test]
fn unreachable_destination_fails_cleanly() {
    let p = Paths::new();
    create_source(&p.a, &[(1, "one", "a", None, None)]);
    let state = p.a.with_file_name("state.db");
    let output = articles(&[
        "sync",
        "--from",
        &p.a.to_string_lossy(),
        "--to",
        "http://127.0.0.1:9",
        "--state",
        &state.to_string_lossy(),
        "--timeout",
        "5s",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("unreachable"), "{err}");
}

/// --watch keeps following the source and exits 0 on SIGTERM.
#[test]
fn watch_follows_changes_until_sigterm() {
    let p = Paths::new();
    create_source(&p.a, &[(1, "one", "a", None, None)]);
    let mut child = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &p.a.to_string_lossy(),
            "--to",
            &p.b(),
            "--watch",
            "--interval",
            "100ms",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.contains("inserted 1"), "{first}");
    upsert_source(&mut open(&p.a), (2, "two", "b", None, None));
    let next = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(next.contains("inserted 1"), "{next}");
    assert_eq!(ids_of(p.b()), [1, 2]);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = common::wait_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

/// The step API: each step covers one id range, reports what it did, and the pass completes.
#[actix_web::test]
async fn steps_cover_the_source_range_by_range() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[
            (1, "one", "a", None, None),
            (2, "two", "b", None, None),
            (3, "  ", "rejected: blank title", None, None),
            (4, "four", "d", None, None),
            (5, "five", "e", None, None),
        ],
    );
    let mut source = articles::sync::Source::from(SourceDb::open(&p.a).unwrap());
    let mut destination = Destination::open_sqlite(&p.b, false).unwrap();
    let options = SyncOptions {
        batch_rows: 2,
        ..SyncOptions::default()
    };
    let mut pass = SyncPass::new();
    let mut ranges = Vec::new();
    while !pass.is_complete() {
        let step = pass
            .step(&mut source, &mut destination, &options)
            .await
            .unwrap();
        ranges.push((step.done_through, step.counts.inserted, step.counts.skipped));
    }
    assert_eq!(ranges, [(Some(2), 2, 0), (Some(4), 1, 1), (None, 1, 0)]);
    assert_eq!(pass.totals.inserted, 4);
    assert_eq!(ids_of(p.b()), [1, 2, 4, 5]);
}

/// --watch logs a failed pass (unreachable API), keeps retrying, and still exits 0 on SIGTERM.
#[test]
fn watch_survives_failed_passes() {
    let p = Paths::new();
    create_source(&p.a, &[(1, "one", "a", None, None)]);
    let state = p.a.with_file_name("state.db");
    let mut child = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &p.a.to_string_lossy(),
            "--to",
            "http://127.0.0.1:9",
            "--state",
            &state.to_string_lossy(),
            "--watch",
            "--interval",
            "100ms",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    for _ in 0..2 {
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(
            line.contains("retrying") && line.contains("unreachable"),
            "{line}"
        );
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = common::wait_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

/// A destination that runs out of space (a file-size limit, as a full disk would) fails with
/// one error line and a non-zero exit, leaves B intact, and a later run converges.
#[test]
fn full_destination_fails_cleanly_and_recovers() {
    let p = Paths::new();
    create_large_source(&p.a, 20_000, 1000);
    let limited = Command::new("bash")
        .arg("-c")
        // SIGXFSZ ignored, so writes past the limit fail with EFBIG like writes to a full disk.
        .arg(r#"trap "" XFSZ; ulimit -f 6144; exec "$0" "$@""#)
        .args([
            BIN,
            "sync",
            "--from",
            &p.a.to_string_lossy(),
            "--to",
            &p.b(),
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs");
    let err = stderr(&limited);
    assert!(
        !limited.status.success(),
        "a 6 MiB limit cannot hold 20 MB: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    let mut b = open(&p.b);
    let check: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
        .load::<IntegrityCheck>(&mut b)
        .unwrap()
        .into_iter()
        .map(|row| row.integrity_check)
        .collect();
    assert_eq!(
        check,
        vec!["ok".to_owned()],
        "B is intact after the failed run"
    );
    drop(b);
    sync_ok(&p.a, &p.b(), &[]);
    assert!(verify(&p.a, p.b()).status.success());
}

#[derive(diesel::QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// Rows that cannot be stored are skipped with a warning naming them; the rest is synced and the
/// exit status is 1 (incomplete), not 0 and not 2.
#[test]
fn unstorable_rows_are_skipped_with_exit_status_1() {
    let p = Paths::new();
    create_source(
        &p.a,
        &[
            (1, "fine", "a", None, None),
            (2, "   ", "blank title", None, None),
            (3, "also fine", "c", None, Some("not a time")),
            (4, "last", "d", None, None),
        ],
    );
    let output = articles(&["sync", "--from", &p.a.to_string_lossy(), "--to", &p.b()]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("incomplete: 2 source rows could not be copied"),
        "{err}"
    );
    assert!(
        err.contains('2') && err.contains('3'),
        "warnings name the ids: {err}"
    );
    assert_eq!(ids_of(p.b()), vec![1, 4]);
}

/// Runs `articles sync` against a REST API served by this thread's runtime (off the runtime),
/// ended after 60 s (exit status 124) if it has not finished by then.
async fn sync_to_api(from: &Path, url: &str, state: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args([
        "60",
        BIN,
        "sync",
        "--from",
        &from.to_string_lossy(),
        "--to",
        url,
    ])
    .args(["--state", &state.to_string_lossy()])
    .args(extra)
    .env("RUST_LOG", "warn")
    .env_remove("ARTICLES_API_TOKEN");
    actix_web::rt::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Finding 6 of issue 12: one row with a NUL in its title, in a source of 2,000, is skipped,
/// named and counted (exit 1) on every destination; the other 1,999 arrive; a rerun still says
/// so and writes nothing; once the row is fixed in the source, it arrives too.
#[actix_web::test]
async fn one_bad_source_row_never_blocks_the_sync() {
    let p = Paths::new();
    create_large_source(&p.a, 2000, 100);
    open(&p.a)
        .batch_execute("UPDATE articles SET title = char(0) || 'bad' WHERE id = 1000")
        .unwrap();
    let from = p.a.to_string_lossy().into_owned();
    let app = common::spawn_rest().await;
    let state = p.a.with_file_name("state.db");
    for rerun in [false, true] {
        let to_file = articles(&["sync", "--from", &from, "--to", &p.b()]);
        let to_api = sync_to_api(&p.a, &app.address, &state, &[]).await;
        for output in [&to_file, &to_api] {
            let err = stderr(output);
            assert_eq!(output.status.code(), Some(1), "{err}");
            assert!(
                err.contains("1000") && err.contains("control characters"),
                "the warning names the row and the reason: {err}"
            );
            assert!(err.contains("incomplete: 1 source rows"), "{err}");
            let inserted = if rerun { "inserted 0" } else { "inserted 1999" };
            assert!(stdout(output).contains(inserted), "{}", stdout(output));
        }
        assert_eq!(ids_of(p.b()).len(), 1999);
        assert_eq!(app.get("/articles?limit=1").await.body["total"], 1999);
    }
    open(&p.a)
        .batch_execute("UPDATE articles SET title = 'fixed' WHERE id = 1000")
        .unwrap();
    sync_ok(&p.a, &p.b(), &[]);
    let fixed = sync_to_api(&p.a, &app.address, &state, &[]).await;
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    assert!(verify(&p.a, p.b()).status.success());
    assert!(verify(&p.a, app_database(&app)).status.success());
}

/// A row the destination itself refuses (an operator's rule on B) is found by halving the batch,
/// then skipped, named with the destination's reason and counted (exit 1), on a SQLite file and
/// through the REST API; every other row of its batch arrives.
#[actix_web::test]
async fn rows_the_destination_refuses_are_skipped_one_by_one() {
    let p = Paths::new();
    create_large_source(&p.a, 500, 50);
    let house_rule = "CREATE TRIGGER house_rule BEFORE INSERT ON articles \
         WHEN NEW.title = 'title 77' OR NEW.title = 'title 401' \
         BEGIN SELECT RAISE(ABORT, 'articles.title is on the house blocklist'); END;";
    // B exists, migrated and empty, with a rule of its own.
    drop(articles::db::connect(&p.b).unwrap());
    open(&p.b).batch_execute(house_rule).unwrap();
    let app = common::spawn_rest().await;
    open(&app.db_path).batch_execute(house_rule).unwrap();
    let state = p.a.with_file_name("state.db");
    let from = p.a.to_string_lossy().into_owned();
    let to_file = articles(&["sync", "--from", &from, "--to", &p.b()]);
    let to_api = sync_to_api(&p.a, &app.address, &state, &["--batch-size", "100"]).await;
    for output in [&to_file, &to_api] {
        let err = stderr(output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains("77") && err.contains("401"), "{err}");
        assert!(
            err.contains("house blocklist"),
            "the destination's reason: {err}"
        );
        assert!(err.contains("incomplete: 2 source rows"), "{err}");
        assert!(
            stdout(output).contains("inserted 498"),
            "{}",
            stdout(output)
        );
    }
    assert_eq!(ids_of(p.b()).len(), 498);
    assert!(!ids_of(p.b()).contains(&77));
    assert_eq!(app.get("/articles?limit=1").await.body["total"], 498);
    assert_eq!(app.get("/articles/401").await.status, 404);
}

/// Finding 7 of issue 12: `sync --watch` to a REST API that answers 401 (wrong token) stops at
/// once with exit status 2 and a message that says what to check, instead of retrying forever.
#[actix_web::test]
async fn watch_stops_on_a_wrong_token() {
    let p = Paths::new();
    create_source(&p.a, &[(1, "one", "a", None, None)]);
    let app = common::spawn_rest_with(|args| args.api_token = Some("s3cret".into())).await;
    let state = p.a.with_file_name("state.db");
    let started = Instant::now();
    let output = sync_to_api(
        &p.a,
        &app.address,
        &state,
        &["--watch", "--interval", "100ms", "--api-token", "wrong"],
    )
    .await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:") && last.contains("401") && last.contains("--api-token"),
        "{err}"
    );
    assert_eq!(app.get("/articles").await.body["total"], 0);
}

/// A first load into a database a server already has open (migrated, empty) does not fail with
/// "database is locked": it takes the normal WAL path, says so, and the server serves the rows
/// with an exact total while and after it loads.
#[test]
fn first_load_into_a_served_database_takes_the_normal_path() {
    let p = Paths::new();
    create_large_source(&p.a, 3000, 200);
    let server = common::ChildServer::start(
        &["serve-rest", "--database", &p.b(), "--bind", "127.0.0.1:0"],
        p.b.parent().unwrap(),
    );
    let output = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &p.a.to_string_lossy(),
            "--to",
            &p.b(),
            "--batch-size",
            "500",
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("open elsewhere") && log.contains("normal path"),
        "{log}"
    );
    assert!(!log.contains("locked"), "{log}");
    let reply = Command::new("curl")
        .args([
            "-sf",
            &format!("{}/articles?limit=1&sort=-id", server.address),
        ])
        .output()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&reply.stdout).unwrap();
    assert_eq!(body["total"], 3000, "{body}");
    assert_eq!(body["data"][0]["id"], 3000, "{body}");
    drop(server);
    assert!(verify(&p.a, p.b()).status.success());

    // Alone, the same first load takes the fast path and says so.
    let q = Paths::new();
    create_large_source(&q.a, 10, 20);
    let output = Command::new(BIN)
        .args(["sync", "--from", &q.a.to_string_lossy(), "--to", &q.b()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(
        output.status.success() && log.contains("rollback journal"),
        "{log}"
    );
}
