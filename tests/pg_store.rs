//! The PostgreSQL store against a real PostgreSQL (see `pg_support`): the same answers as the
//! SQLite store for the same data and writes, the guarantees that must hold across replicas
//! (several `PgStore`s over one database), index use, and how failures are reported.

mod pg_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use articles::db::models::{Article, ArticleId, Content, Timestamp, Title, TitleError};
use articles::db::pg::{self, PgOptions, PgStore};
use articles::db::sqlite::{articles as sqlite_articles, SqliteStore as Store};
use articles::db::{
    BulkChanges, BulkOutcome, IdempotencyClaim, ListFilter, Page, Position, Precondition, Sort,
    SortKey, StoreError, UpsertRow, WriteError, WriteOp, WriteOutcome,
};
use chrono::{DateTime, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use pg_support::TestDatabase;

// ---------------------------------------------------------------------------------------------
// Both stores behind one face, for the equivalence tests.

/// A store under test: SQLite (its writer answers through a future) or PostgreSQL.
enum Subject {
    Sqlite {
        store: Store,
        runtime: tokio::runtime::Runtime,
        _dir: tempfile::TempDir,
    },
    Pg {
        store: PgStore,
        _db: TestDatabase,
    },
}

impl Subject {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("articles.db"), 2).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        Self::Sqlite {
            store,
            runtime,
            _dir: dir,
        }
    }

    fn pg(test: &str) -> Self {
        let db = TestDatabase::create(test);
        Self::Pg {
            store: db.store(),
            _db: db,
        }
    }

    fn write(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        match self {
            Self::Sqlite { store, runtime, .. } => runtime.block_on(store.write(op)),
            Self::Pg { store, .. } => store.write(op),
        }
    }

    fn list(&self, filter: &ListFilter) -> Page {
        match self {
            Self::Sqlite { store, .. } => {
                sqlite_articles::list(&mut store.reader().unwrap(), filter).unwrap()
            }
            Self::Pg { store, .. } => store.list(filter).unwrap(),
        }
    }

    fn get(&self, id: ArticleId) -> Option<Article> {
        match self {
            Self::Sqlite { store, .. } => {
                sqlite_articles::get(&mut store.reader().unwrap(), id).unwrap()
            }
            Self::Pg { store, .. } => store.get(id).unwrap(),
        }
    }

    fn count(&self) -> i64 {
        match self {
            Self::Sqlite { store, .. } => {
                sqlite_articles::count(&mut store.reader().unwrap()).unwrap()
            }
            Self::Pg { store, .. } => store.count().unwrap(),
        }
    }

    /// Every article, by id.
    fn all(&self) -> Vec<Article> {
        let page = self.list(&ListFilter {
            limit: 100_000,
            ..ListFilter::default()
        });
        assert!(page.next.is_none());
        page.articles
    }
}

fn title(text: &str) -> Title {
    Title::parse(text.to_owned()).unwrap()
}

fn content(text: &str) -> Content {
    Content::parse(text.to_owned()).unwrap()
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_utc(DateTime::from_timestamp_micros(micros).unwrap())
}

fn row(id: i64, t: &str, c: &str, created: Option<i64>, updated: Option<i64>) -> UpsertRow {
    UpsertRow {
        id: ArticleId(id),
        title: title(t),
        content: content(c),
        created_at: created.map(at),
        updated_at: updated.map(at),
    }
}

fn bulk(upsert: Vec<UpsertRow>, delete: &[i64]) -> WriteOp {
    WriteOp::Bulk(
        BulkChanges::new(upsert, delete.iter().map(|&id| ArticleId(id)).collect()).unwrap(),
    )
}

fn create(t: &str, c: &str) -> WriteOp {
    WriteOp::Create {
        title: title(t),
        content: content(c),
        idempotency: None,
    }
}

fn create_keyed(t: &str, c: &str, key: &str, hash: &str, ttl: Duration) -> WriteOp {
    WriteOp::Create {
        title: title(t),
        content: content(c),
        idempotency: Some(IdempotencyClaim {
            key: key.into(),
            request_hash: hash.into(),
            ttl,
        }),
    }
}

