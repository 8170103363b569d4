//! `articles sync` and `articles verify` with PostgreSQL on either side, through the real binary
//! and a real PostgreSQL (`scripts/postgres.sh start`): SQLite → PostgreSQL, PostgreSQL → SQLite
//! and PostgreSQL → PostgreSQL each copy, change, verify and rerun; the source is never written;
//! an unreachable server is one `error:` line naming the role.

mod pg_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use articles::db::pg::sync::PgSource;
use articles::sync::Source;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use tempfile::TempDir;

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

/// One side of a sync: a SQLite file or a PostgreSQL database.
enum Side {
    Sqlite(PathBuf),
    Postgres(TestDatabase),
}

impl Side {
    fn sqlite(dir: &TempDir, name: &str) -> Self {
        Self::Sqlite(dir.path().join(name))
    }

    fn postgres(test: &str) -> Self {
        Self::Postgres(TestDatabase::create(test))
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => path.to_string_lossy().into_owned(),
            Self::Postgres(db) => db.url.clone(),
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
    /// counts of inserted, updated and deleted tuples (once the statistics have settled).
    fn fingerprint(&self) -> (Vec<Row>, Vec<u8>, i64) {
        match self {
            Self::Sqlite(path) => (self.rows(), std::fs::read(path).unwrap(), 0),
            Self::Postgres(db) => (self.rows(), Vec::new(), settled_writes(db)),
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

#[test]
fn sqlite_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let source = Side::sqlite(&dir, "a.db");
    let destination = Side::postgres("sqlite_to_pg");
    // Someone else's row in the destination (no sync state): the first sync deletes it.
    destination.create_source(&[row(
        99,
        "stray",
        "x",
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00",
    )]);
    let empty = Side::sqlite(&dir, "empty.db");
    empty.create_source(&[]);
    let out = sync_ok(&empty, &destination, &[]);
    assert!(out.contains("deleted 1"), "{out}");
    assert!(destination.rows().is_empty());
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
    let dir = tempfile::tempdir().unwrap();
    let source = Side::postgres("small_batches");
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
    let out = sync_ok(&source, &destination, &["--batch-size", "4"]);
    assert!(out.contains("inserted 25, updated 0, deleted 0"), "{out}");
    assert_eq!(destination.rows(), rows);

    let Side::Postgres(db) = &source else {
        unreachable!()
    };
    let mut pg = PgSource::open(&db.url, "source").unwrap();
    // Cut by bytes as the SQLite source cuts: after the row that reaches the limit.
    let first = pg.page(i64::MIN, 10, 1000).unwrap();
    assert_eq!(first.rows.len(), 4);
    assert!(first.truncated);
    let mut copy = Source::open(&destination.url(), "destination").unwrap();
    assert_eq!(copy.page(i64::MIN, 10, 1000).unwrap(), first);
    assert!(
        pg.is_read_only().unwrap(),
        "a source session must be read-only"
    );
    let mut seen = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = pg.page(after, 10, 1000).unwrap();
        assert!(!page.rows.is_empty() || !page.truncated);
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.rows.last() {
            Some(last) if page.truncated => after = last.id,
            _ => break,
        }
    }
    assert_eq!(seen, rows.iter().map(|r| r.0).collect::<Vec<_>>());
    assert_eq!(pg.id_bounds().unwrap(), Some((3, 75)));
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
