//! The PostgreSQL store: the same contract as the SQLite store (the same domain types, outcomes,
//! errors and timestamps), for several replicas over one database.
//!
//! - [`PgStore`]: a pool of connections with a blocking method per operation (callers run them off
//!   the async workers). There is no writer thread: every write is one statement, or one short
//!   transaction, on any pooled connection, and the guarantees that SQLite's single writer gave by
//!   construction are spelled in SQL, so they hold across processes: `If-Match` is compared in the
//!   statement that writes, an Idempotency-Key is claimed with `INSERT … ON CONFLICT` in the
//!   statement that creates the article, bulk is one transaction over rows it has locked, and the
//!   kept count moves in the transaction of every insert and delete.
//! - [`schema`]: the Diesel tables of `migrations/postgres/`, written by hand (see diesel.toml).
//! - `list`, `write`, `bulk`: the SQL of reads, single-article writes and batches.
//! - [`error`]: PostgreSQL's errors as [`StoreError`]s.
//!
//! Migrations are embedded and applied by [`PgStore::open`] under an advisory lock, so replicas
//! that start at once apply them once (the others wait, then find nothing to do).
//!
//! **Architecture Invariant:** nothing here knows of HTTP; nothing outside this directory knows
//! PostgreSQL's SQL.

pub mod error;
pub mod schema;

mod bulk;
mod list;
pub mod sync;
mod write;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::error::StoreError;
use super::list::{ListFilter, Page};
use super::models::{Article, ArticleId, Timestamp};
use super::write::{WriteError, WriteOp, WriteOutcome};

/// The PostgreSQL migrations in `migrations/postgres/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The advisory lock held while migrations run ("articles" in ASCII): one replica migrates, the
/// others wait for it.
const MIGRATION_LOCK: i64 = 0x6172_7469_636c_6573;

/// How often a store deletes expired Idempotency-Keys (as SQLite's writer does); lookups ignore
/// expired keys anyway.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// How many times a write that met another writer's row (an id taken by a bulk of explicit ids,
/// a key that expired between two statements) is run again before it is reported as busy.
const CONFLICT_RETRIES: u32 = 8;

/// `title_folded`, what `q` searches: Rust's lower case of the title, the folding the SQLite store
/// indexes (its `fold_title`), so `q` matches the same titles on both stores.
pub fn fold_title(title: &str) -> String {
    title.to_lowercase()
}

/// How long a call waits for a pooled connection before it looks whether the server refuses
/// new ones ([`PgStore::checkout`]).
const DOWN_WAIT: Duration = Duration::from_millis(250);

/// How a [`PgStore`] uses the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections the pool opens (one is opened at start, the others on demand).
    pub pool_size: u32,
    /// `statement_timeout` of every pooled connection: a statement running longer is cancelled
    /// and reported as [`StoreError::Busy`].
    pub statement_timeout: Duration,
    /// How long opening a connection may take (libpq's `connect_timeout`, at least 2 s), and how
    /// long a call waits for a pooled connection before it fails.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a [`PgStore`] could not be opened. One line, naming the database without its password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgOpenError {
    /// The server could not be reached or refused the connection (down, wrong address, wrong
    /// password, no such database).
    #[error("cannot connect to PostgreSQL database {database}: {reason}")]
    Connect { database: String, reason: String },
    /// The migrations could not be applied.
    #[error("cannot migrate PostgreSQL database {database}: {reason}")]
    Migrate { database: String, reason: String },
    /// The pool could not open its first connection.
    #[error("cannot open a connection pool to PostgreSQL database {database}: {reason}")]
    Pool { database: String, reason: String },
}

impl PgOpenError {
    /// The failure as the store's own error: a database that cannot be reached is
    /// [`StoreError::Unavailable`] (retryable), a failed migration [`StoreError::Internal`].
    pub fn store_error(&self) -> StoreError {
        match self {
            Self::Connect { .. } | Self::Pool { .. } => StoreError::Unavailable(self.to_string()),
            Self::Migrate { .. } => StoreError::Internal(self.to_string()),
        }
    }
}

