//! The store every role shares: what an article is, what may be asked of a store, and the
//! backends that answer.
//!
//! Shared, backend-free:
//! - [`models`]: the domain types (ids, titles, contents, timestamps) that validate on
//!   construction, and the article as it is read.
//! - [`list`]: sort orders, keyset positions, list filters and pages.
//! - [`write`]: write ops, their preconditions, bulk batches, outcomes and [`WriteError`].
//! - [`error`]: [`StoreError`], what a failed call means (refused row, busy, full, unavailable).
//! - [`Store`]: the one interface the REST handlers use, a typed method per operation.
//!
//! Per backend:
//! - [`sqlite`]: the embedded default (one file, one writer thread, WAL), also what
//!   `articles sync` reads and writes.
//! - [`pg`]: PostgreSQL, for several REST replicas over one database: a pool of connections,
//!   every guarantee (If-Match, Idempotency-Key, bulk all or nothing) in the statements.
//!
//! **Architecture Invariant:** this module knows nothing of HTTP, JSON envelopes or CLI flags; all
//! SQL lives in the backend directories, and nothing outside `db/` names a backend's connection.

pub mod destination;
pub mod error;
pub mod list;
pub mod models;
pub mod mysql;
pub mod pg;
pub mod source_table;
pub mod sqlite;
pub mod write;

use std::path::{Path, PathBuf};

pub use error::StoreError;
pub use list::{ListFilter, Page, Position, Sort, SortKey};
pub use models::{Article, ArticleId, Content, Timestamp, Title};
pub use pg::{PgOpenError, PgOptions, PgStore};
pub use sqlite::{connect, database_path, DbConnection, OpenError, SqliteStore, BUSY_TIMEOUT};
pub use write::{
    BulkChanges, BulkError, BulkOutcome, IdempotencyClaim, Precondition, UpsertRow, WriteError,
    WriteOp, WriteOutcome,
};

/// A created article, and whether an Idempotency-Key replayed an earlier create instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub article: Article,
    pub replayed: bool,
}

/// Where the articles live, as `--database` / `DATABASE_URL` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file: a path, or a `sqlite://` / `sqlite:` / `file:` URL.
    Sqlite(PathBuf),
    /// A PostgreSQL database: a `postgres://` or `postgresql://` URL (libpq reads the password
    /// and what the URL leaves out from the usual `PG*` variables, and honours `sslmode`).
    Postgres(String),
    /// A MySQL or MariaDB database: a `mysql://` or `mariadb://` URL. Sync and verify only: no
    /// REST store runs on it.
    Mysql(String),
}

impl Location {
    pub fn parse(raw: &str) -> Self {
        let scheme = raw
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => Self::Postgres(raw.to_owned()),
            Some("mysql" | "mariadb") => Self::Mysql(raw.to_owned()),
            _ => Self::Sqlite(database_path(raw)),
        }
    }

    /// How messages name it: a path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) | Self::Mysql(url) => pg::redacted(url),
        }
    }
}

/// How a server uses its store, per backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite: read-only connections in the pool (writes go through the one writer thread).
    pub sqlite_readers: u32,
    /// PostgreSQL: pool size, statement timeout, connect timeout.
    pub postgres: PgOptions,
}

/// Why a store could not be opened (one line, never a password).
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error(transparent)]
    Sqlite(#[from] OpenError),
    #[error(transparent)]
    Postgres(#[from] PgOpenError),
    #[error(
        "{0}: the REST API runs on SQLite or PostgreSQL; MySQL and MariaDB databases are for \
         `articles sync` and `articles verify` (--from, --to)"
    )]
    Unsupported(String),
}

