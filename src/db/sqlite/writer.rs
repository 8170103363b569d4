//! The single writer: one thread owns the only writing connection and commits queued writes
//! together (group commit).
//!
//! SQLite has one writer at a time. Rather than let every request fight for the lock (and
//! surface `SQLITE_BUSY`), requests queue a [`WriteOp`] here; the thread takes everything that is
//! waiting (up to [`MAX_BATCH`]), runs each op in its own savepoint inside one `BEGIN IMMEDIATE`
//! transaction, commits once, then answers every caller. An op that fails rolls back alone; a
//! failed commit fails the whole batch. Callers are answered only after their data is committed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::connection::{Connection, SimpleConnection};
use diesel::result::Error as DieselError;
use diesel::{QueryDsl, RunQueryDsl};
use tokio::sync::{mpsc, oneshot};

use super::articles::{self, IdempotencyRecord};
use super::bulk;
use super::DbConnection;
use crate::db::error::StoreError;
use crate::db::models::{Article, ArticleChanges, NewArticle, Timestamp};
use crate::db::write::{Precondition, WriteError, WriteOp, WriteOutcome};

/// Most ops committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// Ops that may wait for the writer before callers wait to enqueue.
pub const QUEUE_DEPTH: usize = 4096;
/// How often expired idempotency keys are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// Cloneable handle to the writer thread. The thread stops once every handle is dropped and the
/// queue is drained.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn spawn(conn: DbConnection, wal: WalBound) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(conn, jobs, wal))?;
        Ok(Self { queue })
    }

    /// Queues `op` and waits until it is committed (or failed).
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { op, reply })
            .await
            .map_err(|_| WriteError::WriterGone)?;
        answer.await.map_err(|_| WriteError::WriterGone)?
    }

    /// Whether the writer thread is still taking work.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Ops queued and not yet taken by the writer thread (at most [`QUEUE_DEPTH`]; callers
    /// beyond that wait to enqueue). A read of the channel's state: costs nothing.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// When the writer checkpoints: once the WAL file is longer than `limit`. The file tells,
/// because a WAL that starts over is cut back to `limit` (`journal_size_limit`) at its first
/// commit, so a longer file grew past it since. `turn` is held by whoever checkpoints (this
/// writer or the background checkpointer): SQLite refuses a checkpoint while another runs,
/// without waiting.
pub struct WalBound {
    pub path: PathBuf,
    pub limit: u64,
    pub turn: Arc<Mutex<()>>,
}

impl WalBound {
    fn checkpoint_if_over(&self, conn: &mut DbConnection) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        if meta.len() <= self.limit {
            return;
        }
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        // PASSIVE: a reader of an older snapshot is never waited for; the next commit tries
        // again.
        if let Err(error) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::warn!(%error, wal_bytes = meta.len(), "WAL checkpoint failed");
        }
    }
}

fn run(mut conn: DbConnection, mut jobs: mpsc::Receiver<Job>, wal: WalBound) {
    let mut last_purge: Option<Instant> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purge_expired_keys(&mut conn);
            last_purge = Some(Instant::now());
        }
        commit_batch(&mut conn, &mut batch);
        // After the callers have their answers.
        wal.checkpoint_if_over(&mut conn);
    }
    // Leave a compact database file behind (the WAL folded in) for backups and copies.
    if let Err(error) = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::debug!(%error, "final checkpoint skipped");
    }
    tracing::debug!("database writer stopped");
}

fn commit_batch(conn: &mut DbConnection, batch: &mut Vec<Job>) {
    let committed = conn.immediate_transaction(|conn| {
        let outcomes: Vec<Result<WriteOutcome, WriteError>> = batch
            .iter()
            .map(|job| conn.transaction(|conn| apply(conn, &job.op)))
            .collect();
        // The kept count and the search index follow the single-article writes that succeeded,
        // once for the whole batch (bulk ops keep them themselves).
        let mut changes = articles::IndexChanges::default();
        for (job, outcome) in batch.iter().zip(&outcomes) {
            match (&job.op, outcome) {
                (
                    _,
                    Ok(WriteOutcome::Created {
                        article,
                        replayed: false,
                    }),
                ) => changes.created(article.id),
                (WriteOp::Update { title: Some(_), .. }, Ok(WriteOutcome::Updated(article))) => {
                    changes.retitled(article.id)
                }
                (WriteOp::Delete { id, .. }, Ok(WriteOutcome::Deleted)) => changes.deleted(id.0),
                _ => {}
            }
        }
        if !changes.is_empty() {
            changes.apply(conn)?;
        }
        Ok::<_, DieselError>(outcomes)
    });
    match committed {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(error) => {
            let error = StoreError::classify(&error);
            tracing::error!(%error, ops = batch.len(), "write batch failed to commit");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(WriteError::Store(error.clone())));
            }
        }
    }
}