/// A pooled connection and whether it was seen to be lost. libpq does not reconnect, and Diesel
/// calls a connection broken only when a transaction failed to end; a connection whose server
/// went away (a restart, a failover, an idle timeout) would fail every later statement. The store
/// marks it lost on the first such error, and the pool drops it instead of handing it out again,
/// so a restarted server is used again without a restart of ours.
pub struct PgConn {
    conn: PgConnection,
    lost: bool,
}

/// Opens connections for the pool (r2d2's `ManageConnection`, with [`PgConn::lost`] as one more
/// way to be broken). No query on checkout: a lost connection costs one failed call (retried on
/// another connection when nothing was sent, see [`PgStore`]), not a round trip on every call.
struct PgManager {
    url: String,
    /// When the server last refused a new connection (`None` once one succeeds).
    refused: Arc<Mutex<Option<Instant>>>,
}

impl PgManager {
    fn note(&self, refused: bool) {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = refused.then(Instant::now);
    }
}

impl ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConn, Self::Error> {
        let connected = PgConnection::establish(&self.url);
        self.note(connected.is_err());
        connected
            .map(|conn| PgConn { conn, lost: false })
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), Self::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.lost || std::thread::panicking() || conn.conn.is_broken()
    }
}

/// Settings of every pooled connection.
#[derive(Debug, Clone, Copy)]
struct SessionSettings {
    statement_timeout: Duration,
}

impl CustomizeConnection<PgConn, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConn) -> Result<(), diesel::r2d2::Error> {
        conn.conn
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                self.statement_timeout.as_millis().max(1)
            ))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How a call failed inside the store, before it becomes a [`StoreError`] or [`WriteError`]:
