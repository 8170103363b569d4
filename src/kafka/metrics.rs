//! The families `consume-kafka` exports on `--metrics-bind`, besides the shared HTTP and process
//! ones of [`crate::metrics`]:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `articles_kafka_messages_consumed_total` | counter | |
//! | `articles_kafka_messages_applied_total` | counter (applied through the REST API, or superseded by a later message of the same batch) | |
//! | `articles_kafka_messages_stale_total` | counter (upserts older than the stored row, left out) | |
//! | `articles_kafka_messages_dead_lettered_total` | counter | reason: `invalid_json`, `invalid_message`, `invalid_article`, `refused` |
//! | `articles_kafka_batch_apply_duration_seconds` | histogram | |
//! | `articles_kafka_rest_errors_total` | counter | kind: `unreachable`, `timeout`, `invalid_response`, `http_4xx`, `http_5xx` |
//! | `articles_kafka_consumer_lag` | gauge, messages behind the partition's end | topic, partition |
//! | `articles_kafka_pipeline_latency_seconds` | histogram, publish time to applied in the REST API | |
//! | `articles_kafka_up` | gauge, 1 when reachable | component: `broker`, `rest` |
//!
//! Every labelled counter starts at 0 for its known label values, so an alert on it sees 0, not
//! "no data", before the first event.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::api_client::ClientError;
use crate::metrics::LATENCY_BUCKETS;

/// Dead-letter reasons, as labels.
pub const DEAD_LETTER_REASONS: &[&str] = &[
    "invalid_json",
    "invalid_message",
    "invalid_article",
    "refused",
];
/// REST error kinds, as labels.
pub const REST_ERROR_KINDS: &[&str] = &[
    "unreachable",
    "timeout",
    "invalid_response",
    "http_4xx",
    "http_5xx",
];

/// Pipeline latency buckets: 1 ms to 2 minutes.
const PIPELINE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The consumer's metrics, registered on the process's registry.
pub struct ConsumerMetrics {
    pub consumed: IntCounter,
    pub applied: IntCounter,
    pub stale: IntCounter,
    dead_lettered: IntCounterVec,
    pub batch_duration: Histogram,
    rest_errors: IntCounterVec,
    lag: IntGaugeVec,
    pub pipeline_latency: Histogram,
    pub broker_up: IntGauge,
    pub rest_up: IntGauge,
}

impl ConsumerMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Arc<Self>> {
        let counter = |name: &str, help: &str| IntCounter::new(name, help);
        let consumed = counter(
            "articles_kafka_messages_consumed_total",
            "Messages read from the topic",
        )?;
        let applied = counter(
            "articles_kafka_messages_applied_total",
            "Messages applied through the REST API (or superseded within their batch)",
        )?;
        let stale = counter(
            "articles_kafka_messages_stale_total",
            "Upserts left out because the stored article is newer",
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "articles_kafka_messages_dead_lettered_total",
                "Messages published to the dead-letter topic, by reason",
            ),
            &["reason"],
        )?;
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "articles_kafka_batch_apply_duration_seconds",
                "Time to apply one batch through the REST API, retries included",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let rest_errors = IntCounterVec::new(
            Opts::new(
                "articles_kafka_rest_errors_total",
                "Failed calls to the REST API, by kind",
            ),
            &["kind"],
        )?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "articles_kafka_consumer_lag",
                "Messages between the group's position and the end of the partition",
            ),
            &["topic", "partition"],
        )?;
        let pipeline_latency = Histogram::with_opts(
            HistogramOpts::new(
                "articles_kafka_pipeline_latency_seconds",
                "Time from publishing a change to having it applied in the destination",
            )
            .buckets(PIPELINE_BUCKETS.to_vec()),
        )?;
        let up = IntGaugeVec::new(
            Opts::new(
                "articles_kafka_up",
                "Whether the consumer reaches the component (1) or not (0)",
            ),
            &["component"],
        )?;
        let broker_up = up.with_label_values(&["broker"]);
        let rest_up = up.with_label_values(&["rest"]);
        for reason in DEAD_LETTER_REASONS {
            dead_lettered.with_label_values(&[reason]);
        }
        for kind in REST_ERROR_KINDS {
            rest_errors.with_label_values(&[kind]);
        }
        for collector in [
            Box::new(consumed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(applied.clone()),
            Box::new(stale.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(batch_duration.clone()),
            Box::new(rest_errors.clone()),
            Box::new(lag.clone()),
            Box::new(pipeline_latency.clone()),
            Box::new(up),
        ] {
            registry.register(collector)?;
        }
        Ok(Arc::new(Self {
            consumed,
            applied,
            stale,
            dead_lettered,
            batch_duration,
            rest_errors,
            lag,
            pipeline_latency,
            broker_up,
            rest_up,
        }))
    }

    pub fn dead_lettered(&self, reason: &str) {
        self.dead_lettered.with_label_values(&[reason]).inc();
    }

    pub fn rest_error(&self, error: &ClientError) {
        let kind = match error {
            ClientError::Unreachable(_) => "unreachable",
            ClientError::Timeout(_) => "timeout",
            ClientError::InvalidResponse(_) => "invalid_response",
            ClientError::Api { status, .. } if *status >= 500 => "http_5xx",
            ClientError::Api { .. } => "http_4xx",
        };
        self.rest_errors.with_label_values(&[kind]).inc();
    }

    /// Replaces the lag gauges with `lags` (topic, partition, messages behind).
    pub fn set_lag(&self, lags: impl IntoIterator<Item = (String, i32, i64)>) {
        self.lag.reset();
        for (topic, partition, lag) in lags {
            self.lag
                .with_label_values(&[&topic, &partition.to_string()])
                .set(lag);
        }
    }

    pub fn observe_latency(&self, latency: Duration) {
        self.pipeline_latency.observe(latency.as_secs_f64());
    }
}
