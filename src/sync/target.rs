//! Where a sync writes: a SQLite file ([`Destination::Sqlite`]) or a database server
//! (PostgreSQL, MySQL: [`Destination::Server`]), rows and state in one transaction, or a
//! [`Remote`] ([`Destination::Remote`], state in a local file written after the remote side has
//! committed): a REST API (`POST /articles/bulk`) or a Kafka topic (one
//! message per change, see `kafka`).
//!
//! All keep the invariant that makes a rerun converge: a state entry is never newer than the
//! data it describes. For a remote it may be older (killed between the remote's commit and
//! ours); the next run then sends those rows again, which is harmless (the API reports them
//! unchanged; the consumer of a topic applies them idempotently).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;

use crate::api_client::{ApiClient, Recovery};
use crate::contract::{BulkRequest, BulkRow};
use crate::db::destination::SyncDestination;
use crate::db::models::Timestamp;
use crate::db::mysql::MysqlDestination;
use crate::db::pg::sync::PgDestination;
use crate::db::sqlite::bulk;
use crate::db::sqlite::sync_state::{self, StateEntry};
use crate::db::write::{BulkChanges, BulkOutcome};
use crate::db::{DbConnection, Location, StoreError};
use crate::kafka::{KafkaSettings, KafkaUrl};

use super::kafka::KafkaTopic;

use super::plan::BatchPlan;

/// Why a batch was not applied, and so what the pass does next.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The destination refused the batch's data (a constraint, a 400): the pass applies the batch
    /// in halves down to the single row, and skips (names and counts) the row it refuses.
    #[error("{0:#}")]
    Refused(anyhow::Error),
    /// It may work later unchanged (destination down, busy, out of space): a single run stops
    /// with exit status 2; `--watch` tries again after `--interval`.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// It will not work until someone changes the set-up (a wrong token or URL, a bug): every
    /// run stops, `--watch` too.
    #[error("{0:#}")]
    Fatal(anyhow::Error),
}

impl ApplyError {
    /// Classifies a failed write to a SQLite file (the destination, or a state file).
    fn store(error: diesel::result::Error, context: String) -> Self {
        let store = StoreError::classify(&error);
        let error = anyhow::Error::new(store.clone()).context(context);
        match store {
            StoreError::Refused { .. } => Self::Refused(error),
            e if e.is_retryable() => Self::Transient(error),
            _ => Self::Fatal(error),
        }
    }

    /// Classifies a failed write to a PostgreSQL destination.
    fn from_store(store: StoreError, context: String) -> Self {
        let error = anyhow::Error::new(store.clone()).context(context);
        match store {
            StoreError::Refused { .. } => Self::Refused(error),
            e if e.is_retryable() => Self::Transient(error),
            _ => Self::Fatal(error),
        }
    }

    /// An error that is neither the data's nor transient.
    fn fatal(error: impl Into<anyhow::Error>) -> Self {
        Self::Fatal(error.into())
    }
}

/// The REST API of an HTTP destination and the `Authorization` value to send it.
pub struct RestApi {
    client: ApiClient,
    auth: Option<String>,
}

impl RestApi {
    /// Sends `plan` in one `POST /articles/bulk` (one transaction on the server).
    async fn bulk(&self, plan: &BatchPlan) -> Result<BulkOutcome, ApplyError> {
        let body = BulkRequest {
            upsert: plan
                .insert
                .iter()
                .chain(&plan.update)
                .map(|(row, _)| BulkRow::from(row))
                .collect(),
            delete: plan.delete.iter().map(|id| id.0).collect(),
            keep_newer: false,
        };
        let counts = self
            .client
            .bulk(&body, self.auth.as_deref())
            .await
            .map_err(|error| {
                let recovery = error.recovery();
                let hint = match error.status() {
                    Some(401 | 403) => " (check --api-token / ARTICLES_API_TOKEN)",
                    _ => "",
                };
                let error = anyhow::Error::new(error)
                    .context(format!("cannot sync to {}{hint}", self.client.base_url()));
                match recovery {
                    Recovery::Retry => ApplyError::Transient(error),
                    Recovery::Refused => ApplyError::Refused(error),
                    Recovery::Stop => ApplyError::Fatal(error),
                }
            })?;
        Ok(BulkOutcome {
            inserted: counts.inserted,
            updated: counts.updated,
            unchanged: counts.unchanged,
            deleted: counts.deleted,
            stale: counts.stale,
        })
    }
}

