//! What `articles sync --watch --metrics-bind ADDR` serves on `/metrics` (with the shared HTTP and
//! process families of [`crate::metrics`]), for an operator to watch a long-running sync:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `articles_sync_rows_applied_total` | counter, rows written to or deleted from the destination | change: `inserted`, `updated`, `deleted` |
//! | `articles_sync_rows_skipped_total` | counter, source rows that could not be copied | |
//! | `articles_sync_passes_total` | counter, passes finished (successful or not) | |
//! | `articles_sync_errors_total` | counter, passes that failed (and are retried after `--interval`) | |
//! | `articles_sync_last_success_timestamp_seconds` | gauge, Unix time of the end of the last successful pass (0: none yet) | |
//! | `articles_sync_last_pass_duration_seconds` | gauge, how long the last pass took | |
//!
//! Rows are counted as each batch is applied, so a long first pass shows its progress. Every
//! counter exists at 0 from start-up.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::{web, App, HttpServer};
use anyhow::Context;
use prometheus::{Gauge, IntCounter, IntCounterVec, Opts, Registry};

use super::progress::Counts;
use crate::metrics::Metrics;
use crate::server::BoundServer;

/// The routes of the sync's metrics server.
const ENDPOINTS: &[(&str, &str)] = &[("/metrics", "GET")];

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassOutcome {
    /// Every source row was looked at: the destination was a replica when it ended.
    Complete,
    /// A stop (SIGTERM) ended it after a whole batch: neither a success nor an error.
    Stopped,
    /// It failed; the next pass carries on after `--interval`.
    Failed,
}

/// The metrics of a `--watch` run.
pub struct SyncMetrics {
    rows_applied: IntCounterVec,
    rows_skipped: IntCounter,
    passes: IntCounter,
    errors: IntCounter,
    last_success: Gauge,
    last_duration: Gauge,
}

impl SyncMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Arc<Self>> {
        let rows_applied = IntCounterVec::new(
            Opts::new(
                "articles_sync_rows_applied_total",
                "Rows written to or deleted from the destination, by change",
            ),
            &["change"],
        )?;
        let rows_skipped = IntCounter::new(
            "articles_sync_rows_skipped_total",
            "Source rows that could not be copied (named in the log)",
        )?;
        let passes = IntCounter::new(
            "articles_sync_passes_total",
            "Sync passes finished, successful or not",
        )?;
        let errors = IntCounter::new(
            "articles_sync_errors_total",
            "Sync passes that failed (retried after --interval)",
        )?;
        let last_success = Gauge::new(
            "articles_sync_last_success_timestamp_seconds",
            "Unix time at which the last successful pass ended (0: none yet)",
        )?;
        let last_duration = Gauge::new(
            "articles_sync_last_pass_duration_seconds",
            "How long the last pass took, in seconds",
        )?;
        for change in ["inserted", "updated", "deleted"] {
            rows_applied.with_label_values(&[change]);
        }
        for collector in [
            Box::new(rows_applied.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rows_skipped.clone()),
            Box::new(passes.clone()),
            Box::new(errors.clone()),
            Box::new(last_success.clone()),
            Box::new(last_duration.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Arc::new(Self {
            rows_applied,
            rows_skipped,
            passes,
            errors,
            last_success,
            last_duration,
        }))
    }

    /// Counts the rows of one applied batch (nothing for a dry run's).
    pub fn batch(&self, counts: &Counts) {
        for (change, rows) in [
            ("inserted", counts.inserted),
            ("updated", counts.updated),
            ("deleted", counts.deleted),
        ] {
            self.rows_applied.with_label_values(&[change]).inc_by(rows);
        }
        self.rows_skipped.inc_by(counts.skipped);
    }

    /// A pass ended after `took`.
    pub fn pass(&self, outcome: PassOutcome, took: Duration) {
        self.passes.inc();
        self.last_duration.set(took.as_secs_f64());
        match outcome {
            PassOutcome::Complete => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                self.last_success.set(now.as_secs_f64());
            }
            PassOutcome::Stopped => {}
            PassOutcome::Failed => self.errors.inc(),
        }
    }
}

/// Binds `address` and builds the `/metrics` server of a `--watch` run (one worker, no signal
/// handling of its own: sync's loop owns SIGTERM). Nothing is served until the returned server
/// runs.
pub fn build(address: &str) -> anyhow::Result<(BoundServer, Arc<SyncMetrics>)> {
    let listener =
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    let port = listener.local_addr()?.port();
    let metrics = web::Data::new(Metrics::new());
    metrics.expect_endpoints(ENDPOINTS);
    let sync_metrics = SyncMetrics::register(metrics.registry())?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(crate::metrics::export))
            .wrap(actix_web::middleware::from_fn(crate::metrics::observe))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((BoundServer::new(server, port), sync_metrics))
}
