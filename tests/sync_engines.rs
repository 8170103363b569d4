//! `articles sync` and `articles verify` between engines, through the real binary and real
//! servers (`scripts/postgres.sh start`, `scripts/mariadb.sh start`): every pair of SQLite,
//! PostgreSQL and MySQL (MariaDB) copies, changes, verifies and reruns; the source is never
//! written; legacy tables are read through --source-table and --map; an unreachable server,
//! wrong credentials or a missing table are one `error:` line naming the role.

mod mysql_support;
mod pg_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use articles::db::pg::sync::PgSource;
use articles::sync::Source;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use tempfile::TempDir;

use mysql::prelude::Queryable;
use mysql_support::TestMysql;
use pg_support::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_articles");

/// id, title, content, created_at, updated_at, in the text form SQLite stores (so every side
/// must give them back exactly).
type Row = (i64, String, String, Option<String>, Option<String>);

fn row(id: i64, title: &str, content: &str, created: &str, updated: &str) -> Row {
    (
        id,
        title.into(),
        content.into(),
        Some(created.into()),
        Some(updated.into()),
    )
}

/// One side of a sync: a SQLite file, a PostgreSQL or a MySQL database.
enum Side {
    Sqlite(PathBuf),
    Postgres(TestDatabase),
    Mysql(TestMysql),
}

impl Side {
    fn sqlite(dir: &TempDir, name: &str) -> Self {
        Self::Sqlite(dir.path().join(name))
    }

    fn postgres(test: &str) -> Self {
        Self::Postgres(TestDatabase::create(test))
    }

    fn mysql(test: &str) -> Self {
        Self::Mysql(TestMysql::create(test))
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => path.to_string_lossy().into_owned(),
            Self::Postgres(db) => db.url.clone(),
            Self::Mysql(db) => db.url.clone(),
        }
    }

    /// Makes this a source holding `rows`: the original app's SQLite shape, or a database
    /// `serve-rest` migrated.
    fn create_source(&self, rows: &[Row]) {
        match self {
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                conn.batch_execute(
                    "CREATE TABLE articles (id INTEGER PRIMARY KEY, title VARCHAR(200), \
                     content TEXT, created_at DATETIME, updated_at DATETIME)",
                )
                .unwrap();
            }
            Self::Postgres(db) => drop(db.store()),
            Self::Mysql(db) => db.execute(
                "CREATE TABLE articles (id BIGINT PRIMARY KEY, title VARCHAR(200), \
                 content LONGTEXT, created_at DATETIME(6), updated_at DATETIME(6)) \
                 CHARACTER SET utf8mb4",
            ),
        }
        for row in rows {
            self.upsert(row);
        }
    }

    fn upsert(&self, (id, title, content, created, updated): &Row) {
        match self {
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                diesel::sql_query("INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?)")
                    .bind::<BigInt, _>(id)
                    .bind::<Text, _>(title)
                    .bind::<Text, _>(content)
                    .bind::<Nullable<Text>, _>(created)
                    .bind::<Nullable<Text>, _>(updated)
                    .execute(&mut conn)
                    .unwrap();
            }
            Self::Postgres(db) => {
                let mut conn = db.connect();
                diesel::sql_query(
                    "INSERT INTO articles (id, title, content, title_folded, created_at, updated_at) \
                     VALUES ($1, $2, $3, lower($2), $4::timestamp, $5::timestamp) \
                     ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, \
                     content = EXCLUDED.content, title_folded = EXCLUDED.title_folded, \
                     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
                )
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(title)
                .bind::<Text, _>(content)
                .bind::<Nullable<Text>, _>(created)
                .bind::<Nullable<Text>, _>(updated)
                .execute(&mut conn)
                .unwrap();
            }
            Self::Mysql(db) => db
                .connect()
                .exec_drop(
                    "REPLACE INTO articles (id, title, content, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?)",
                    (id, title, content, created, updated),
                )
                .unwrap(),
        }
    }

    fn delete(&self, id: i64) {
        let sql = format!("DELETE FROM articles WHERE id = {id}");
        match self {
            Self::Sqlite(path) => SqliteConnection::establish(&path.to_string_lossy())
                .unwrap()
                .batch_execute(&sql)
                .unwrap(),
            Self::Postgres(db) => db.connect().batch_execute(&sql).unwrap(),
            Self::Mysql(db) => db.execute(&sql),
        }
    }

    /// Every article as sync reads it, in id order.
    fn rows(&self) -> Vec<Row> {
        let mut source = Source::open(&self.url(), "source").unwrap();
        source
            .page(i64::MIN, usize::MAX, usize::MAX)
            .unwrap()
            .rows
            .into_iter()
            .map(|a| {
                (
                    a.id,
                    a.title.unwrap(),
                    a.content.unwrap(),
                    a.created_at,
                    a.updated_at,
                )
            })
            .collect()
    }

    /// What shows that nothing wrote here: the file's bytes, or the rows and the database's
    /// counts of inserted, updated and deleted tuples (once the statistics have settled), or
    /// the checksum of every table.
    fn fingerprint(&self) -> (Vec<Row>, Vec<u8>, i64) {
        match self {
            Self::Sqlite(path) => (self.rows(), std::fs::read(path).unwrap(), 0),
            Self::Postgres(db) => (self.rows(), Vec::new(), settled_writes(db)),
            Self::Mysql(db) => (self.rows(), format!("{:?}", db.checksums()).into_bytes(), 0),
        }
    }
}