fn created(outcome: &Result<WriteOutcome, WriteError>) -> Article {
    match outcome {
        Ok(WriteOutcome::Created { article, .. }) => article.clone(),
        other => panic!("not a create: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Equivalence with SQLite.

/// Titles that fold, escape or count differently from plain ASCII.
const TRICKY: &[&str] = &[
    "Café au lait",
    "CAFÉ CRÈME",
    "Straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "ΟΔΟΣ",
    "οδός",
    "Σίσυφος",
    "ΣΊΣΥΦΟΣ",
    "party 🎉 time",
    "🎉",
    "100% pure",
    "under_score",
    r"back\slash",
    "quote 'single'",
    "quote \"double\"",
    "a",
    "ab",
    "x_y",
    "50%_off",
    "%",
    "_",
    r"\",
    "naïve NAÏVE",
    "ǅungla ǆ Ǆ",
    "ﬁne ligature",
    "K Kelvin sign",
    "Ω ohm",
    "  spaced out  ",
    "ÅNGSTRÖM",
    "日本語のタイトル",
    "Mixed Case Title",
    "tab-free title",
];

/// The list filters every sort is walked with: none, `q`s of every kind, `updated_since`,
/// both, and offsets.
fn filters(since: Timestamp) -> Vec<ListFilter> {
    let queries = [
        "é",
        "CAFÉ",
        "ss",
        "ß",
        "İ",
        "i̇",
        "σ",
        "ς",
        "ΟΣ",
        "Σ",
        "🎉",
        "%",
        "_",
        r"\",
        "'",
        "\"",
        "a",
        "ab",
        "50%_",
        "x_y",
        "ﬁ",
        "k",
        "title",
        "#1",
        "#12",
        "zzz nothing",
        "E",
        " ",
        "a\tb",
    ];
    let mut all = vec![ListFilter::default()];
    for q in queries {
        all.push(ListFilter {
            title_contains: Some(q.into()),
            ..ListFilter::default()
        });
    }
    all.push(ListFilter {
        updated_since: Some(since),
        ..ListFilter::default()
    });
    all.push(ListFilter {
        title_contains: Some("a".into()),
        updated_since: Some(since),
        ..ListFilter::default()
    });
    all.push(ListFilter {
        offset: 5,
        ..ListFilter::default()
    });
    all.push(ListFilter {
        offset: 3,
        title_contains: Some("e".into()),
        ..ListFilter::default()
    });
    all.push(ListFilter {
        offset: 10_000,
        ..ListFilter::default()
    });
    all
}

/// Walks every page of `filter` (first page with its offset, then by cursor).
fn walk(subject: &Subject, filter: &ListFilter) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut filter = filter.clone();
    loop {
        let page = subject.list(&filter);
        let next = page.next;
        pages.push(page);
        match next {
            Some(position) => {
                filter.after = Some(position);
                filter.offset = 0;
            }
            None => return pages,
        }
        assert!(pages.len() < 1000, "the walk does not end");
    }
}

/// The same dataset written through the same `WriteOp`s to a SQLite store and to a PostgreSQL
/// store lists the same pages (articles, total, next) in every order, with and without `q`,
/// `updated_since` and `offset`, page after page.
#[test]
fn sqlite_and_postgres_list_the_same_pages() {
    let sqlite = Subject::sqlite();
    let pg = Subject::pg("same_pages");
    let base = 1_780_000_000_000_000i64; // 2026-05-28
    let mut rows = Vec::new();
    for i in 0..320i64 {
        let tricky = TRICKY[i as usize % TRICKY.len()];
        let text = match i % 4 {
            0 => tricky.to_owned(),
            1 => format!("{tricky} #{i}"),
            2 => format!("#{i} {}", tricky.to_uppercase()),
            _ => format!("plain title {i}"),
        };
        // Ties in groups of three; whole seconds, whole milliseconds and microseconds (SQLite
        // keeps each as different text).
        let created = base
            + (i / 3)
                * match i % 3 {
                    0 => 1_000_000,
                    1 => 1_000,
                    _ => 1,
                };
        let updated = match i % 5 {
            0 => created,
            1 => created + 250_000_000,
            2 => base + 7_000_000,
            _ => created + (i * 7919) % 3_000_000_000,
        };
        rows.push(row(
            1 + i * 3,
            &text,
            &format!("content {i}"),
            Some(created),
            Some(updated),
        ));
    }
    // The first and last instants RFC 3339 can write (PostgreSQL's year 0 is 1 BC).
    rows.push(row(
        2000,
        "Year zero",
        "c",
        Some(-62_167_219_200_000_000),
        None,
    ));
    rows.push(row(
        2001,
        "Year 9999",
        "c",
        None,
        Some(253_402_300_799_999_999),
    ));
    let second_half = rows.split_off(160);
    for subject in [&sqlite, &pg] {
        assert!(subject.write(bulk(rows.clone(), &[])).is_ok());
        assert!(subject.write(bulk(second_half.clone(), &[])).is_ok());
        // Some retitled and re-stamped, some deleted.
        let changes = vec![
            row(4, "Retitled ΣΟΦΊΑ", "changed", None, Some(base + 9_999_999)),
            row(10, "straße again", "content 3", None, None),
        ];
        assert!(subject.write(bulk(changes, &[7, 13, 100, 958])).is_ok());
    }
    // Stamped `now` by the second batch on each store: put both at the same instant.
    let now_stamped = pg.get(ArticleId(10)).unwrap();
    let fix = vec![row(
        10,
        "straße again",
        "content 3",
        Some(now_stamped.created_at.and_utc().timestamp_micros()),
        Some(base + 5_000_000),
    )];
    for subject in [&sqlite, &pg] {
        subject.write(bulk(fix.clone(), &[])).unwrap();
    }
    assert_eq!(sqlite.all(), pg.all());
    assert_eq!(sqlite.count(), pg.count());
    assert_eq!(pg.count(), 318);

    let since = at(base + 200_000_000);
    let mut walks = 0;
    for filter in filters(since) {
        for sort in Sort::ALL {
            for limit in [7, 1000] {
                let filter = ListFilter {
                    sort,
                    limit,
                    ..filter.clone()
                };
                let expected = walk(&sqlite, &filter);
                let got = walk(&pg, &filter);
                assert_eq!(got, expected, "{filter:?}");
                walks += 1;
            }
        }
    }
    assert!(walks > 400);
}

/// Timestamps in a transcript, replaced by their rank among all the transcript's timestamps:
/// the two stores stamp `now` at different instants, but in the same order.
fn normalise(transcript: &[Result<WriteOutcome, WriteError>], state: &[Article]) -> Vec<String> {
    let mut ids: HashMap<i64, usize> = HashMap::new();
    let mut instants = BTreeSet::new();
    let articles = transcript
        .iter()
        .filter_map(|outcome| match outcome {
            Ok(WriteOutcome::Created { article, .. }) | Ok(WriteOutcome::Updated(article)) => {
                Some(article)
            }
            _ => None,
        })
        .chain(state);
    for article in articles.clone() {
        instants.insert(article.created_at);
        instants.insert(article.updated_at);
    }
    let rank: HashMap<NaiveDateTime, usize> = instants
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i))
        .collect();
    let mut show = |article: &Article| {
        let next = ids.len();
        let id = *ids.entry(article.id).or_insert(next);
        format!(
            "#{id} {:?} {:?} created t{} updated t{}",
            article.title, article.content, rank[&article.created_at], rank[&article.updated_at]
        )
    };
    let mut lines: Vec<String> = transcript
        .iter()
        .map(|outcome| match outcome {
            Ok(WriteOutcome::Created { article, replayed }) => {
                format!("created {} replayed={replayed}", show(article))
            }
            Ok(WriteOutcome::Updated(article)) => format!("updated {}", show(article)),
            Ok(other) => format!("{other:?}"),
            Err(error) => format!("error {error:?}"),
        })
        .collect();
    lines.extend(
        state
            .iter()
            .map(|article| format!("state {}", show(article))),
    );
    lines
}