/// A destination reached over the network, with the sync state kept in a local file: a REST API
/// (one bulk request per batch) or a Kafka topic (one message per change).
pub enum Remote {
    Api(RestApi),
    Kafka(KafkaTopic),
}

impl Remote {
    async fn apply(&self, plan: &BatchPlan) -> Result<BulkOutcome, ApplyError> {
        match self {
            Self::Api(api) => api.bulk(plan).await,
            Self::Kafka(topic) => topic.publish(plan).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Api(api) => api.client.base_url().to_owned(),
            Self::Kafka(topic) => topic.describe(),
        }
    }
}

/// The state entries a plan leaves behind: digests of the rows written, ids deleted.
fn state_changes(plan: &BatchPlan) -> (Vec<StateEntry>, Vec<i64>) {
    let entries = plan
        .insert
        .iter()
        .chain(&plan.update)
        .map(|(row, digest)| StateEntry {
            id: row.id.0,
            digest: *digest,
        })
        .collect();
    (entries, plan.delete.iter().map(|id| id.0).collect())
}

/// The PostgreSQL or MySQL database at `url`, opened to be written (migrated or set up) or, for a
/// dry run, `read_only` (nothing created).
fn server_destination(url: &Location, read_only: bool) -> anyhow::Result<Box<dyn SyncDestination>> {
    Ok(match (url, read_only) {
        (Location::Postgres(url), false) => Box::new(PgDestination::open(url)?),
        (Location::Postgres(url), true) => Box::new(PgDestination::open_read_only(url)?),
        (Location::Mysql(url), false) => Box::new(MysqlDestination::open(url)?),
        (Location::Mysql(url), true) => Box::new(MysqlDestination::open_read_only(url)?),
        (Location::Sqlite(path), _) => {
            anyhow::bail!("{} is not a database server", path.display())
        }
    })
}

/// A destination: a SQLite database, or a REST API or Kafka topic with its local state file.
pub enum Destination {
    Sqlite {
        conn: DbConnection,
        path: PathBuf,
        /// In rollback-journal mode for a first load (see [`Destination::finish_pass`]).
        bulk_load: bool,
        /// A first load whose sync state was empty at the start: every row is new, and the
        /// state holds nothing past the ids written so far ([`Destination::state_known_empty`]).
        state_empty: bool,
    },
    /// A PostgreSQL or MySQL database: rows and state in one transaction per batch.
    Server(Box<dyn SyncDestination>),
    /// A dry run's view of a PostgreSQL or MySQL database (read-only transactions).
    PreviewServer {
        db: Box<dyn SyncDestination>,
        /// No sync state yet (or `--rescan`): its articles are read as unknown entries.
        unknown: bool,
        /// Whether it has a `sync_state` table and `articles` at all.
        migrated: bool,
    },
    Remote {
        /// Shared with the requests in flight (see [`Destination::send`]).
        target: Rc<Remote>,
        state: DbConnection,
        state_path: PathBuf,
    },
    /// A dry run's view of a destination: its state, read-only; nothing can be applied.
    Preview {
        /// `None`: no destination or state yet (everything would be inserted).
        conn: Option<DbConnection>,
        /// Read the destination's articles as unknown entries (no sync state, or `--rescan`).
        unknown: bool,
        name: String,
    },
}