/// n_tup_ins + n_tup_upd + n_tup_del over the database's tables, once every other session has
/// ended (a backend writes its statistics as it exits).
fn settled_writes(db: &TestDatabase) -> i64 {
    #[derive(QueryableByName)]
    struct Writes {
        #[diesel(sql_type = BigInt)]
        writes: i64,
    }
    db.wait_until_alone();
    diesel::sql_query(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS writes \
         FROM pg_stat_user_tables",
    )
    .get_result::<Writes>(&mut db.connect())
    .unwrap()
    .writes
}

fn articles(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("ARTICLES_API_TOKEN")
        .output()
        .expect("articles runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sync_ok(from: &Side, to: &Side, extra: &[&str]) -> String {
    let (from, to) = (from.url(), to.url());
    let mut args = vec!["sync", "--from", &from, "--to", &to];
    args.extend_from_slice(extra);
    let out = articles(&args);
    assert!(
        out.status.success(),
        "sync failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn verify(from: &Side, to: &Side) -> Output {
    articles(&["verify", "--from", &from.url(), "--to", &to.url()])
}

/// The whole life of a replica: first copy, changes of every kind, verify before and after,
/// a rerun that writes nothing; the source is never written.
fn replicate(source: &Side, destination: &Side) {
    let first = vec![
        row(
            1,
            "Café ☕ naïve",
            "Contenu — émoji 🎉, ß, 日本語",
            "2024-01-01 12:00:00.123456",
            "2024-02-01 08:30:00",
        ),
        row(
            2,
            "two",
            "b",
            "2024-01-02 00:00:00",
            "2024-01-02 00:00:00.500",
        ),
        row(
            3,
            "three",
            "c",
            "2024-01-03 00:00:00",
            "2024-01-03 10:00:00.000001",
        ),
        row(
            5,
            "five",
            "e",
            "2023-12-31 23:59:59.999999",
            "2024-01-05 00:00:00",
        ),
    ];
    source.create_source(&first);
    let untouched = source.fingerprint();

    let out = sync_ok(source, destination, &[]);
    assert!(out.contains("inserted 4, updated 0, deleted 0"), "{out}");
    assert_eq!(destination.rows(), first);
    let check = verify(source, destination);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    assert!(
        text(&check.stdout).starts_with("equal: "),
        "{}",
        text(&check.stdout)
    );
    assert_eq!(
        source.fingerprint(),
        untouched,
        "the first sync wrote to the source"
    );

    // Changes: an insert, an update with a new updated_at, one that keeps it, a delete.
    let inserted = row(
        7,
        "seven ✓",
        "g",
        "2024-03-01 00:00:00",
        "2024-03-01 00:00:00",
    );
    let edited = row(
        2,
        "two",
        "b, edited",
        "2024-01-02 00:00:00",
        "2024-04-01 00:00:00",
    );
    let in_place = row(
        3,
        "three",
        "c, edited in place",
        "2024-01-03 00:00:00",
        "2024-01-03 10:00:00.000001",
    );
    source.upsert(&inserted);
    source.upsert(&edited);
    source.upsert(&in_place);
    source.delete(1);
    let untouched = source.fingerprint();

    let check = verify(source, destination);
    let said = text(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("differ: ") && said.contains("4 of 5 ids differ"),
        "{said}"
    );
    for line in [
        "  1: not in source",
        "  2: differs",
        "  3: differs",
        "  7: missing from destination",
    ] {
        assert!(said.contains(line), "{line:?} in {said}");
    }

    let out = sync_ok(source, destination, &[]);
    assert!(
        out.contains("inserted 1, updated 2, deleted 1, unchanged 1"),
        "{out}"
    );
    let expected = vec![edited, in_place, first[3].clone(), inserted];
    assert_eq!(destination.rows(), expected);
    assert_eq!(verify(source, destination).status.code(), Some(0));

    let out = sync_ok(source, destination, &[]);
    assert!(
        out.contains("inserted 0, updated 0, deleted 0, unchanged 4"),
        "{out}"
    );
    let out = sync_ok(source, destination, &["--check"]);
    assert!(out.starts_with("equal: "), "{out}");
    let out = sync_ok(source, destination, &["--rescan"]);
    assert!(
        out.contains("inserted 0, updated 0, deleted 0, unchanged 4"),
        "{out}"
    );
    assert_eq!(destination.rows(), expected);
    assert_eq!(
        source.fingerprint(),
        untouched,
        "sync or verify wrote to the source"
    );
}

/// Someone else's row in `destination` (no sync state there): the first sync, from an empty
/// source, deletes it.
fn first_sync_deletes_foreign_rows(dir: &TempDir, destination: &Side) {
    destination.create_source(&[row(
        99,
        "stray",
        "x",
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00",
    )]);
    let empty = Side::sqlite(dir, "empty.db");
    empty.create_source(&[]);
    let out = sync_ok(&empty, destination, &[]);
    assert!(out.contains("deleted 1"), "{out}");
    assert!(destination.rows().is_empty());
}

#[test]
fn sqlite_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let source = Side::sqlite(&dir, "a.db");
    let destination = Side::postgres("sqlite_to_pg");
    first_sync_deletes_foreign_rows(&dir, &destination);
    replicate(&source, &destination);

    let Side::Postgres(db) = &destination else {
        unreachable!()
    };
    // The id sequence moved past the synced ids: the next id the database gives is free.
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let next = diesel::sql_query("SELECT nextval('articles_id_seq') AS id")
        .get_result::<Next>(&mut db.connect())
        .unwrap();
    assert!(next.id > 7, "{}", next.id);
    // The kept count follows the rows.
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = BigInt)]
        articles: i64,
    }
    let kept = diesel::sql_query("SELECT articles FROM article_stats")
        .get_result::<Kept>(&mut db.connect())
        .unwrap();
    assert_eq!(kept.articles, 4);
}