/// The store a server holds: cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens the store at `location` (created and migrated as needed).
    pub fn open(location: &Location, options: &StoreOptions) -> Result<Self, StoreOpenError> {
        Ok(match location {
            Location::Sqlite(path) => Self::open_sqlite(path, options.sqlite_readers)?,
            Location::Postgres(url) => Self {
                backend: Backend::Postgres(PgStore::open(url, &options.postgres)?),
            },
            Location::Mysql(_) => return Err(StoreOpenError::Unsupported(location.describe())),
        })
    }

    /// Opens (creating and migrating if needed) the SQLite database at `path` with up to
    /// `readers` pooled read connections.
    pub fn open_sqlite(path: &Path, readers: u32) -> Result<Self, OpenError> {
        Ok(Self {
            backend: Backend::Sqlite(SqliteStore::open(path, readers)?),
        })
    }

    /// The article `id`, if there is one. A point read runs on the caller's thread when an idle
    /// connection is at hand (cheaper than a hop to the blocking pool).
    pub async fn get(&self, id: ArticleId) -> Result<Option<Article>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                if let Some(mut conn) = store.try_reader() {
                    return Ok(sqlite::articles::get(&mut conn, id)?);
                }
                let store = store.clone();
                blocking(move || Ok(sqlite::articles::get(&mut *store.reader()?, id)?)).await
            }
            Backend::Postgres(store) => {
                let store = store.clone();
                blocking(move || store.get(id)).await
            }
        }
    }

    /// One page of the articles `filter` selects, with their total.
    pub async fn list(&self, filter: ListFilter) -> Result<Page, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                let store = store.clone();
                blocking(move || Ok(sqlite::articles::list(&mut *store.reader()?, &filter)?)).await
            }
            Backend::Postgres(store) => {
                let store = store.clone();
                blocking(move || store.list(&filter)).await
            }
        }
    }

    /// How many articles there are (kept by every write, not counted).
    pub async fn count(&self) -> Result<i64, StoreError> {
        let store = self.clone();
        blocking(move || store.count_blocking()).await
    }

    /// [`Self::count`] on the caller's thread, for callers that are not async (a metrics
    /// collector); waits at most [`BUSY_TIMEOUT`] for a connection.
    pub fn count_blocking(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                let mut conn = match store.try_reader() {
                    Some(conn) => conn,
                    None => store.reader()?,
                };
                Ok(sqlite::articles::count(&mut conn)?)
            }
            Backend::Postgres(store) => store.count(),
        }
    }

    pub async fn create(
        &self,
        title: Title,
        content: Content,
        idempotency: Option<IdempotencyClaim>,
    ) -> Result<Created, WriteError> {
        let op = WriteOp::Create {
            title,
            content,
            idempotency,
        };
        match self.write(op).await? {
            WriteOutcome::Created { article, replayed } => Ok(Created { article, replayed }),
            other => Err(unexpected("create", &other)),
        }
    }

    /// Changes the title and/or content of article `id` if `precondition` holds.
    pub async fn update(
        &self,
        id: ArticleId,
        title: Option<Title>,
        content: Option<Content>,
        precondition: Precondition,
    ) -> Result<Article, WriteError> {
        let op = WriteOp::Update {
            id,
            title,
            content,
            precondition,
        };
        match self.write(op).await? {
            WriteOutcome::Updated(article) => Ok(article),
            other => Err(unexpected("update", &other)),
        }
    }

    /// Deletes article `id` if `precondition` holds.
    pub async fn delete(
        &self,
        id: ArticleId,
        precondition: Precondition,
    ) -> Result<(), WriteError> {
        match self.write(WriteOp::Delete { id, precondition }).await? {
            WriteOutcome::Deleted => Ok(()),
            other => Err(unexpected("delete", &other)),
        }
    }

    /// Applies a batch all or nothing.
    pub async fn bulk(&self, changes: BulkChanges) -> Result<BulkOutcome, WriteError> {
        match self.write(WriteOp::Bulk(changes)).await? {
            WriteOutcome::Bulk(outcome) => Ok(outcome),
            other => Err(unexpected("bulk", &other)),
        }
    }

    /// Succeeds once the store could take a write now (changes nothing): a health check.
    pub async fn probe_write(&self) -> Result<(), WriteError> {
        match self.write(WriteOp::Probe).await? {
            WriteOutcome::Probed => Ok(()),
            other => Err(unexpected("probe", &other)),
        }
    }

    /// Whether the database answers a read now (waits at most [`BUSY_TIMEOUT`]).
    pub async fn check_readable(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                let store = store.clone();
                blocking(move || store.check_readable()).await
            }
            Backend::Postgres(store) => {
                let store = store.clone();
                blocking(move || store.check_readable()).await
            }
        }
    }

    /// Read connections open and in use.
    pub fn pool_state(&self) -> (u32, u32) {
        match &self.backend {
            Backend::Sqlite(store) => store.pool_state(),
            Backend::Postgres(store) => store.pool_state(),
        }
    }

    /// Writes waiting for a single writer and how many may wait, for a store that has one.
    pub fn write_queue(&self) -> Option<(usize, usize)> {
        match &self.backend {
            Backend::Sqlite(store) => Some(store.write_queue()),
            // Every pooled connection writes; the pool's wait is the queue.
            Backend::Postgres(_) => None,
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        match &self.backend {
            Backend::Sqlite(store) => store.write(op).await,
            Backend::Postgres(store) => {
                let store = store.clone();
                blocking(move || store.write(op)).await
            }
        }
    }
}

/// Runs blocking database work on the runtime's blocking pool.
async fn blocking<T, E>(work: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        E::from(StoreError::Internal(format!(
            "database task failed: {error}"
        )))
    })?
}

/// A write answered with the outcome of another kind of write: a bug.
fn unexpected(asked: &str, outcome: &WriteOutcome) -> WriteError {
    WriteError::Store(StoreError::Internal(format!(
        "{asked} answered with {outcome:?}"
    )))
}