impl Destination {
    /// Opens (creating and migrating if needed) the SQLite destination at `path`. A destination
    /// sync did not create (articles but no state) gets every article marked unknown, so the
    /// first sync compares them all; `rescan` does the same on purpose.
    pub fn open_sqlite(path: &Path, rescan: bool) -> anyhow::Result<Self> {
        let mut conn = crate::db::connect(path)?;
        sync_state::prepare_destination(&mut conn)
            .with_context(|| format!("cannot set up {}", path.display()))?;
        let state = sync_state::state_count(&mut conn)
            .with_context(|| format!("cannot read sync state of {}", path.display()))?;
        // Reset, the state holds exactly the articles present.
        let state_reset = rescan || state == 0;
        if state_reset {
            let marked = sync_state::state_reset_from_articles(&mut conn)
                .with_context(|| format!("cannot reset sync state of {}", path.display()))?;
            if marked > 0 {
                tracing::info!(
                    articles = marked,
                    "destination articles marked for comparison"
                );
            }
        }
        let empty = sync_state::articles_empty(&mut conn)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let bulk_load = empty
            && sync_state::begin_bulk_load(&mut conn)
                .with_context(|| format!("cannot set up {}", path.display()))?;
        if bulk_load {
            sync_state::defer_indexes(&mut conn)
                .with_context(|| format!("cannot set up {}", path.display()))?;
            tracing::info!(
                destination = %path.display(),
                "first load into an empty database: rollback journal (each page written once), \
                 indexes and search index built once the rows are in"
            );
        } else if empty {
            tracing::info!(
                destination = %path.display(),
                "first load into an empty database that is open elsewhere (a server?): \
                 loading in WAL mode, the normal path, beside its readers"
            );
        }
        Ok(Self::Sqlite {
            conn,
            path: path.to_owned(),
            bulk_load,
            state_empty: bulk_load && state_reset,
        })
    }

    /// Opens (migrating if needed) the PostgreSQL or MySQL destination at `url`. As for SQLite,
    /// a destination whose state is empty (sync did not fill it) or `rescan` gets every article
    /// marked unknown, so the first sync compares them all.
    pub fn open_server(url: &Location, rescan: bool) -> anyhow::Result<Self> {
        let mut db = server_destination(url, false)?;
        let name = db.name().to_owned();
        let state = db
            .state_count()
            .with_context(|| format!("cannot read sync state of {name}"))?;
        if rescan || state == 0 {
            let marked = db
                .state_reset_from_articles()
                .with_context(|| format!("cannot reset sync state of {name}"))?;
            if marked > 0 {
                tracing::info!(
                    articles = marked,
                    "destination articles marked for comparison"
                );
            }
        }
        Ok(Self::Server(db))
    }

    /// A dry run against the PostgreSQL or MySQL database at `url`: reads it, changes nothing.
    pub fn preview_server(url: &Location, rescan: bool) -> anyhow::Result<Self> {
        let mut db = server_destination(url, true)?;
        let name = db.name().to_owned();
        let migrated = db
            .has_table("sync_state")
            .and_then(|state| Ok(state && db.has_table("articles")?))
            .with_context(|| format!("cannot read {name}"))?;
        let present = migrated
            && db
                .state_present()
                .with_context(|| format!("cannot read sync state of {name}"))?;
        Ok(Self::PreviewServer {
            db,
            unknown: rescan || !present,
            migrated,
        })
    }