/// A dry run into PostgreSQL lists the changes and writes nothing there.
#[test]
fn dry_run_into_postgres_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = Side::sqlite(&dir, "a.db");
    let destination = Side::postgres("dry_run");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at), row(2, "two", "b", at, at)]);
    // Into a database nothing has migrated yet: everything would be inserted, nothing is created.
    let out = sync_ok(&source, &destination, &["--dry-run", "-v"]);
    assert!(
        out.contains("insert 1\ninsert 2\n") && out.contains("inserted 2"),
        "{out}"
    );
    sync_ok(&source, &destination, &[]);
    source.upsert(&row(2, "two", "changed", at, at));
    source.upsert(&row(3, "three", "c", at, at));
    source.delete(1);
    let before = destination.fingerprint();
    let out = sync_ok(&source, &destination, &["--dry-run", "-v"]);
    assert!(out.contains("insert 3\nupdate 2\ndelete 1\n"), "{out}");
    assert!(out.contains("inserted 1, updated 1, deleted 1"), "{out}");
    let out = sync_ok(&source, &destination, &["--dry-run", "--rescan"]);
    assert!(out.contains("inserted 1, updated 1, deleted 1"), "{out}");
    assert_eq!(destination.fingerprint(), before);
}

#[test]
fn postgres_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    replicate(&Side::postgres("pg_to_sqlite"), &Side::sqlite(&dir, "b.db"));
}

#[test]
fn postgres_to_postgres() {
    replicate(&Side::postgres("pg_to_pg_a"), &Side::postgres("pg_to_pg_b"));
}

/// Batches smaller than the source (and pages cut by bytes) still copy every row once.
#[test]
fn postgres_source_in_small_batches() {
    let source = Side::postgres("small_batches");
    source_in_small_batches(&source, "the server's fingerprints of their text");
    let Side::Postgres(db) = &source else {
        unreachable!()
    };
    let mut pg = PgSource::open(&db.url, "source").unwrap();
    assert!(
        pg.is_read_only().unwrap(),
        "a source session must be read-only"
    );
}

/// A server source read in small batches and small pages (cut by rows and by bytes) gives
/// every row once, in id order, as the SQLite copy gives it, with its fingerprint (`what`).
fn source_in_small_batches(source: &Side, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let destination = Side::sqlite(&dir, "b.db");
    let rows: Vec<Row> = (1..=25)
        .map(|i| {
            row(
                i * 3,
                &format!("title {i}"),
                &"x".repeat(i as usize * 100),
                "2024-01-01 00:00:00",
                "2024-01-02 00:00:00",
            )
        })
        .collect();
    source.create_source(&rows);
    let out = sync_ok(source, &destination, &["--batch-size", "4"]);
    assert!(out.contains("inserted 25, updated 0, deleted 0"), "{out}");
    assert_eq!(destination.rows(), rows);

    let mut server = Source::open(&source.url(), "source").unwrap();
    // Cut by bytes as the SQLite source cuts: after the row that reaches the limit.
    let mut first = server.page(i64::MIN, 10, 1000).unwrap();
    assert_eq!(first.rows.len(), 4);
    assert!(first.truncated);
    // The same rows as their copy gives, and the fingerprints of their text.
    for row in &mut first.rows {
        assert!(row.fingerprint.take().is_some(), "{what}: {}", row.id);
    }
    let mut copy = Source::open(&destination.url(), "destination").unwrap();
    assert_eq!(copy.page(i64::MIN, 10, 1000).unwrap(), first);
    let mut seen = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = server.page(after, 10, 1000).unwrap();
        assert!(!page.rows.is_empty() || !page.truncated);
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.rows.last() {
            Some(last) if page.truncated => after = last.id,
            _ => break,
        }
    }
    assert_eq!(seen, rows.iter().map(|r| r.0).collect::<Vec<_>>());
    assert_eq!(server.id_bounds().unwrap(), Some((3, 75)));
}

/// A port nobody listens on: one `error:` line naming the role, no password, exit status 2.
#[test]
fn unreachable_postgres_is_one_line_naming_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("postgres://someone:s3cret@127.0.0.1:{port}/articles");
    let shown = format!("postgres://someone@127.0.0.1:{port}/articles");
    let file = Side::sqlite(&dir, "a.db");
    file.create_source(&[row(
        1,
        "one",
        "a",
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00",
    )]);
    let file = file.url();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    for (args, role) in [
        (vec!["sync", "--from", &down, "--to", &b], "source"),
        (vec!["sync", "--from", &file, "--to", &down], "destination"),
        (
            vec!["sync", "--from", &file, "--to", &down, "--dry-run"],
            "destination",
        ),
        (vec!["verify", "--from", &down, "--to", &file], "source"),
        (
            vec!["verify", "--from", &file, "--to", &down],
            "destination",
        ),
    ] {
        let out = articles(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: cannot open {role} {shown}: ")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
    assert!(!Path::new(&b).exists());
}

/// A PostgreSQL database without `articles` is refused as a source.
#[test]
fn postgres_source_without_articles() {
    let db = TestDatabase::create("no_articles");
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    let out = articles(&["sync", "--from", &db.url, "--to", &b]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("has no `articles` table") && err.starts_with("error: source "),
        "{err}"
    );
}

/// A connection the server dropped (a restart under `--watch`) fails one call, and the next one
/// reconnects: source and destination alike.
#[test]
fn lost_connections_are_replaced() {
    use articles::db::destination::SyncDestination;
    use articles::db::pg::sync::PgDestination;
    let source = Side::postgres("lost_connections");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at)]);
    let Side::Postgres(db) = &source else {
        unreachable!()
    };
    let mut reader = PgSource::open(&db.url, "source").unwrap();
    let mut writer = PgDestination::open(&db.url).unwrap();
    let terminate = || db.terminate_other_sessions();
    terminate();
    let error = reader.page(i64::MIN, 10, 1 << 20).unwrap_err().to_string();
    assert!(error.starts_with("cannot read source "), "{error}");
    assert_eq!(reader.page(i64::MIN, 10, 1 << 20).unwrap().rows.len(), 1);
    assert!(writer.state_count().is_err());
    assert_eq!(writer.state_count().unwrap(), 0);
    assert!(
        reader.is_read_only().unwrap(),
        "a new source session is read-only too"
    );
}