/// the retry loops of [`PgStore`] need to tell these apart.
#[derive(Debug)]
enum Fail {
    /// A statement failed.
    Db(DieselError),
    /// `BEGIN` failed: nothing of the call reached the server, so it may run again elsewhere.
    NotBegun(DieselError),
    /// The answer is an error of the contract (not found, precondition, key reused).
    Write(WriteError),
    /// Another writer's row got in the way (see [`CONFLICT_RETRIES`]); running the call again
    /// resolves it.
    Conflict(&'static str),
}

impl From<DieselError> for Fail {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl From<WriteError> for Fail {
    fn from(error: WriteError) -> Self {
        Self::Write(error)
    }
}

impl Fail {
    /// Whether the connection it happened on is gone.
    fn lost_connection(&self) -> bool {
        match self {
            Self::Db(error) | Self::NotBegun(error) => is_lost(error),
            Self::Write(_) | Self::Conflict(_) => false,
        }
    }
}

/// A Diesel error that means the connection is gone.
fn is_lost(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Diesel's transaction, with a failed `BEGIN` told apart ([`Fail::NotBegun`]).
fn in_transaction<T>(
    conn: &mut PgConnection,
    body: impl FnOnce(&mut PgConnection) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let mut begun = false;
    let result = conn.transaction(|conn| {
        begun = true;
        body(conn)
    });
    match result {
        Err(Fail::Db(error)) if !begun => Err(Fail::NotBegun(error)),
        other => other,
    }
}

/// A PostgreSQL database as a server uses it: a pool of connections, every call on one of them.
/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<PgManager>,
    /// The database's URL without its password, for messages.
    database: Arc<str>,
    /// When this store last deleted expired Idempotency-Keys.
    last_purge: Arc<Mutex<Option<Instant>>>,
    /// When the server last refused a new connection (see [`PgStore::checkout`]).
    refused: Arc<Mutex<Option<Instant>>>,
    /// How long a call waits for a pooled connection while the server accepts them.
    connect_timeout: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`, or libpq's
    /// `key=value` form), applies pending migrations under an advisory lock, and builds the pool.
    pub fn open(url: &str, options: &PgOptions) -> Result<Self, PgOpenError> {
        let database = redacted(url);
        let url = with_connect_timeout(url, options.connect_timeout);
        let mut conn = PgConnection::establish(&url).map_err(|e| PgOpenError::Connect {
            database: database.clone(),
            reason: one_line(&e.to_string()),
        })?;
        migrate(&mut conn).map_err(|reason| PgOpenError::Migrate {
            database: database.clone(),
            reason: one_line(&reason),
        })?;
        drop(conn);
        let refused = Arc::new(Mutex::new(None));
        let pool = Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(options.connect_timeout)
            .connection_customizer(Box::new(SessionSettings {
                statement_timeout: options.statement_timeout,
            }))
            .build(PgManager {
                url,
                refused: Arc::clone(&refused),
            })
            .map_err(|e| PgOpenError::Pool {
                database: database.clone(),
                reason: one_line(&e.to_string()),
            })?;
        Ok(Self {
            pool,
            database: database.into(),
            last_purge: Arc::new(Mutex::new(None)),
            refused,
            connect_timeout: options.connect_timeout,
        })
    }

    /// The database's URL without its password.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Connections of the pool: (open, in use).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.connections - state.idle_connections,
        )
    }

    /// The article `id`, if there is one.
    pub fn get(&self, id: ArticleId) -> Result<Option<Article>, StoreError> {
        self.read(|conn| Ok(list::get(conn, id)?))
    }

    /// One page of `filter` and how many articles match it in all, read in one snapshot.
    pub fn list(&self, filter: &ListFilter) -> Result<Page, StoreError> {
        self.read(|conn| Ok(list::list(conn, filter)?))
    }

    /// The kept count of articles (what `total` is without a filter).
    pub fn count(&self) -> Result<i64, StoreError> {
        self.read(|conn| Ok(list::count(conn)?))
    }

    /// Whether the database answers a read now (health): a pooled connection reads the kept
    /// count, so the schema is there too.
    pub fn check_readable(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(list::count(conn).map(drop)?))
    }

    /// Carries out `op` and answers once it is committed. Each op is its own statement or
    /// transaction; ops from many threads and replicas run side by side.
    pub fn write(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        self.purge_expired_keys();
        let mut lost_retries = self.pool.max_size();
        let mut attempt = 0;
        loop {
            let mut conn = self.checkout()?;
            let fail = match write::apply(&mut conn.conn, &op, Timestamp::now(), attempt) {
                Ok(outcome) => return Ok(outcome),
                Err(fail) => fail,
            };
            if fail.lost_connection() {
                conn.lost = true;
            }
            drop(conn);
            match fail {
                Fail::NotBegun(error) if is_lost(&error) && lost_retries > 0 => lost_retries -= 1,
                Fail::Conflict(_) if attempt < CONFLICT_RETRIES => attempt += 1,
                Fail::Conflict(what) => {
                    return Err(WriteError::Store(StoreError::Busy(what.to_owned())))
                }
                Fail::Db(error) | Fail::NotBegun(error) => {
                    return Err(WriteError::Store(error::classify(&error)))
                }
                Fail::Write(error) => return Err(error),
            }
        }
    }

    /// The plans PostgreSQL chooses for `list(filter)`'s statements (`EXPLAIN (FORMAT JSON)`,
    /// one document per statement), for tests that check index use.
    #[doc(hidden)]
    pub fn explain_list(&self, filter: &ListFilter) -> Result<Vec<String>, StoreError> {
        self.read(|conn| Ok(list::explain(conn, filter)?))
    }

    /// A pooled connection. While the server refuses new connections (down, restarting) and no
    /// idle one is left, a call fails within [`DOWN_WAIT`] instead of the pool's whole connect
    /// timeout: a replica answers 503 at once rather than holding every request for 5 s (its
    /// /health for 10). The pool keeps trying in the background; the first connection that
    /// succeeds ends this.
    fn checkout(&self) -> Result<diesel::r2d2::PooledConnection<PgManager>, StoreError> {
        let deadline = Instant::now() + self.connect_timeout;
        loop {
            let result = self.pool.get_timeout(DOWN_WAIT);
            let refused = self
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some();
            match result {
                Ok(conn) => return Ok(conn),
                Err(error) if refused => {
                    return Err(StoreError::Unavailable(format!(
                        "PostgreSQL {} refuses connections: {error}",
                        self.database
                    )))
                }
                Err(error) if Instant::now() >= deadline => return Err(StoreError::from(error)),
                Err(_) => {}
            }
        }
    }

    /// Runs a read on a pooled connection. A read changes nothing, so one that met a lost
    /// connection runs again on another (at most once per pooled connection, each of which may
    /// be lost after a server restart).
    fn read<T>(
        &self,
        mut body: impl FnMut(&mut PgConnection) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let mut lost_retries = self.pool.max_size();
        loop {
            let mut conn = self.checkout()?;
            match body(&mut conn.conn) {
                Ok(value) => return Ok(value),
                Err(fail) if fail.lost_connection() => {
                    conn.lost = true;
                    drop(conn);
                    if lost_retries == 0 {
                        return Err(to_store_error(fail));
                    }
                    lost_retries -= 1;
                }
                Err(fail) => return Err(to_store_error(fail)),
            }
        }
    }

    /// Deletes Idempotency-Keys older than a day (the longest TTL), at most every
    /// [`PURGE_EVERY`] per store; replicas purging at once delete the same rows, harmlessly.
    fn purge_expired_keys(&self) {
        {
            let mut last = self
                .last_purge
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < PURGE_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let result = self.checkout().and_then(|mut conn| {
            write::purge_idempotency_keys(&mut conn.conn, Timestamp::now())
                .map_err(|e| error::classify(&e))
        });
        match result {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired idempotency keys deleted"),
            Err(error) => tracing::warn!(%error, "could not purge expired idempotency keys"),
        }
    }
}

/// A failure as the caller sees it.
fn to_store_error(fail: Fail) -> StoreError {
    match fail {
        Fail::Db(error) | Fail::NotBegun(error) => error::classify(&error),
        Fail::Write(WriteError::Store(error)) => error,
        Fail::Write(other) => StoreError::Internal(other.to_string()),
        Fail::Conflict(what) => StoreError::Busy(what.to_owned()),
    }
}

/// Applies the pending migrations while holding [`MIGRATION_LOCK`] (a session lock: released
/// below, or by the server if this process dies).
fn migrate(conn: &mut PgConnection) -> Result<(), String> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(|e| e.to_string())?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(drop)
        .map_err(|e| e.to_string());
    let unlocked = conn
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .map_err(|e| e.to_string());
    applied.and(unlocked)
}

/// libpq's messages span lines ("…failed: Connection refused\n\tIs the server running…"); ours
/// are one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 2) unless it names one.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let seconds = timeout.as_secs_f64().ceil().max(2.0) as u64;
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}connect_timeout={seconds}")
    } else {
        format!("{url} connect_timeout={seconds}")
    }
}

/// The database's URL (or `key=value` string) without a password, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url
            .split_whitespace()
            .filter(|part| !part.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (address, query) = match rest.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (rest, None),
    };
    let authority_end = address.find('/').unwrap_or(address.len());
    let (authority, path) = address.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.starts_with("password="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        for (url, shown) in [
            (
                "postgres://articles:s3cret@db.example:5433/articles",
                "postgres://articles@db.example:5433/articles",
            ),
            (
                "postgresql://u:p%40ss@h/db?sslmode=require&password=x",
                "postgresql://u@h/db?sslmode=require",
            ),
            ("postgres://h/db?password=x", "postgres://h/db"),
            ("postgres://u@h:1/db", "postgres://u@h:1/db"),
            (
                "host=h dbname=db password=secret user=u",
                "host=h dbname=db user=u",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    #[test]
    fn connect_timeout_is_added_once() {
        let t = Duration::from_millis(500);
        assert_eq!(
            with_connect_timeout("postgres://h/db", t),
            "postgres://h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=require", Duration::from_secs(7)),
            "postgres://h/db?sslmode=require&connect_timeout=7"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", t),
            "postgres://h/db?connect_timeout=9"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db", t),
            "host=h dbname=db connect_timeout=2"
        );
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(
            one_line("connection to server failed: Connection refused\n\tIs the server running?\n"),
            "connection to server failed: Connection refused Is the server running?"
        );
    }
}