/// One script of writes (creates with and without Idempotency-Keys, updates and deletes with
/// and without If-Match, bulk with keep_newer and unchanged rows) on `subject`; the outcomes in
/// order, then every article.
fn run_script(subject: &Subject) -> (Vec<Result<WriteOutcome, WriteError>>, Vec<Article>) {
    let hour = Duration::from_secs(3600);
    let mut log = Vec::new();
    // Runs `op`, logs its outcome, and gives the article it created or updated.
    let mut step = |op: WriteOp| -> Option<Article> {
        let outcome = subject.write(op);
        log.push(outcome.clone());
        match outcome {
            Ok(WriteOutcome::Created { article, .. }) | Ok(WriteOutcome::Updated(article)) => {
                Some(article)
            }
            _ => None,
        }
    };
    let a = step(create("First", "a")).unwrap();
    let b = step(create_keyed("Keyed", "b", "k1", "h1", hour)).unwrap();
    step(create_keyed("Keyed", "b", "k1", "h1", hour)); // replayed
    step(create_keyed("Other", "x", "k1", "h2", hour)); // reused
    let t0 = step(create_keyed("T0", "c", "k0", "h", Duration::ZERO)).unwrap();
    step(create_keyed("T0", "c", "k0", "h", Duration::ZERO)); // expired at once: a new one
    step(WriteOp::Update {
        id: a.id(),
        title: Some(title("First, edited")),
        content: None,
        precondition: Precondition::None,
    });
    step(WriteOp::Update {
        id: a.id(),
        title: None,
        content: Some(content("stale")),
        precondition: Precondition::VersionIn(vec![a.version_tag()]),
    });
    let current = subject.get(a.id()).unwrap();
    step(WriteOp::Update {
        id: a.id(),
        title: Some(title("First, matched")),
        content: None,
        precondition: Precondition::VersionIn(vec![12_345, current.version_tag()]),
    });
    step(WriteOp::Update {
        id: a.id(),
        title: None,
        content: None,
        precondition: Precondition::Exists,
    });
    for precondition in [
        Precondition::Exists,
        Precondition::None,
        Precondition::VersionIn(vec![1]),
    ] {
        step(WriteOp::Update {
            id: ArticleId(999_999),
            title: Some(title("nobody")),
            content: None,
            precondition: precondition.clone(),
        });
        step(WriteOp::Delete {
            id: ArticleId(999_999),
            precondition,
        });
    }
    step(WriteOp::Delete {
        id: b.id(),
        precondition: Precondition::VersionIn(vec![0]),
    });
    let b_now = subject.get(b.id()).unwrap();
    step(WriteOp::Delete {
        id: b.id(),
        precondition: Precondition::VersionIn(vec![b_now.version_tag()]),
    });
    step(WriteOp::Delete {
        id: b.id(),
        precondition: Precondition::None,
    });
    let base = 1_700_000_000_000_000;
    let a_now = subject.get(a.id()).unwrap();
    let first_batch = || {
        vec![
            row(5000, "Bulk new", "n", None, None),
            row(5001, "Bulk created only", "n", Some(base), None),
            row(5002, "Bulk both", "n", Some(base), Some(base + 10)),
            row(a.id, &a_now.title, &a_now.content, None, None), // unchanged
            row(t0.id, "T0 retitled", "c", None, None),          // updated, stamped now
        ]
    };
    step(bulk(first_batch(), &[5003, 5004]));
    step(bulk(first_batch(), &[5003]));
    step(WriteOp::Bulk(
        BulkChanges::new(
            vec![
                row(5002, "Bulk both, older", "n", None, Some(base + 5)), // stale
                row(5001, "Bulk created, same time", "n", None, Some(base)), // equal: applied
                row(5000, "Bulk new", "new content", None, None),         // updated now
            ],
            vec![],
        )
        .unwrap()
        .keep_newer(true),
    ));
    step(bulk(
        vec![row(5002, "Bulk both, older", "n", None, Some(base + 5))],
        &[],
    ));
    step(WriteOp::Probe);
    let after_bulk = step(create("After bulk", "fresh id")).unwrap();
    assert!(after_bulk.id > 5002, "{after_bulk:?}");
    step(WriteOp::Delete {
        id: ArticleId(5000),
        precondition: Precondition::Exists,
    });
    (log, subject.all())
}

