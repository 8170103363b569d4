//! Families the GraphQL server adds to the shared HTTP ones of [`crate::metrics`]:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `articles_graphql_operations_total` | counter | operation, outcome |
//! | `articles_graphql_upstream_requests_total` | counter | method, status |
//! | `articles_graphql_upstream_request_duration_seconds` | histogram, 100 µs – 10 s | method |
//! | `articles_graphql_upstream_errors_total` | counter | kind: `unreachable`, `timeout`, `http_5xx` |
//! | `articles_graphql_refusals_total` | counter | limit |
//!
//! `operation` is the client's `operationName` (letters, digits and `_`, at most 64 of them), or
//! `anonymous`; after [`MAX_OPERATION_NAMES`] distinct names, new ones count as `other`, so a
//! client cannot blow up the cardinality. `outcome` is `ok` (every field answered
//! `success: true`), `failed` (some field answered `success: false`, e.g. not found or REST down)
//! or `error` (a GraphQL `errors` array: syntax, validation, limits).
//!
//! Upstream `status` is the REST API's HTTP status, or `unreachable` / `timeout`. A refusal's
//! `limit` is `cost`, `rest_calls`, `response_size`, `busy` or `method` (a GET mutation); refused
//! operations also count as `outcome="error"`. An upstream error is a REST call that failed for
//! the REST API's reasons, not the client's: unreachable, timed out, or answered 5xx.
//!
//! Counters an alert or a dashboard reads exist at 0 from start-up: every refusal limit, every
//! upstream error kind, and the outcomes of `anonymous` operations.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::api_client::CallObserver;
use crate::metrics::LATENCY_BUCKETS;

/// Distinct operation names tracked before new ones are counted as `other`.
pub const MAX_OPERATION_NAMES: usize = 100;

/// The `limit` label of every refusal (`Refusal::metric_label`).
pub const REFUSAL_LIMITS: &[&str] = &["cost", "rest_calls", "response_size", "busy", "method"];

/// The `kind` label of upstream errors.
pub const UPSTREAM_ERROR_KINDS: &[&str] = &["unreachable", "timeout", "http_5xx"];

/// The upstream error kind of a call's outcome (see `CallObserver`), `None` for a call the REST
/// API answered below 500.
fn upstream_error_kind(status: &str) -> Option<&'static str> {
    match status {
        "unreachable" => Some("unreachable"),
        "timeout" => Some("timeout"),
        status if status.starts_with('5') => Some("http_5xx"),
        _ => None,
    }
}

/// How an operation ended, for `articles_graphql_operations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Error,
}

impl Outcome {
    const ALL: [Self; 3] = [Self::Ok, Self::Failed, Self::Error];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Error => "error",
        }
    }
}

/// The GraphQL server's own metrics, registered on the process's [`crate::metrics::Metrics`].
pub struct GraphqlMetrics {
    operations: IntCounterVec,
    upstream: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    refusals: IntCounterVec,
    names: Mutex<HashSet<String>>,
}

impl GraphqlMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Arc<Self>> {
        let operations = IntCounterVec::new(
            Opts::new(
                "articles_graphql_operations_total",
                "GraphQL operations executed, by operation name and outcome",
            ),
            &["operation", "outcome"],
        )?;
        let upstream = IntCounterVec::new(
            Opts::new(
                "articles_graphql_upstream_requests_total",
                "Calls to the REST API, by method and status",
            ),
            &["method", "status"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "articles_graphql_upstream_request_duration_seconds",
                "Time until the REST API's response head, in seconds",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "articles_graphql_upstream_errors_total",
                "Calls to the REST API that failed: unreachable, timed out or answered 5xx",
            ),
            &["kind"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "articles_graphql_refusals_total",
                "GraphQL operations refused or stopped by a limit, by limit",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(operations.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(upstream.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        for limit in REFUSAL_LIMITS {
            refusals.with_label_values(&[limit]);
        }
        for kind in UPSTREAM_ERROR_KINDS {
            upstream_errors.with_label_values(&[kind]);
        }
        for outcome in Outcome::ALL {
            operations.with_label_values(&["anonymous", outcome.label()]);
        }
        Ok(Arc::new(Self {
            operations,
            upstream,
            upstream_duration,
            upstream_errors,
            refusals,
            names: Mutex::default(),
        }))
    }

    /// Counts one executed operation.
    pub fn operation(&self, name: Option<&str>, outcome: Outcome) {
        let label = self.operation_label(name);
        self.operations
            .with_label_values(&[label.as_str(), outcome.label()])
            .inc();
    }

    /// Counts one operation refused or stopped by `limit` (see `Refusal::metric_label`).
    pub fn refused(&self, limit: &str) {
        self.refusals.with_label_values(&[limit]).inc();
    }

    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "anonymous".into();
        };
        let valid = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return "other".into();
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.contains(name) || names.len() < MAX_OPERATION_NAMES {
            names.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".into()
        }
    }

    /// The observer to give each worker's REST client.
    pub fn upstream_observer(self: &Arc<Self>) -> CallObserver {
        let metrics = Arc::clone(self);
        Arc::new(move |method: &str, status: &str, elapsed: Duration| {
            metrics.upstream.with_label_values(&[method, status]).inc();
            if let Some(kind) = upstream_error_kind(status) {
                metrics.upstream_errors.with_label_values(&[kind]).inc();
            }
            metrics
                .upstream_duration
                .with_label_values(&[method])
                .observe(elapsed.as_secs_f64());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let metrics = GraphqlMetrics::register(&Registry::new()).unwrap();
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("Get_1")), "Get_1");
        assert_eq!(metrics.operation_label(Some("a b")), "other");
        for i in 0..MAX_OPERATION_NAMES {
            metrics.operation_label(Some(&format!("op{i}")));
        }
        assert_eq!(metrics.operation_label(Some("Get_1")), "Get_1");
        assert_eq!(metrics.operation_label(Some("brand_new")), "other");
    }

    /// Failures of the REST API are upstream errors; its answers below 500 are not.
    #[test]
    fn upstream_errors_are_the_rest_apis_failures() {
        for (status, kind) in [
            ("unreachable", Some("unreachable")),
            ("timeout", Some("timeout")),
            ("503", Some("http_5xx")),
            ("500", Some("http_5xx")),
            ("404", None),
            ("200", None),
        ] {
            assert_eq!(upstream_error_kind(status), kind, "{status}");
            if let Some(kind) = kind {
                assert!(UPSTREAM_ERROR_KINDS.contains(&kind));
            }
        }
    }
}