#[test]
fn sqlite_to_mysql() {
    let dir = tempfile::tempdir().unwrap();
    let destination = Side::mysql("sqlite_to_my");
    first_sync_deletes_foreign_rows(&dir, &destination);
    replicate(&Side::sqlite(&dir, "a.db"), &destination);
}

#[test]
fn mysql_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    replicate(&Side::mysql("my_to_sqlite"), &Side::sqlite(&dir, "b.db"));
}

#[test]
fn mysql_to_mysql() {
    replicate(&Side::mysql("my_to_my_a"), &Side::mysql("my_to_my_b"));
}

#[test]
fn mysql_to_postgres() {
    replicate(&Side::mysql("my_to_pg"), &Side::postgres("my_to_pg"));
}

#[test]
fn postgres_to_mysql() {
    replicate(&Side::postgres("pg_to_my"), &Side::mysql("pg_to_my"));
}

/// A dry run into MySQL lists the changes and creates or writes nothing there.
#[test]
fn dry_run_into_mysql_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = Side::sqlite(&dir, "a.db");
    let destination = Side::mysql("dry_run");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at), row(2, "two", "b", at, at)]);
    let out = sync_ok(&source, &destination, &["--dry-run", "-v"]);
    assert!(
        out.contains("insert 1\ninsert 2\n") && out.contains("inserted 2"),
        "{out}"
    );
    let Side::Mysql(db) = &destination else {
        unreachable!()
    };
    assert!(db.checksums().is_empty(), "a dry run created tables");
    sync_ok(&source, &destination, &[]);
    source.upsert(&row(2, "two", "changed", at, at));
    source.upsert(&row(3, "three", "c", at, at));
    source.delete(1);
    let before = destination.fingerprint();
    let out = sync_ok(&source, &destination, &["--dry-run", "-v"]);
    assert!(out.contains("insert 3\nupdate 2\ndelete 1\n"), "{out}");
    let out = sync_ok(&source, &destination, &["--dry-run", "--rescan"]);
    assert!(out.contains("inserted 1, updated 1, deleted 1"), "{out}");
    assert_eq!(destination.fingerprint(), before);
    // --no-delete keeps the row the source dropped.
    let out = sync_ok(&source, &destination, &["--no-delete"]);
    assert!(out.contains("inserted 1, updated 1, deleted 0"), "{out}");
    assert_eq!(
        destination.rows().iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// A legacy MySQL blog table as it is: other table and column names, utf8mb4 text, DATETIME
/// and TIMESTAMP columns (the latter written in another time zone), a zero date, Unix seconds;
/// rows that cannot be carried are skipped with their id and reason, the rest copied.
#[test]
fn legacy_mysql_table_with_other_names_and_types() {
    let db = TestMysql::create("legacy");
    db.execute(
        "CREATE TABLE posts (post_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, \
           headline VARCHAR(255) CHARACTER SET utf8mb4, body MEDIUMTEXT CHARACTER SET utf8mb4, \
           raw_body BLOB, posted DATETIME, modified TIMESTAMP NULL, views INT) \
         CHARACTER SET utf8mb4",
    );
    let mut conn = db.connect();
    // TIMESTAMP values are instants: written at +02:00, they read back in UTC.
    conn.query_drop("SET time_zone = '+02:00'").unwrap();
    conn.query_drop("SET SESSION sql_mode = ''").unwrap();
    conn.exec_drop(
        "INSERT INTO posts (post_id, headline, body, posted, modified) VALUES \
         (1, 'Crème brûlée 🍮', 'Ünïcödé body 😀 — 日本語', '2020-05-01 10:00:00', '2020-05-02 12:00:00'), \
         (2, 'no dates', 'z', '0000-00-00 00:00:00', NULL), \
         (3, ?, 'too long', NULL, NULL), \
         (4, '   ', 'blank title', NULL, NULL), \
         (5, 'fine', 'five', '2021-01-01 00:00:00.000', '2021-01-01 00:00:00')",
        (("x".repeat(201)),),
    )
    .unwrap();
    drop(conn);
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    let from = db.url.clone();
    let map = "id=post_id,title=headline,content=body,created_at=posted,updated_at=modified";
    let out = articles(&[
        "sync",
        "--from",
        &from,
        "--source-table",
        "posts",
        "--map",
        map,
        "--to",
        &b,
    ]);
    let (said, log) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}{log}");
    assert!(
        said.contains("inserted 3") && said.contains("skipped 2"),
        "{said}"
    );
    assert!(
        log.contains("id=3 reason=title must be at most 200 characters"),
        "{log}"
    );
    assert!(log.contains("id=4 reason=title must not be empty"), "{log}");
    let copied = Side::Sqlite(b.clone().into()).rows();
    assert_eq!(copied.len(), 3);
    assert_eq!(
        copied[0],
        row(
            1,
            "Crème brûlée 🍮",
            "Ünïcödé body 😀 — 日本語",
            "2020-05-01 10:00:00",
            "2020-05-02 10:00:00"
        )
    );
    // The zero date is "no date": the destination filled in both timestamps.
    assert_eq!(copied[1].0, 2);
    assert!(copied[1].3.is_some() && copied[1].3 == copied[1].4);
    assert_eq!(copied[2].3.as_deref(), Some("2021-01-01 00:00:00"));

    // verify reads the same mapping.
    let out = articles(&[
        "verify",
        "--from",
        &from,
        "--source-table",
        "posts",
        "--map",
        map,
        "--to",
        &b,
    ]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("2 of 5 ids differ"), "{said}");

    // Text that is not UTF-8 (a BLOB column read as content) is skipped and named too.
    db.execute("UPDATE posts SET raw_body = body");
    db.execute("UPDATE posts SET raw_body = X'C328' WHERE post_id = 5");
    let out = articles(&[
        "sync",
        "--from",
        &from,
        "--source-table",
        "posts",
        "--map",
        "id=post_id,title=headline,content=raw_body,created_at=posted,updated_at=modified",
        "--to",
        &b,
    ]);
    let (said, log) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}{log}");
    assert!(
        log.contains("id=5 reason=content is not valid UTF-8 text"),
        "{log}"
    );
    assert!(said.contains("skipped 3"), "{said}");
    // The destination keeps what it had for the skipped row.
    assert_eq!(Side::Sqlite(b.into()).rows()[2].2, "five");
}