/// A script of creates, updates, deletes and batches has the same outcomes on both stores (ids
/// and instants compared by their order of appearance), leaves the same articles, and keeps the
/// same count.
#[test]
fn sqlite_and_postgres_answer_writes_alike() {
    let sqlite = Subject::sqlite();
    let pg = Subject::pg("same_writes");
    let (sqlite_log, sqlite_state) = run_script(&sqlite);
    let (pg_log, pg_state) = run_script(&pg);
    let expected = normalise(&sqlite_log, &sqlite_state);
    let got = normalise(&pg_log, &pg_state);
    for (line, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(g, e, "line {line}");
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(pg.count(), sqlite.count());
    assert_eq!(pg.count(), pg_state.len() as i64);
    // Spot checks of the script itself, so that "alike" is not "alike and wrong".
    assert!(expected.iter().any(|l| l.contains("replayed=true")));
    assert!(expected.iter().any(|l| l == "error IdempotencyKeyReused"));
    assert!(expected.iter().any(|l| l == "error PreconditionFailed"));
    assert!(expected.iter().any(|l| l.contains(
        "Bulk(BulkOutcome { inserted: 3, updated: 1, unchanged: 1, deleted: 0, stale: 0 })"
    )));
    assert!(expected.iter().any(|l| l.contains(
        "Bulk(BulkOutcome { inserted: 0, updated: 0, unchanged: 5, deleted: 0, stale: 0 })"
    )));
    assert!(expected.iter().any(|l| l.contains(
        "Bulk(BulkOutcome { inserted: 0, updated: 2, unchanged: 0, deleted: 0, stale: 1 })"
    )));
}

// ---------------------------------------------------------------------------------------------
// Replicas: several stores over one database.

/// Concurrent If-Match updates of one article through two replicas: exactly one wins, every
/// other is told its version is gone.
#[test]
fn if_match_has_one_winner_across_replicas() {
    let db = TestDatabase::create("if_match");
    let replicas = [db.store(), db.store()];
    let article = created(&replicas[0].write(create("Contended", "v1")));
    let id = article.id();
    let tag = article.version_tag();
    for round in 0..3 {
        let current = replicas[0].get(id).unwrap().unwrap();
        let tag = if round == 0 {
            tag
        } else {
            current.version_tag()
        };
        let writers = 12;
        let barrier = Arc::new(Barrier::new(writers));
        let outcomes: Vec<Result<WriteOutcome, WriteError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..writers)
                .map(|i| {
                    let store = replicas[i % 2].clone();
                    let barrier = Arc::clone(&barrier);
                    s.spawn(move || {
                        barrier.wait();
                        store.write(WriteOp::Update {
                            id,
                            title: Some(title(&format!("winner {round}.{i}"))),
                            content: None,
                            precondition: Precondition::VersionIn(vec![tag]),
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .filter(|o| o.is_err())
                .all(|o| o == &Err(WriteError::PreconditionFailed)),
            "{outcomes:?}"
        );
        let Ok(WriteOutcome::Updated(winner)) = won[0] else {
            panic!()
        };
        assert_eq!(replicas[1].get(id).unwrap().as_ref(), Some(winner));
    }
    // Deletes race the same way.
    let current = replicas[0].get(id).unwrap().unwrap();
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = replicas[i % 2].clone();
                let tag = current.version_tag();
                s.spawn(move || {
                    store.write(WriteOp::Delete {
                        id,
                        precondition: Precondition::VersionIn(vec![tag]),
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Ok(WriteOutcome::Deleted))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Ok(WriteOutcome::Deleted) | Err(WriteError::NotFound | WriteError::PreconditionFailed)
    )));
    assert_eq!(replicas[0].count().unwrap(), 0);
}

/// The same Idempotency-Key sent through two replicas at once creates one article; every
/// other request replays it.
#[test]
fn one_idempotency_key_creates_one_article_across_replicas() {
    let db = TestDatabase::create("idempotency");
    let replicas = [db.store(), db.store()];
    let requests = 16;
    let barrier = Arc::new(Barrier::new(requests));
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..requests)
            .map(|i| {
                let store = replicas[i % 2].clone();
                let barrier = Arc::clone(&barrier);
                s.spawn(move || {
                    barrier.wait();
                    store.write(create_keyed(
                        "Once",
                        "only once",
                        "same-key",
                        "same-body",
                        Duration::from_secs(3600),
                    ))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let articles: Vec<(Article, bool)> = outcomes
        .iter()
        .map(|o| match o {
            Ok(WriteOutcome::Created { article, replayed }) => (article.clone(), *replayed),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(articles.iter().filter(|(_, replayed)| !replayed).count(), 1);
    assert!(articles.iter().all(|(a, _)| *a == articles[0].0));
    assert_eq!(replicas[1].count().unwrap(), 1);
    assert_eq!(
        replicas[0].write(create_keyed(
            "Once",
            "other body",
            "same-key",
            "other",
            Duration::from_secs(60)
        )),
        Err(WriteError::IdempotencyKeyReused)
    );
}

/// Ids given by a bulk (or sync) never collide with ids the database gives later, also when the
/// sequence was left behind the table (two replicas racing their `setval`s).
#[test]
fn created_ids_never_collide_with_bulk_ids() {
    let db = TestDatabase::create("ids");
    let store = db.store();
    let first = created(&store.write(create("first", "c")));
    assert_eq!(first.id, 1);
    store
        .write(bulk(
            (2..=40)
                .chain([1000])
                .map(|id| row(id, &format!("synced {id}"), "c", None, None))
                .collect(),
            &[],
        ))
        .unwrap();
    #[derive(QueryableByName)]
    struct Sequence {
        #[diesel(sql_type = BigInt)]
        last_value: i64,
    }
    let sequence: Sequence = diesel::sql_query("SELECT last_value FROM articles_id_seq")
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(sequence.last_value, 1000, "the bulk moved the sequence");
    let next = created(&store.write(create("after the bulk", "c")));
    assert_eq!(next.id, 1001);
    // A sequence set back below the table's ids (what a lost race of setvals leaves): the create
    // meets a taken id, moves the sequence past the table and succeeds.
    db.connect()
        .batch_execute("SELECT setval('articles_id_seq', 30)")
        .unwrap();
    let third = created(&store.write(create("after a race", "c")));
    assert_eq!(third.id, 1002);
    // Bulk ids below the sequence leave it alone.
    store
        .write(bulk(vec![row(500, "low", "c", None, None)], &[]))
        .unwrap();
    assert_eq!(created(&store.write(create("later", "c"))).id, 1003);
    assert_eq!(store.count().unwrap(), 45);
}

/// Four replicas opening a fresh database at once: all succeed, and the migrations ran once.
#[test]
fn replicas_starting_at_once_migrate_once() {
    let db = TestDatabase::create("migrate_once");
    let barrier = Arc::new(Barrier::new(4));
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let url = db.url.clone();
                s.spawn(move || {
                    barrier.wait();
                    PgStore::open(&url, &pg_support::options())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let versions: Vec<Version> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(&mut db.connect())
            .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version, "20261208000000");
    for store in &stores {
        store.check_readable().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Index use.

/// Whether a plan (EXPLAIN's JSON) reads `articles` by a sequential scan, and which indexes it
/// uses.
fn scans(plan: &serde_json::Value, seq_scans: &mut usize, indexes: &mut BTreeSet<String>) {
    if let Some(node) = plan.as_object() {
        if node.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan")
            && node.get("Relation Name").and_then(|t| t.as_str()) == Some("articles")
        {
            *seq_scans += 1;
        }
        if let Some(index) = node.get("Index Name").and_then(|i| i.as_str()) {
            indexes.insert(index.to_owned());
        }
        for value in node.values() {
            scans(value, seq_scans, indexes);
        }
    } else if let Some(items) = plan.as_array() {
        for item in items {
            scans(item, seq_scans, indexes);
        }
    }
}

/// On 20,000 articles, every list a client pages through reads indexes, never the table from
/// end to end: the first page and a cursor page of every order, `updated_since`, and a `q` of
/// three characters or more (its count through the trigram index).
#[test]
fn lists_read_indexes() {
    let db = TestDatabase::create("explain");
    let store = db.store();
    let base = 1_780_000_000_000_000i64;
    let words = [
        "river", "mountain", "forest", "desert", "ocean", "valley", "island",
    ];
    for chunk in 0..4 {
        let rows = (chunk * 5000..(chunk + 1) * 5000)
            .map(|i| {
                let word = if i % 4000 == 7 {
                    "zebra"
                } else {
                    words[i as usize % words.len()]
                };
                row(
                    i + 1,
                    &format!("{word} article {i}"),
                    "some content",
                    Some(base + i * 1_000_000),
                    Some(base + ((i * 7919) % 20_000) * 1_000_000),
                )
            })
            .collect();
        store.write(bulk(rows, &[])).unwrap();
    }
    db.connect()
        .batch_execute("VACUUM ANALYZE articles")
        .unwrap();

    let mut cases: Vec<(String, ListFilter, Option<&str>)> = Vec::new();
    for sort in Sort::ALL {
        let first = ListFilter {
            sort,
            limit: 20,
            ..ListFilter::default()
        };
        let page = store.list(&first).unwrap();
        cases.push((format!("first page {}", sort.name()), first.clone(), None));
        cases.push((
            format!("cursor page {}", sort.name()),
            ListFilter {
                after: page.next,
                ..first.clone()
            },
            None,
        ));
        cases.push((
            format!("cursor page {} with offset", sort.name()),
            ListFilter {
                after: page.next,
                offset: 40,
                ..first.clone()
            },
            None,
        ));
    }
    for sort in [
        Sort::asc(SortKey::UpdatedAt),
        Sort::desc(SortKey::UpdatedAt),
        Sort::asc(SortKey::Id),
    ] {
        cases.push((
            format!("updated_since {}", sort.name()),
            ListFilter {
                sort,
                limit: 20,
                updated_since: Some(at(base + 19_800 * 1_000_000)),
                ..ListFilter::default()
            },
            Some("articles_updated_at"),
        ));
    }
    for sort in Sort::ALL {
        cases.push((
            format!("q zebra {}", sort.name()),
            ListFilter {
                sort,
                limit: 20,
                title_contains: Some("ZEBRA".into()),
                ..ListFilter::default()
            },
            Some("articles_title_folded_trgm"),
        ));
    }
    for (what, filter, expected_index) in cases {
        let plans = store.explain_list(&filter).unwrap();
        let mut seq_scans = 0;
        let mut indexes = BTreeSet::new();
        for plan in &plans {
            scans(
                &serde_json::from_str(plan).unwrap(),
                &mut seq_scans,
                &mut indexes,
            );
        }
        assert_eq!(seq_scans, 0, "{what}: {plans:?}");
        assert!(!indexes.is_empty(), "{what}: {plans:?}");
        if let Some(index) = expected_index {
            assert!(
                indexes.contains(index),
                "{what} uses {indexes:?}: {plans:?}"
            );
        }
    }
    // And the answers are right.
    let zebras = store
        .list(&ListFilter {
            limit: 100,
            title_contains: Some("zeBRa".into()),
            ..ListFilter::default()
        })
        .unwrap();
    assert_eq!(zebras.total, 5);
    assert_eq!(zebras.articles.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Failures.

/// A server nobody listens for: opening fails at once with one line that names the database
/// without its password, and the failure is "unavailable" (retry later).
#[test]
fn unreachable_server_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://articles:hunter2@127.0.0.1:{port}/nowhere");
    let options = PgOptions {
        connect_timeout: Duration::from_secs(2),
        ..pg_support::options()
    };
    let error = PgStore::open(&url, &options).unwrap_err();
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.starts_with(&format!(
            "cannot connect to PostgreSQL database postgres://articles@127.0.0.1:{port}/nowhere: "
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    let store_error = error.store_error();
    assert!(matches!(store_error, StoreError::Unavailable(_)));
    assert!(store_error.is_retryable());
}

/// libpq is built with TLS: `sslmode=require` reaches the server and is refused there (the
/// tests' server has no certificate), not refused by a libpq that cannot speak TLS.
#[test]
fn libpq_speaks_tls() {
    let db = TestDatabase::create("tls");
    let error = PgStore::open(
        &format!("{}?sslmode=require", db.url),
        &pg_support::options(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("server does not support SSL"), "{error}");
    assert!(!error.contains("not compiled in"), "{error}");
}

/// A server restart: while it is down every call fails "unavailable" (retryable); once it is
/// back, reads go on at once and writes after at most one failure per pooled connection (a
/// single-statement write on a dropped connection may or may not have been sent), with no
/// restart of the store.
#[test]
fn a_restarted_server_is_used_again() {
    let server = pg_support::OwnServer::start("restart");
    let pool_size = 2;
    let store = PgStore::open(
        &server.url(),
        &PgOptions {
            pool_size,
            connect_timeout: Duration::from_secs(1),
            ..pg_support::options()
        },
    )
    .unwrap();
    let article = created(&store.write(create("before", "c")));

    server.run("stop");
    let down = store.get(article.id()).unwrap_err();
    assert!(matches!(down, StoreError::Unavailable(_)), "{down:?}");
    match store.write(create("while down", "c")) {
        Err(WriteError::Store(error @ StoreError::Unavailable(_))) => {
            assert!(error.is_retryable())
        }
        other => panic!("{other:?}"),
    }
    assert!(store.check_readable().is_err());

    server.run("start");
    assert_eq!(store.get(article.id()).unwrap(), Some(article));
    store.check_readable().unwrap();
    let mut failures = 0;
    loop {
        match store.write(create("after", "c")) {
            Ok(_) => break,
            Err(WriteError::Store(StoreError::Unavailable(_))) if failures < pool_size => {
                failures += 1
            }
            other => panic!("after {failures} failures: {other:?}"),
        }
    }
    assert_eq!(store.count().unwrap(), 2);
}

/// Connections the server dropped (a restart, a failover) are replaced without a restart of
/// ours: reads and transactions go on at once on new connections; a single-statement write that
/// met a dropped connection is reported unavailable (retryable: it may or may not have been
/// sent), and the next one succeeds.
#[test]
fn dropped_connections_are_replaced() {
    let db = TestDatabase::create("dropped");
    // One connection, so that each step meets the one the server dropped.
    let store = db.store_with(&PgOptions {
        pool_size: 1,
        ..pg_support::options()
    });
    let article = created(&store.write(create("survivor", "c")));

    db.terminate_other_sessions();
    assert_eq!(store.get(article.id()).unwrap(), Some(article.clone()));

    db.terminate_other_sessions();
    let outcome = store.write(bulk(vec![row(50, "bulk after", "c", None, None)], &[]));
    assert!(matches!(outcome, Ok(WriteOutcome::Bulk(_))), "{outcome:?}");

    db.terminate_other_sessions();
    match store.write(create("maybe", "c")) {
        Err(WriteError::Store(error @ StoreError::Unavailable(_))) => {
            assert!(error.is_retryable())
        }
        other => panic!("a create on a dropped connection: {other:?}"),
    }
    assert!(store.write(create("after", "c")).is_ok());
    assert_eq!(store.count().unwrap(), 3);
}

/// A database that goes away is "unavailable" (not a bug, not the client's fault).
#[test]
fn a_vanished_database_is_unavailable() {
    let db = TestDatabase::create("vanished");
    let store = db.store_with(&PgOptions {
        connect_timeout: Duration::from_secs(1),
        ..pg_support::options()
    });
    store.check_readable().unwrap();
    let mut admin = PgConnection::establish(&pg_support::admin_url()).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", db.name))
        .unwrap();
    let error = store.check_readable().unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    match store.write(create("lost", "c")) {
        Err(WriteError::Store(StoreError::Unavailable(_))) => {}
        other => panic!("{other:?}"),
    }
}

/// A write that waits for a lock longer than the statement timeout is "busy" (retry shortly).
#[test]
fn lock_waits_past_the_statement_timeout_are_busy() {
    let db = TestDatabase::create("busy");
    let store = db.store_with(&PgOptions {
        statement_timeout: Duration::from_millis(300),
        ..pg_support::options()
    });
    let article = created(&store.write(create("locked", "c")));
    let mut holder = db.connect();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM articles WHERE id = {} FOR UPDATE; \
             SELECT 1 FROM article_stats FOR UPDATE;",
            article.id
        ))
        .unwrap();
    for op in [
        WriteOp::Update {
            id: article.id(),
            title: Some(title("blocked")),
            content: None,
            precondition: Precondition::None,
        },
        create("blocked", "c"),
        bulk(vec![row(article.id, "blocked", "c", None, None)], &[]),
    ] {
        match store.write(op) {
            Err(WriteError::Store(error @ StoreError::Busy(_))) => assert!(error.is_retryable()),
            other => panic!("{other:?}"),
        }
    }
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(store
        .write(WriteOp::Update {
            id: article.id(),
            title: Some(title("free")),
            content: None,
            precondition: Precondition::None,
        })
        .is_ok());
}

/// Rows another tool writes past the rules are refused by the database, naming the field as the
/// API does; and the rules are the domain types' own, character for character.
#[test]
fn the_database_enforces_the_article_rules() {
    let db = TestDatabase::create("rules");
    let _store = db.store();
    let mut conn = db.connect();
    let insert = |conn: &mut PgConnection, t: &str| {
        diesel::sql_query(
            "INSERT INTO articles (title, content, created_at, updated_at, title_folded) \
             VALUES ($1, '', '2026-01-01', '2026-01-01', '')",
        )
        .bind::<Text, _>(t)
        .execute(conn)
    };
    for (bad, error) in [
        ("tab\there", TitleError::ControlCharacter),
        ("next line \u{85}", TitleError::ControlCharacter),
        (" \u{3000}\u{2029} ", TitleError::Blank),
        (&"é".repeat(201), TitleError::TooLong),
    ] {
        let refused = pg::error::classify(&insert(&mut conn, bad).unwrap_err());
        assert_eq!(
            refused,
            StoreError::Refused {
                field: "title",
                problem: error.to_string()
            },
            "{bad:?}"
        );
    }
    insert(&mut conn, &"🎉".repeat(200)).unwrap();

    // Every code point (but NUL, which no PostgreSQL text holds) as a one-character title: the
    // constraints refuse exactly what Title::parse refuses, for the same reason.
    #[derive(QueryableByName)]
    struct Def {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        def: String,
    }
    let defs: Vec<Def> = diesel::sql_query(
        "SELECT conname::text AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE conrelid = 'articles'::regclass AND contype = 'c' ORDER BY conname",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(
        defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["title_length", "title_no_control", "title_not_blank"]
    );
    #[derive(QueryableByName)]
    struct Refused {
        #[diesel(sql_type = Integer)]
        c: i32,
    }
    for (name, expected) in [
        ("title_no_control", TitleError::ControlCharacter),
        ("title_not_blank", TitleError::Blank),
    ] {
        let def = &defs.iter().find(|d| d.name == name).unwrap().def;
        let condition = def.strip_prefix("CHECK ").unwrap();
        let refused: BTreeSet<i32> = diesel::sql_query(format!(
            "SELECT c FROM generate_series(1, 1114111) c, LATERAL (SELECT chr(c) AS title) t \
             WHERE c NOT BETWEEN 55296 AND 57343 AND NOT {condition}"
        ))
        .load::<Refused>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.c)
        .collect();
        let rust: BTreeSet<i32> = (1..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| match expected {
                // Control characters that are whitespace too break both rules in SQL; Rust
                // names the first.
                TitleError::Blank => c.is_whitespace(),
                _ => Title::parse(c.to_string()) == Err(expected),
            })
            .map(|c| c as i32)
            .collect();
        assert_eq!(refused, rust, "{name}");
    }
}

/// src/db/pg/schema.rs (written by hand) is the migrated database: the same tables, columns in
/// the same order, the types Diesel reads them as, and none nullable.
#[test]
fn the_hand_written_schema_is_the_migrated_one() {
    use ::articles::db::pg::schema::{article_stats, articles, idempotency_keys, sync_state};
    let db = TestDatabase::create("schema");
    let _store = db.store();
    let mut conn = db.connect();
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        nullable: String,
    }
    let columns_of = |conn: &mut PgConnection, table: &str| -> Vec<String> {
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT column_name::text AS name, is_nullable::text AS nullable \
             FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load(conn)
        .unwrap();
        assert!(columns.iter().all(|c| c.nullable == "NO"), "{table}");
        columns.into_iter().map(|c| c.name).collect()
    };
    // `SELECT "articles"."id", "articles"."title", … FROM …`: the column names.
    let select_of = |sql: String| -> Vec<String> {
        let columns = sql
            .strip_prefix("SELECT ")
            .unwrap()
            .split(" FROM ")
            .next()
            .unwrap();
        columns
            .split(", ")
            .map(|part| {
                part.rsplit('.')
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            })
            .collect()
    };
    use diesel::pg::Pg;
    assert_eq!(
        select_of(
            diesel::debug_query::<Pg, _>(&articles::table.select(articles::all_columns))
                .to_string()
        ),
        columns_of(&mut conn, "articles")
    );
    assert_eq!(
        select_of(
            diesel::debug_query::<Pg, _>(&article_stats::table.select(article_stats::all_columns))
                .to_string()
        ),
        columns_of(&mut conn, "article_stats")
    );
    assert_eq!(
        select_of(
            diesel::debug_query::<Pg, _>(
                &idempotency_keys::table.select(idempotency_keys::all_columns)
            )
            .to_string()
        ),
        columns_of(&mut conn, "idempotency_keys")
    );
    assert_eq!(
        select_of(
            diesel::debug_query::<Pg, _>(&sync_state::table.select(sync_state::all_columns))
                .to_string()
        ),
        columns_of(&mut conn, "sync_state")
    );
    // The types: a row of every table written and read back through Diesel (a wrong width or
    // type fails to decode).
    let t = at(1_780_000_000_123_456).naive();
    diesel::insert_into(articles::table)
        .values((
            articles::id.eq(7),
            articles::title.eq("T"),
            articles::content.eq("c"),
            articles::created_at.eq(t),
            articles::updated_at.eq(t),
            articles::title_folded.eq("t"),
        ))
        .execute(&mut conn)
        .unwrap();
    let read: (i64, String, String, NaiveDateTime, NaiveDateTime, String) =
        articles::table.first(&mut conn).unwrap();
    assert_eq!(read, (7, "T".into(), "c".into(), t, t, "t".into()));
    let stats: (i32, i64) = article_stats::table.first(&mut conn).unwrap();
    assert_eq!(stats, (1, 0));
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::key.eq("k"),
            idempotency_keys::request_hash.eq("h"),
            idempotency_keys::article_id.eq(7),
            idempotency_keys::created_at.eq(t),
        ))
        .execute(&mut conn)
        .unwrap();
    let key: (String, String, i64, NaiveDateTime) =
        idempotency_keys::table.first(&mut conn).unwrap();
    assert_eq!(key, ("k".into(), "h".into(), 7, t));
    diesel::insert_into(sync_state::table)
        .values((sync_state::id.eq(7), sync_state::digest.eq(i64::MIN)))
        .execute(&mut conn)
        .unwrap();
    let state: (i64, i64) = sync_state::table.first(&mut conn).unwrap();
    assert_eq!(state, (7, i64::MIN));
}

/// Positions are the SQLite store's: a cursor made by one store continues a walk on the other.
#[test]
fn positions_carry_between_stores() {
    let pg = Subject::pg("positions");
    let sqlite = Subject::sqlite();
    let rows: Vec<UpsertRow> = (1..=30)
        .map(|i| {
            row(
                i,
                &format!("t{i}"),
                "c",
                Some(1_780_000_000_000_000 + (i % 4) * 1000),
                None,
            )
        })
        .collect();
    for subject in [&sqlite, &pg] {
        subject.write(bulk(rows.clone(), &[])).unwrap();
    }
    let sort = Sort::desc(SortKey::CreatedAt);
    let filter = ListFilter {
        sort,
        limit: 4,
        ..ListFilter::default()
    };
    let first = sqlite.list(&filter);
    let position: Position = first.next.unwrap();
    let on_pg = pg.list(&ListFilter {
        after: Some(position),
        ..filter.clone()
    });
    let on_sqlite = sqlite.list(&ListFilter {
        after: Some(position),
        ..filter
    });
    assert_eq!(on_pg, on_sqlite);
    assert_eq!(on_pg.total, 30);
}

/// The bulk outcome counts of an empty batch, and the kept count after batches that insert
/// and delete the same ids many times, match the table.
#[test]
fn the_kept_count_follows_every_write() {
    let db = TestDatabase::create("kept_count");
    let store = db.store();
    assert_eq!(
        store.write(bulk(vec![], &[])),
        Ok(WriteOutcome::Bulk(BulkOutcome::default()))
    );
    for round in 0..5 {
        let rows = (1..=50)
            .filter(|id| (id + round) % 3 != 0)
            .map(|id| row(id, &format!("r{round} {id}"), "c", None, None))
            .collect();
        let deletes: Vec<i64> = (1..=50).filter(|id| (id + round) % 3 == 0).collect();
        store.write(bulk(rows, &deletes)).unwrap();
        created(&store.write(create("single", "c")));
    }
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let counted: N = diesel::sql_query("SELECT count(*) AS n FROM articles")
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(store.count().unwrap(), counted.n);
}