fn purge_expired_keys(conn: &mut DbConnection) {
    // Keys live for at most a day (the longest TTL we accept); lookups also ignore expired keys.
    let before = Timestamp::from_naive_utc(Timestamp::now().naive() - TimeDelta::days(1));
    match articles::purge_idempotency_keys(conn, before) {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "expired idempotency keys deleted"),
        Err(error) => tracing::warn!(%error, "could not purge expired idempotency keys"),
    }
}

fn apply(conn: &mut DbConnection, op: &WriteOp) -> Result<WriteOutcome, WriteError> {
    let now = Timestamp::now();
    match op {
        WriteOp::Create {
            title,
            content,
            idempotency,
        } => {
            if let Some(claim) = idempotency {
                if let Some(seen) = articles::find_idempotency_key(conn, &claim.key)? {
                    let ttl = TimeDelta::from_std(claim.ttl).unwrap_or(TimeDelta::MAX);
                    if seen.created_at + ttl > now.naive() {
                        if seen.request_hash != claim.request_hash {
                            return Err(WriteError::IdempotencyKeyReused);
                        }
                        let article = Article {
                            id: seen.article_id,
                            title: title.as_str().to_owned(),
                            content: content.as_str().to_owned(),
                            created_at: seen.created_at,
                            updated_at: seen.created_at,
                        };
                        return Ok(WriteOutcome::Created {
                            article,
                            replayed: true,
                        });
                    }
                    diesel::delete(super::schema::idempotency_keys::table.find(&claim.key))
                        .execute(conn)?;
                }
            }
            let article = articles::insert(
                conn,
                &NewArticle::create(title.clone(), content.clone(), now),
            )?;
            if let Some(claim) = idempotency {
                articles::insert_idempotency_key(
                    conn,
                    &IdempotencyRecord {
                        key: claim.key.clone(),
                        request_hash: claim.request_hash.clone(),
                        article_id: article.id,
                        created_at: article.created_at,
                    },
                )?;
            }
            Ok(WriteOutcome::Created {
                article,
                replayed: false,
            })
        }
        WriteOp::Update {
            id,
            title,
            content,
            precondition,
        } => {
            let current = articles::get(conn, *id)?.ok_or(WriteError::NotFound)?;
            if !precondition.holds(&current) {
                return Err(WriteError::PreconditionFailed);
            }
            // updated_at always moves forward, even within one clock tick.
            let floor = current.updated_at + TimeDelta::microseconds(1);
            let changes = ArticleChanges {
                title: title.as_ref().map(|t| t.as_str().to_owned()),
                content: content.as_ref().map(|c| c.as_str().to_owned()),
                updated_at: Some(now.naive().max(floor)),
            };
            let article = articles::update(conn, *id, &changes)?.ok_or(WriteError::NotFound)?;
            Ok(WriteOutcome::Updated(article))
        }
        WriteOp::Delete { id, precondition } => {
            if *precondition != Precondition::None {
                let current = articles::get(conn, *id)?.ok_or(WriteError::NotFound)?;
                if !precondition.holds(&current) {
                    return Err(WriteError::PreconditionFailed);
                }
            }
            if articles::delete(conn, *id)? {
                Ok(WriteOutcome::Deleted)
            } else {
                Err(WriteError::NotFound)
            }
        }
        WriteOp::Bulk(changes) => Ok(WriteOutcome::Bulk(bulk::apply(conn, changes, now)?)),
        WriteOp::Probe => Ok(WriteOutcome::Probed),
    }
}