    /// A REST API at `url`; `state_path` keeps what was sent there. `rescan` forgets it.
    pub fn open_http(
        url: &str,
        token: Option<&str>,
        state_path: &Path,
        timeout: Duration,
        rescan: bool,
    ) -> anyhow::Result<Self> {
        let client = ApiClient::new(url, timeout);
        let mut state = sync_state::open_state_file(state_path, client.base_url())?;
        if rescan {
            sync_state::state_clear(&mut state)
                .with_context(|| format!("cannot reset {}", state_path.display()))?;
        }
        Ok(Self::Remote {
            target: Rc::new(Remote::Api(RestApi {
                client,
                auth: token
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("Bearer {t}")),
            })),
            state,
            state_path: state_path.to_owned(),
        })
    }

    /// A Kafka topic (created with `partitions` when missing); `state_path` keeps what was
    /// published there. `rescan` forgets it.
    pub async fn open_kafka(
        url: &KafkaUrl,
        settings: &KafkaSettings,
        partitions: i32,
        state_path: &Path,
        timeout: Duration,
        rescan: bool,
    ) -> anyhow::Result<Self> {
        let topic = KafkaTopic::connect(url, settings, partitions, timeout).await?;
        let mut state = sync_state::open_state_file(state_path, &topic.describe())?;
        if rescan {
            sync_state::state_clear(&mut state)
                .with_context(|| format!("cannot reset {}", state_path.display()))?;
        }
        Ok(Self::Remote {
            target: Rc::new(Remote::Kafka(topic)),
            state,
            state_path: state_path.to_owned(),
        })
    }

    /// A dry run against the SQLite file `path`: reads it if it exists, creates nothing.
    pub fn preview_sqlite(path: &Path, rescan: bool) -> anyhow::Result<Self> {
        let name = path.display().to_string();
        if !path.exists() {
            return Ok(Self::Preview {
                conn: None,
                unknown: false,
                name,
            });
        }
        let mut conn = sync_state::open_read_only(path, "destination")?;
        let present = sync_state::state_present(&mut conn)
            .with_context(|| format!("cannot read sync state of {name}"))?;
        Ok(Self::Preview {
            conn: Some(conn),
            unknown: rescan || !present,
            name,
        })
    }

    /// A dry run against a REST API or a Kafka topic: reads the state file if there is one.
    pub fn preview_remote(url: &str, state_path: &Path, rescan: bool) -> anyhow::Result<Self> {
        let mut conn = None;
        if state_path.exists() && !rescan {
            let mut state = sync_state::open_read_only(state_path, "state file")?;
            if sync_state::state_present(&mut state)
                .with_context(|| format!("cannot read {}", state_path.display()))?
            {
                conn = Some(state);
            }
        }
        Ok(Self::Preview {
            conn,
            unknown: false,
            name: url.to_owned(),
        })
    }

    /// Whether every row of this pass is new to the destination and its state page after any id
    /// this pass has reached is empty: a first load into an empty SQLite file. Planning then
    /// needs nothing from the destination, so the source can be read ahead.
    pub fn state_known_empty(&self) -> bool {
        matches!(
            self,
            Self::Sqlite {
                bulk_load: true,
                state_empty: true,
                ..
            }
        )
    }

    /// Ends a pass: a first load into an empty SQLite file switches it back to WAL mode.
    pub fn finish_pass(&mut self) -> anyhow::Result<()> {
        if let Self::Sqlite {
            conn,
            path,
            bulk_load,
            state_empty,
        } = self
        {
            *state_empty = false;
            if std::mem::take(bulk_load) {
                let started = std::time::Instant::now();
                sync_state::finish_deferred_load(conn, true)
                    .with_context(|| format!("cannot index {}", path.display()))?;
                tracing::info!(
                    destination = %path.display(),
                    elapsed = ?started.elapsed(),
                    "first load: indexes, search index and count built"
                );
                sync_state::end_bulk_load(conn)
                    .with_context(|| format!("cannot finish writing {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// How the destination is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path, .. } => path.display().to_string(),
            Self::Server(db) | Self::PreviewServer { db, .. } => db.name().to_owned(),
            Self::Remote { target, .. } => target.describe(),
            Self::Preview { name, .. } => name.clone(),
        }
    }

    /// State entries with `id > after`, at most `limit`, in id order.
    pub fn state_page(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<StateEntry>> {
        let name = self.describe();
        let context = || format!("cannot read sync state of {name}");
        let page = match self {
            Self::Sqlite { conn, .. } | Self::Remote { state: conn, .. } => {
                sync_state::state_page(conn, after, limit)
            }
            Self::Server(db) => return db.state_page(after, limit).with_context(context),
            Self::PreviewServer {
                migrated: false, ..
            } => Ok(Vec::new()),
            Self::PreviewServer {
                db, unknown: true, ..
            } => return db.unknown_state_page(after, limit).with_context(context),
            Self::PreviewServer { db, .. } => {
                return db.state_page(after, limit).with_context(context)
            }
            Self::Preview { conn: None, .. } => Ok(Vec::new()),
            Self::Preview {
                conn: Some(conn),
                unknown: true,
                ..
            } => sync_state::unknown_state_page(conn, after, limit),
            Self::Preview {
                conn: Some(conn), ..
            } => sync_state::state_page(conn, after, limit),
        };
        page.with_context(context)
    }

    /// Applies `plan` all or nothing and records it in the state.
    pub async fn apply(&mut self, plan: &BatchPlan) -> Result<BulkOutcome, ApplyError> {
        match self {
            Self::Sqlite {
                conn,
                path,
                bulk_load,
                ..
            } => {
                let (entries, deleted) = state_changes(plan);
                // Rows the state does not know take the fast path (no read first); changed
                // rows and deletes go through bulk::apply, which reports what really changed.
                let changes = BulkChanges::new(
                    plan.update.iter().map(|(row, _)| row.clone()).collect(),
                    plan.delete.clone(),
                )
                .map_err(ApplyError::fatal)?;
                let now = Timestamp::now();
                let load = *bulk_load;
                conn.immediate_transaction(|conn| {
                    let rows = plan.insert.iter().map(|(row, _)| row);
                    let inserted = if load {
                        bulk::load_rows(conn, rows, now)?
                    } else {
                        bulk::write_new(conn, rows, now)?
                    };
                    let mut outcome = bulk::apply(conn, &changes, now)?;
                    outcome.inserted += inserted as u64;
                    sync_state::state_put(conn, &entries)?;
                    sync_state::state_delete(conn, &deleted)?;
                    Ok::<_, diesel::result::Error>(outcome)
                })
                .map_err(|error| {
                    ApplyError::store(error, format!("cannot write to {}", path.display()))
                })
            }
            Self::Server(db) => {
                let (entries, deleted) = state_changes(plan);
                // Every row goes through the store's bulk: it reads the rows it locks, so new
                // and changed rows alike are written (and counted) as what they are.
                let changes = BulkChanges::new(
                    plan.insert
                        .iter()
                        .chain(&plan.update)
                        .map(|(row, _)| row.clone())
                        .collect(),
                    plan.delete.clone(),
                )
                .map_err(ApplyError::fatal)?;
                let name = db.name().to_owned();
                db.apply(&changes, &entries, &deleted, Timestamp::now())
                    .map_err(|error| {
                        ApplyError::from_store(error, format!("cannot write to {name}"))
                    })
            }
            Self::Remote { target, .. } => {
                let outcome = target.apply(plan).await?;
                self.record_sent(plan)?;
                Ok(outcome)
            }
            Self::Preview { .. } | Self::PreviewServer { .. } => {
                Err(ApplyError::fatal(anyhow::anyhow!(
                    "{} was opened for a dry run; nothing can be applied",
                    self.describe()
                )))
            }
        }
    }

    /// For a REST API or Kafka: a request applying `plan` that can run while more batches are
    /// planned (its state is recorded by [`Self::record_sent`] once it succeeded). `None` for a
    /// SQLite file.
    pub fn send(
        &self,
        plan: BatchPlan,
    ) -> Option<impl Future<Output = (BatchPlan, Result<BulkOutcome, ApplyError>)> + 'static> {
        let Self::Remote { target, .. } = self else {
            return None;
        };
        let target = target.clone();
        Some(async move {
            let outcome = target.apply(&plan).await;
            (plan, outcome)
        })
    }

    /// Records in the state file that the REST API (or the Kafka broker) has committed `plan`.
    pub fn record_sent(&mut self, plan: &BatchPlan) -> Result<(), ApplyError> {
        let Self::Remote {
            state, state_path, ..
        } = self
        else {
            return Err(ApplyError::fatal(anyhow::anyhow!(
                "only a REST API or Kafka destination records sent batches"
            )));
        };
        let (entries, deleted) = state_changes(plan);
        state
            .immediate_transaction(|conn| {
                sync_state::state_put(conn, &entries)?;
                sync_state::state_delete(conn, &deleted)
            })
            .map_err(|error| {
                ApplyError::store(error, format!("cannot write {}", state_path.display()))
            })
    }
}