/// Unix seconds, timestamps with a time zone and a missing updated_at on PostgreSQL, other
/// names on SQLite: the same options work on every engine.
#[test]
fn legacy_tables_on_postgres_and_sqlite() {
    let pg = TestDatabase::create("legacy");
    pg.connect()
        .batch_execute(
            "CREATE SCHEMA blog; \
             CREATE TABLE blog.entries (entry_id bigint PRIMARY KEY, subject varchar(300), \
               text_body text, published timestamptz, edited_epoch bigint); \
             INSERT INTO blog.entries VALUES \
               (7, 'Épée', 'zürich', '2024-01-01 14:00:00+02', 1704110400), \
               (8, 'no dates', 'x', NULL, NULL)",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    let out = articles(&[
        "sync",
        "--from",
        &pg.url,
        "--source-table",
        "blog.entries",
        "--map",
        "id=entry_id",
        "--map",
        "title=subject,content=text_body,created_at=published,updated_at=edited_epoch",
        "--to",
        &b,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copied = Side::Sqlite(b.clone().into()).rows();
    assert_eq!(
        copied[0],
        row(
            7,
            "Épée",
            "zürich",
            "2024-01-01 12:00:00",
            "2024-01-01 12:00:00"
        )
    );
    assert_eq!(copied[1].0, 8);
    // A view is read too (its rows have no xmin: the server hashes the content instead), and a
    // rerun from it finds an edit in place.
    pg.connect()
        .batch_execute(
            "CREATE VIEW blog.entries_view AS SELECT entry_id AS id, subject AS title, \
             text_body AS content FROM blog.entries",
        )
        .unwrap();
    let c = dir
        .path()
        .join("from_view.db")
        .to_string_lossy()
        .into_owned();
    let from_view = [
        "sync",
        "--from",
        &pg.url,
        "--source-table",
        "blog.entries_view",
        "--to",
        &c,
    ];
    let out = articles(&from_view);
    assert!(
        text(&out.stdout).contains("inserted 2"),
        "{}",
        text(&out.stderr)
    );
    pg.connect()
        .batch_execute("UPDATE blog.entries SET text_body = 'zürcH' WHERE entry_id = 7")
        .unwrap();
    let out = articles(&from_view);
    assert!(
        text(&out.stdout).contains("updated 1, deleted 0, unchanged 1"),
        "{}",
        text(&out.stdout)
    );

    // SQLite: a table of other names, no timestamps at all.
    let legacy = dir.path().join("legacy.db");
    let mut conn = SqliteConnection::establish(&legacy.to_string_lossy()).unwrap();
    conn.batch_execute(
        "CREATE TABLE Posts (pid INTEGER PRIMARY KEY, Heading TEXT, Body TEXT); \
         INSERT INTO Posts VALUES (1, 'one', 'a'), (2, 'two', 'b');",
    )
    .unwrap();
    let c = dir.path().join("c.db").to_string_lossy().into_owned();
    let from = legacy.to_string_lossy().into_owned();
    let args = [
        "--from",
        &from,
        "--source-table",
        "Posts",
        "--map",
        "id=pid,title=heading,content=body",
        "--to",
        &c,
    ];
    let out = articles(&[&["sync"][..], &args].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = articles(&[&["verify"][..], &args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(Side::Sqlite(c.into()).rows().len(), 2);

    // A column --map names must exist, even a timestamp.
    let out = articles(&[
        "sync",
        "--from",
        &from,
        "--source-table",
        "Posts",
        "--map",
        "id=pid,title=heading,content=body,updated_at=changed",
        "--to",
        &b,
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: source {from}: table `Posts` has no column changed (--map \
             updated_at=changed); it needs id, title and content"
        )
    );
    let out = articles(&["sync", "--from", &from, "--map", "body=x", "--to", &b]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: --map body: unknown field"), "{err}");
}

/// The source user may only SELECT: sync and verify need nothing more, and write nothing.
#[test]
fn mysql_source_refused_writes_is_enough() {
    let source = Side::mysql("read_only_src");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at), row(2, "two", "b", at, at)]);
    let Side::Mysql(db) = &source else {
        unreachable!()
    };
    let reader = db.reader_url();
    let untouched = source.fingerprint();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    let out = articles(&["sync", "--from", &reader, "--to", &b]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("inserted 2"));
    let out = articles(&["verify", "--from", &reader, "--to", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(source.fingerprint(), untouched);
    // The session itself is read-only, whoever connects.
    let mut session = articles::db::mysql::MysqlSource::open(
        &db.url,
        "source",
        &articles::db::source_table::SourceTable::default(),
    )
    .unwrap();
    assert!(session.is_read_only().unwrap());
}

/// Wrong credentials, a missing database, table or column, a server that does not answer: one
/// `error:` line naming the role, never the password, exit status 2.
#[test]
fn mysql_errors_are_one_line_naming_the_role() {
    let db = TestMysql::create("errors");
    let dir = tempfile::tempdir().unwrap();
    let file = Side::sqlite(&dir, "a.db");
    let at = "2024-01-01 00:00:00";
    file.create_source(&[row(1, "one", "a", at, at)]);
    let file = file.url();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    let wrong = mysql_support::with_user(&db.url, "articles", "s3cret");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("mariadb://someone:s3cret@127.0.0.1:{port}/articles");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["sync", "--from", &wrong, "--to", &b],
            "cannot open source mysql://articles@",
        ),
        (
            vec!["sync", "--from", &file, "--to", &wrong],
            "cannot open destination mysql://articles@",
        ),
        (
            vec!["verify", "--from", &file, "--to", &wrong],
            "cannot open destination mysql://articles@",
        ),
        (
            vec!["sync", "--from", &down, "--to", &b],
            "cannot open source mariadb://someone@",
        ),
        (
            vec!["sync", "--from", &file, "--to", &down, "--dry-run"],
            "cannot open destination mariadb://someone@",
        ),
        (
            vec!["sync", "--from", &db.url, "--to", &b],
            "has no `articles` table",
        ),
        (
            vec![
                "sync",
                "--from",
                &db.url,
                "--source-table",
                "nope",
                "--to",
                &b,
            ],
            "has no `nope` table",
        ),
    ];
    for (args, expected) in &cases {
        let out = articles(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
    let wrong_out = articles(&["sync", "--from", &wrong, "--to", &b]);
    assert!(text(&wrong_out.stderr).contains("Access denied"));
    db.execute("CREATE TABLE posts (id VARCHAR(10) PRIMARY KEY, title TEXT, content TEXT)");
    let out = articles(&[
        "sync",
        "--from",
        &db.url,
        "--source-table",
        "posts",
        "--to",
        &b,
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("column `id` of `posts` is varchar"), "{err}");
    db.execute("CREATE TABLE other (id INT PRIMARY KEY, title TEXT)");
    let out = articles(&[
        "sync",
        "--from",
        &db.url,
        "--source-table",
        "other",
        "--to",
        &b,
    ]);
    let err = text(&out.stderr);
    assert!(err.contains("table `other` has no column content"), "{err}");
    // serve-rest does not run on MySQL, and says so.
    let out = articles(&["serve-rest", "--database", &db.url, "--bind", "127.0.0.1:0"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("for `articles sync` and `articles verify`"),
        "{err}"
    );
}

/// Pages cut by rows and by bytes copy every row once, in id order.
#[test]
fn mysql_source_in_small_batches() {
    source_in_small_batches(&Side::mysql("small_batches"), "MariaDB's checksums");
}

/// kill -9 in the middle of a sync from MySQL into MySQL: the destination's rows and state
/// agree, and a rerun converges.
#[test]
fn killed_mysql_sync_converges_on_rerun() {
    let source = Side::mysql("killed_src");
    let destination = Side::mysql("killed_dst");
    source.create_source(&[]);
    let Side::Mysql(src) = &source else {
        unreachable!()
    };
    // 20,000 rows from five tables of ten digits (a recursive CTE that deep needs server
    // settings that differ between MySQL and MariaDB).
    let digits = (0..10)
        .map(|d| format!("SELECT {d} AS d"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    src.execute(&format!(
        "INSERT INTO articles (id, title, content, created_at, updated_at) \
         SELECT i, CONCAT('title ', i), REPEAT('body ', 100), '2024-01-01', '2024-01-02' FROM \
         (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS i \
          FROM ({digits}) a, ({digits}) b, ({digits}) c, ({digits}) e, ({digits}) f) AS n \
         WHERE i <= 20000"
    ));
    let mut child = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &source.url(),
            "--to",
            &destination.url(),
            "--batch-size",
            "200",
        ])
        .env("RUST_LOG", "warn,articles::sync=debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let log = std::io::BufReader::new(child.stderr.take().unwrap());
    let committed = log
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("batch applied"));
    assert!(committed, "sync ended without committing a batch");
    child.kill().unwrap();
    child.wait().unwrap();
    let Side::Mysql(dst) = &destination else {
        unreachable!()
    };
    let mut conn = dst.connect();
    let (rows, state): (i64, i64) = conn
        .query_first("SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM sync_state)")
        .unwrap()
        .unwrap();
    assert!(
        rows > 0 && rows < 20_000,
        "kill landed outside the run: {rows}"
    );
    assert_eq!(rows, state, "rows and state disagree after kill -9");
    let out = sync_ok(&source, &destination, &[]);
    assert!(
        out.contains(&format!("inserted {}", 20_000 - rows)),
        "{out}"
    );
    assert_eq!(verify(&source, &destination).status.code(), Some(0));
}

/// A connection the server dropped (a restart under `--watch`) fails one call, and the next one
/// reconnects: source and destination alike.
#[test]
fn lost_mysql_connections_are_replaced() {
    use articles::db::destination::SyncDestination;
    use articles::db::mysql::{MysqlDestination, MysqlSource};
    let source = Side::mysql("lost_connections");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at)]);
    let Side::Mysql(db) = &source else {
        unreachable!()
    };
    let table = articles::db::source_table::SourceTable::default();
    let mut reader = MysqlSource::open(&db.url, "source", &table).unwrap();
    let mut writer = MysqlDestination::open(&db.url).unwrap();
    db.kill_other_sessions();
    let error = reader.page(i64::MIN, 10, 1 << 20).unwrap_err().to_string();
    assert!(error.starts_with("cannot read source "), "{error}");
    assert_eq!(reader.page(i64::MIN, 10, 1 << 20).unwrap().rows.len(), 1);
    assert!(writer.state_count().is_err());
    assert_eq!(writer.state_count().unwrap(), 0);
    assert!(reader.is_read_only().unwrap());
}

/// `--watch` from MySQL follows inserts, survives the server dropping its sessions (the next
/// pass reconnects), and exits 0 on SIGTERM.
#[test]
fn watch_from_mysql_follows_changes_across_lost_sessions() {
    use std::io::BufRead;
    let source = Side::mysql("watch_src");
    let destination = Side::mysql("watch_dst");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at)]);
    let mut child = Command::new(BIN)
        .args([
            "sync",
            "--from",
            &source.url(),
            "--to",
            &destination.url(),
            "--watch",
            "--interval",
            "100ms",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait = std::time::Duration::from_secs(30);
    let first = rx.recv_timeout(wait).unwrap();
    assert!(first.contains("inserted 1"), "{first}");
    let (Side::Mysql(src), Side::Mysql(dst)) = (&source, &destination) else {
        unreachable!()
    };
    src.kill_other_sessions();
    dst.kill_other_sessions();
    source.upsert(&row(2, "two", "b", at, at));
    pg_support::wait_for(wait, "the insert after lost sessions arrives", || {
        destination.rows().len() == 2
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    pg_support::wait_for(wait, "sync --watch exits on SIGTERM", || {
        child.try_wait().unwrap().is_some()
    });
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(verify(&source, &destination).status.code(), Some(0));
}

/// MySQL into a running REST API (its database the replica), then verify across engines.
#[test]
fn mysql_to_rest_api() {
    let source = Side::mysql("to_rest");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[
        row(1, "one ☕", "a", at, at),
        row(5, "five", "e", at, "2024-02-01 00:00:00.25"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("rest.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(BIN)
        .args([
            "serve-rest",
            "--database",
            &database.to_string_lossy(),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "warn")
        .env_remove("ARTICLES_API_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    pg_support::wait_for(
        std::time::Duration::from_secs(30),
        "serve-rest listens",
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let api = format!("http://127.0.0.1:{port}");
    let out = articles(&[
        "sync",
        "--from",
        &source.url(),
        "--to",
        &api,
        "--state",
        &state,
    ]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("inserted 2"), "{said}");
    source.delete(1);
    let out = articles(&[
        "sync",
        "--from",
        &source.url(),
        "--to",
        &api,
        "--state",
        &state,
    ]);
    assert!(
        text(&out.stdout).contains("deleted 1"),
        "{}",
        text(&out.stdout)
    );
    let out = articles(&[
        "verify",
        "--from",
        &source.url(),
        "--to",
        &database.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// TLS as MySQL's own clients ask for it (`ssl-mode`, `ssl-ca` in the URL), against the test
/// server's self-signed certificate for 127.0.0.1 (scripts/mariadb.sh): encrypted sessions when
/// asked, a certificate nobody vouches for refused unless only encryption was asked.
#[test]
fn mysql_over_tls() {
    let source = Side::mysql("tls");
    let at = "2024-01-01 00:00:00";
    source.create_source(&[row(1, "one", "a", at, at)]);
    let ca = mysql_support::ca_path();
    let ca = ca.to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db").to_string_lossy().into_owned();
    for query in [
        "ssl-mode=REQUIRED".to_owned(),
        format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
        format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ] {
        let url = format!("{}?{query}", source.url());
        let out = articles(&["sync", "--from", &url, "--to", &b]);
        assert!(out.status.success(), "{query}: {}", text(&out.stderr));
        // The session is encrypted.
        let mut session = articles::db::mysql::MysqlSource::open(
            &url,
            "source",
            &articles::db::source_table::SourceTable::default(),
        )
        .unwrap();
        assert!(
            session.tls_cipher().unwrap().is_some(),
            "{query}: not encrypted"
        );
    }
    // Without TLS the same server answers in the clear (the default).
    let mut plain = articles::db::mysql::MysqlSource::open(
        &source.url(),
        "source",
        &articles::db::source_table::SourceTable::default(),
    )
    .unwrap();
    assert_eq!(plain.tls_cipher().unwrap(), None);
    // A self-signed certificate is not vouched for by the system's authorities.
    for (query, expected) in [
        ("ssl-mode=VERIFY_CA", "TLS: "),
        ("ssl-mode=PREFERRED", "ssl-mode=PREFERRED: expected"),
    ] {
        let url = format!("{}?{query}", source.url());
        let out = articles(&["sync", "--from", &url, "--to", &b]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{query}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: cannot open source mysql://") && err.contains(expected),
            "{query}: {err}"
        );
    }
}

/// A first load into an empty PostgreSQL database writes with COPY; when another writer adds a
/// row with an id of the batch meanwhile, the batch is applied the usual way instead (that row
/// updated to the source's version), and nothing is lost or doubled.
#[test]
fn first_load_into_postgres_meets_another_writer() {
    use articles::db::destination::SyncDestination;
    use articles::db::models::{ArticleId, Content, Timestamp, Title};
    use articles::db::pg::sync::PgDestination;
    use articles::db::sqlite::sync_state::StateEntry;
    use articles::db::write::{BulkChanges, UpsertRow};
    let db = TestDatabase::create("copy_conflict");
    let mut destination = PgDestination::open(&db.url).unwrap();
    let at = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z");
    let rows = |ids: std::ops::RangeInclusive<i64>| -> Vec<UpsertRow> {
        ids.map(|id| UpsertRow {
            id: ArticleId(id),
            title: Title::parse(format!("title {id}")).unwrap(),
            content: Content::parse(format!("content {id}")).unwrap(),
            created_at: at,
            updated_at: at,
        })
        .collect()
    };
    let state = |ids: std::ops::RangeInclusive<i64>| -> Vec<StateEntry> {
        ids.map(|id| StateEntry { id, digest: id }).collect()
    };
    let now = Timestamp::now();
    let first = BulkChanges::new(rows(1..=3), Vec::new()).unwrap();
    let outcome = destination.apply(&first, &state(1..=3), &[], now).unwrap();
    assert_eq!(outcome.inserted, 3);
    // Someone else writes id 5 before the next batch (ids 4 to 6) arrives.
    db.connect()
        .batch_execute(
            "INSERT INTO articles (id, title, content, title_folded, created_at, updated_at) \
             VALUES (5, 'theirs', 'x', 'theirs', now(), now()); \
             UPDATE article_stats SET articles = articles + 1",
        )
        .unwrap();
    let second = BulkChanges::new(rows(4..=6), Vec::new()).unwrap();
    let outcome = destination.apply(&second, &state(4..=6), &[], now).unwrap();
    assert_eq!((outcome.inserted, outcome.updated), (2, 1));
    assert_eq!(destination.state_count().unwrap(), 6);
    let copied = Side::Postgres(db).rows();
    assert_eq!(copied.len(), 6);
    assert_eq!(copied[4].1, "title 5");
}

/// A rerun from PostgreSQL compares server fingerprints before reading any text: an edit that
/// only changes case, or that keeps every timestamp, is still seen; rows read in full stop at a
/// batch's bytes, and the range ends there; a rerun with nothing changed reads no text at all.
#[actix_web::test]
async fn postgres_reruns_read_only_changed_rows() {
    reruns_read_only_changed_rows(Side::postgres("light")).await;
}

/// The same from MariaDB (CRC-32 and CRC-32C of the text).
#[actix_web::test]
async fn mysql_reruns_read_only_changed_rows() {
    reruns_read_only_changed_rows(Side::mysql("light")).await;
}

async fn reruns_read_only_changed_rows(source: Side) {
    use articles::sync::{Destination, SyncOptions, SyncPass};
    let at = "2024-01-01 00:00:00";
    let rows: Vec<Row> = (1..=25)
        .map(|i| {
            row(
                i,
                &format!("Title {i}"),
                &"x".repeat(i as usize * 40),
                at,
                at,
            )
        })
        .collect();
    source.create_source(&rows);
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.db");
    let destination = Side::Sqlite(b.clone());
    sync_ok(&source, &destination, &[]);
    // Case only, content in place (same timestamps, same length), one deleted, one new.
    source.upsert(&row(4, "title 4", &rows[3].2, at, at));
    source.upsert(&row(2, "Title 2", &"z".repeat(80), at, at));
    for id in [10, 11, 12, 13] {
        source.upsert(&row(id, &format!("Title {id}"), &"y".repeat(300), at, at));
    }
    source.delete(20);
    source.upsert(&row(30, "thirty", "z", at, at));

    let mut from = Source::open(&source.url(), "source").unwrap();
    assert!(from.has_light_pages());
    let mut to = Destination::open_sqlite(&b, false).unwrap();
    let options = SyncOptions {
        batch_rows: 100,
        batch_bytes: 700,
        ..SyncOptions::default()
    };
    let mut pass = SyncPass::new();
    let mut ranges = Vec::new();
    while !pass.is_complete() {
        let step = pass.step(&mut from, &mut to, &options).await.unwrap();
        ranges.push((
            step.done_through,
            step.counts.updated,
            step.counts.unchanged,
        ));
    }
    // 2 (80 bytes), 4 (160) + 10 and 11 (300 each) reach 700 bytes: the first range ends at 11.
    assert_eq!(ranges[0], (Some(11), 4, 7), "{ranges:?}");
    let totals = &pass.totals;
    assert_eq!(
        (
            totals.inserted,
            totals.updated,
            totals.deleted,
            totals.unchanged
        ),
        (1, 6, 1, 18),
        "{ranges:?}"
    );
    assert_eq!(verify(&source, &destination).status.code(), Some(0));
    let out = sync_ok(&source, &destination, &[]);
    assert!(
        out.contains("inserted 0, updated 0, deleted 0, unchanged 25"),
        "{out}"
    );
}
