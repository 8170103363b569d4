//! The database's side of the REST role's `/metrics`: whether the database takes reads and
//! writes (checked at each scrape, as `/health` checks it) and how full the writer's queue is.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `articles_db_up` | gauge | 1 when, at this scrape, a pooled connection read the database and the writer took SQLite's write lock, both within [`CHECK_TIMEOUT`]; else 0 |
//! | `articles_db_write_queue_depth` | gauge | writes waiting for the writer thread |
//! | `articles_db_write_queue_capacity` | gauge | writes that may wait before callers wait to enqueue |
//!
//! The check runs at scrape time rather than on a timer of its own, so the REST role does no
//! work for monitoring when nobody monitors it, and `articles_db_up` is as fresh as the scrape.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::IntGauge;

use super::RestState;
use crate::db::{Store, StoreError};
use crate::metrics::Metrics;

/// How long the read and the write probe of a scrape may take together. A write that waits
/// longer than this for the writer (a lock held by another process, a queue of thousands) is a
/// database that clients find unavailable; it also stays well inside Prometheus' scrape timeout.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `articles_db_up`, set by [`export`].
pub struct DatabaseUp(IntGauge);

/// Registers the database gauges on `metrics`.
pub fn register(metrics: &Metrics, store: &Store) -> anyhow::Result<web::Data<DatabaseUp>> {
    let up = IntGauge::new(
        "articles_db_up",
        "Whether the database took a read and the write lock at this scrape (1) or not (0)",
    )?;
    let depth = IntGauge::new(
        "articles_db_write_queue_depth",
        "Writes waiting for the database writer thread",
    )?;
    let capacity = IntGauge::new(
        "articles_db_write_queue_capacity",
        "Writes that may wait for the writer before callers wait to enqueue",
    )?;
    metrics.registry().register(Box::new(up.clone()))?;
    metrics.registry().register(Box::new(WriteQueue {
        store: store.clone(),
        depth,
        capacity,
    }))?;
    Ok(web::Data::new(DatabaseUp(up)))
}

/// The writer's queue, read at scrape time.
struct WriteQueue {
    store: Store,
    depth: IntGauge,
    capacity: IntGauge,
}

impl Collector for WriteQueue {
    fn desc(&self) -> Vec<&Desc> {
        [&self.depth, &self.capacity]
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (queued, capacity) = self.store.write_queue().unwrap_or((0, 0));
        self.depth.set(queued as i64);
        self.capacity.set(capacity as i64);
        [&self.depth, &self.capacity]
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}

/// Whether the database takes a read and the write lock within [`CHECK_TIMEOUT`]. A read pool
/// that is merely busy counts as up: that is load, which latency and the queue show.
async fn database_answers(store: &Store) -> bool {
    let reader = store.clone();
    let read = async move {
        match reader.check_readable().await {
            Ok(()) | Err(StoreError::Busy(_)) => true,
            Err(error) => {
                tracing::warn!(%error, "metrics: the database does not answer reads");
                false
            }
        }
    };
    let write = async {
        match store.probe_write().await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "metrics: the database writer cannot take the write lock");
                false
            }
        }
    };
    let both = futures_util::future::join(read, write);
    match tokio::time::timeout(CHECK_TIMEOUT, both).await {
        Ok((read, write)) => read && write,
        Err(_) => {
            tracing::warn!(timeout = ?CHECK_TIMEOUT, "metrics: the database check took too long");
            false
        }
    }
}

/// `GET /metrics` of the REST role: checks the database, then exports everything.
pub async fn export(
    state: web::Data<RestState>,
    up: web::Data<DatabaseUp>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    up.0.set(i64::from(database_answers(&state.store).await));
    crate::metrics::export(metrics).await
}
