//! `articles consume-kafka`: reads the sync topic in a consumer group and applies each batch to
//! the REST API (`POST /articles/bulk` with `keep_newer`), then commits its offsets.
//!
//! One task takes a batch ([`next_batch`]), applies it ([`BatchApplier::apply_batch`]) and
//! commits. librdkafka serves rebalances while that task polls, so a rebalance always falls
//! between batches: offsets are never committed for work that was not applied, and a partition
//! handed to another consumer resumes at the last commit (at-least-once; the idempotent bulk
//! apply and its stale-update guard make a redelivery harmless).
//!
//! Failures, decided by [`Recovery`]: the REST API down, slow or answering 5xx → retry the same
//! request with capped exponential backoff, commit nothing, lose nothing; a request refused for
//! its data (400, 413, 422) → halve it down to the message, publish that message to the
//! dead-letter topic with the reason, go on; a message that cannot be read (not JSON, unknown
//! op, an invalid article) → dead-letter topic at once; a refusal no retry can fix (401, 403,
//! 404) → stop with exit status 2 and say what to check. SIGTERM/SIGINT: finish the batch in
//! flight, commit, leave the group, exit 0 (while the API is down: stop retrying, commit
//! nothing, exit 0).

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use clap::Parser;
use futures_util::future::{FutureExt, LocalBoxFuture};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::message::{self, Change, PUBLISHED_AT};
use super::metrics::ConsumerMetrics;
use super::{client_config, ensure_topic, KafkaSettings, DEFAULT_TOPIC};
use crate::api_client::{ApiClient, ClientError, Recovery};
use crate::config::parse_duration;
use crate::contract::{BulkCounts, BulkRequest, BulkRow};
use crate::db::models::{ArticleId, Timestamp};
use crate::metrics::Metrics;
use crate::server::BoundServer;

/// Most messages in one batch (one bulk request holds at most 10,000 rows).
pub const MAX_BATCH_SIZE: usize = 10_000;
/// Batches applied at once (without a key in common): one round of [`consume`].
pub const BATCHES_IN_FLIGHT: usize = 3;
/// A batch stops growing once its messages hold this many bytes: it bounds the consumer's memory
/// and keeps a bulk request well under the REST API's 64 MiB body limit (JSON escaping at most
/// sextuples text).
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// Options of `articles consume-kafka`.
#[derive(Debug, Clone, Parser)]
#[command(name = "consume-kafka")]
pub struct ConsumeArgs {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(
        long,
        env = "KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT,…"
    )]
    pub brokers: String,

    /// Topic to read (what `sync --to kafka://…/TOPIC` publishes to).
    #[arg(long, env = "KAFKA_TOPIC", default_value = DEFAULT_TOPIC, value_name = "TOPIC")]
    pub topic: String,

    /// Consumer group: consumers of one group share the topic's partitions; a new group reads
    /// the topic from the beginning.
    #[arg(
        long,
        env = "KAFKA_GROUP",
        default_value = "articles-sync-consumer",
        value_name = "GROUP"
    )]
    pub group: String,

    /// Dead-letter topic for messages that cannot be applied [default: TOPIC.dlq].
    #[arg(long, env = "KAFKA_DLQ_TOPIC", value_name = "TOPIC")]
    pub dlq_topic: Option<String>,

    /// Base URL of the REST API that applies the changes.
    #[arg(
        long,
        env = "REST_API_URL",
        default_value = "http://127.0.0.1:5000",
        value_name = "URL"
    )]
    pub rest_url: String,

    /// Bearer token for the REST API's writes.
    #[arg(
        long,
        env = "ARTICLES_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Most messages applied in one bulk request (1 to 10000).
    #[arg(long, env = "ARTICLES_KAFKA_BATCH_SIZE", default_value_t = 1000, value_parser = parse_batch_size, value_name = "N")]
    pub batch_size: usize,

    /// Once a batch has its first message, how long to wait for it to fill.
    #[arg(long, env = "ARTICLES_KAFKA_BATCH_WAIT", default_value = "20ms", value_parser = parse_duration, value_name = "DURATION")]
    pub batch_wait: Duration,

    /// Timeout of one call to the REST API.
    #[arg(long, env = "ARTICLES_KAFKA_REST_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub rest_timeout: Duration,

    /// Longest pause between two retries while the REST API or the broker is down.
    #[arg(long, env = "ARTICLES_KAFKA_MAX_BACKOFF", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub max_backoff: Duration,

    /// Address of `/metrics` and `/health`.
    #[arg(
        long,
        env = "ARTICLES_KAFKA_METRICS_BIND",
        default_value = "127.0.0.1:9100",
        value_name = "ADDR"
    )]
    pub metrics_bind: String,

    #[command(flatten)]
    pub kafka: KafkaSettings,
}

fn parse_batch_size(raw: &str) -> Result<usize, String> {
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
        .ok_or_else(|| format!("must be an integer from 1 to {MAX_BATCH_SIZE}"))
}

impl ConsumeArgs {
    fn dlq_topic(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }
}

/// A stop request (SIGTERM/SIGINT) that waiting code can notice at once.
#[derive(Clone, Default)]
pub struct Stop {
    raised: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl Stop {
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Sleeps for `pause`; `false` when a stop cut it short.
    async fn sleep(&self, pause: Duration) -> bool {
        let woken = self.wake.notified();
        if self.is_raised() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => !self.is_raised(),
            _ = woken => false,
        }
    }
}

/// Why a batch was not finished.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    /// A stop was requested while waiting for the REST API or the broker to come back; nothing
    /// of the batch is committed.
    #[error("stopped while waiting to retry")]
    Interrupted,
    /// Something no retry can fix (a wrong token or URL).
    #[error("{0:#}")]
    Fatal(anyhow::Error),
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Messages applied through the REST API (or superseded by a later one of the batch).
    pub applied: u64,
    /// Upserts the REST API left out because the stored article is newer.
    pub stale: u64,
    /// Messages published to the dead-letter topic.
    pub dead_lettered: u64,
}

/// The dead-letter topic and the producer that writes to it.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        Self { producer, topic }
    }
}

/// Applies batches of messages through the REST API; the consumer's one step.
pub struct BatchApplier {
    rest: ApiClient,
    auth: Option<String>,
    dead_letters: DeadLetters,
    metrics: Arc<ConsumerMetrics>,
    stop: Stop,
    max_backoff: Duration,
}

/// A change waiting in a bulk segment: the message it came from (the last one for its id).
struct Pending {
    change: Change,
    message: usize,
}

/// Consecutive messages applied together: a bulk request (one row per id, the last change
/// wins), or a create (the API picks the id).
enum Segment {
    Bulk {
        /// In order of first appearance.
        pending: Vec<Pending>,
        /// Where each id is in `pending`.
        index: HashMap<ArticleId, usize>,
        /// Messages whose change a later message of the segment replaced.
        superseded: u64,
    },
    Create {
        message: usize,
        change: Change,
    },
}

impl BatchApplier {
    pub fn new(
        rest: ApiClient,
        api_token: Option<&str>,
        dead_letters: DeadLetters,
        metrics: Arc<ConsumerMetrics>,
        stop: Stop,
        max_backoff: Duration,
    ) -> Self {
        Self {
            rest,
            auth: api_token
                .filter(|t| !t.is_empty())
                .map(|t| format!("Bearer {t}")),
            dead_letters,
            metrics,
            stop,
            max_backoff,
        }
    }

    /// Applies `messages` (in the order read, so in partition order) through the REST API and
    /// publishes those that cannot be applied to the dead-letter topic. Returns once every
    /// message is either applied or dead-lettered; the caller may then commit their offsets.
    pub async fn apply_batch(&self, messages: &[OwnedMessage]) -> Result<BatchOutcome, Halt> {
        let started = Instant::now();
        let mut outcome = BatchOutcome::default();
        let mut segments: Vec<Segment> = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            match message::decode(message.key(), message.payload()) {
                Err(poison) => {
                    self.dead_letter(message, poison.kind, &poison.reason, None)
                        .await?;
                    outcome.dead_lettered += 1;
                }
                Ok(change @ Change::Create { .. }) => segments.push(Segment::Create {
                    message: index,
                    change,
                }),
                Ok(change) => {
                    if !matches!(segments.last(), Some(Segment::Bulk { .. })) {
                        segments.push(Segment::Bulk {
                            pending: Vec::new(),
                            index: HashMap::new(),
                            superseded: 0,
                        });
                    }
                    let Some(Segment::Bulk {
                        pending,
                        index: positions,
                        superseded,
                    }) = segments.last_mut()
                    else {
                        unreachable!("a bulk segment was just pushed");
                    };
                    let id = change.id().expect("upserts and deletes name their article");
                    let latest = Pending {
                        change,
                        message: index,
                    };
                    match positions.get(&id) {
                        Some(&at) => {
                            pending[at] = latest;
                            *superseded += 1;
                        }
                        None => {
                            positions.insert(id, pending.len());
                            pending.push(latest);
                        }
                    }
                }
            }
        }
        for segment in segments {
            match segment {
                Segment::Bulk {
                    pending,
                    superseded,
                    ..
                } => {
                    let (counts, refused) = self.apply_rows(messages, &pending).await?;
                    outcome.stale += counts.stale;
                    outcome.applied += superseded + (pending.len() - refused) as u64;
                    outcome.dead_lettered += refused as u64;
                }
                Segment::Create { message, change } => {
                    if self.create(&messages[message], change).await? {
                        outcome.applied += 1;
                    } else {
                        outcome.dead_lettered += 1;
                    }
                }
            }
        }
        let now = Timestamp::now();
        for message in messages {
            if let Some(latency) = published_at(message).and_then(|at| age(at, now)) {
                self.metrics.observe_latency(latency);
            }
        }
        self.metrics.applied.inc_by(outcome.applied);
        self.metrics.stale.inc_by(outcome.stale);
        self.metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    /// Applies `pending` in one bulk request; when the API refuses its data, in halves down to
    /// the single row, whose message goes to the dead-letter topic. Returns the API's counts and
    /// how many rows were dead-lettered.
    fn apply_rows<'a>(
        &'a self,
        messages: &'a [OwnedMessage],
        pending: &'a [Pending],
    ) -> LocalBoxFuture<'a, Result<(BulkCounts, usize), Halt>> {
        async move {
            if pending.is_empty() {
                return Ok((BulkCounts::default(), 0));
            }
            let mut body = BulkRequest {
                keep_newer: true,
                ..BulkRequest::default()
            };
            for p in pending {
                match &p.change {
                    Change::Upsert(row) => body.upsert.push(BulkRow::from(row)),
                    Change::Delete(id) => body.delete.push(id.0),
                    Change::Create { .. } => unreachable!("creates are segments of their own"),
                }
            }
            let refused = match self
                .with_retry(|| self.rest.bulk(&body, self.auth.as_deref()))
                .await?
            {
                Ok(counts) => return Ok((counts, 0)),
                Err(refused) => refused,
            };
            if let [only] = pending {
                let message = &messages[only.message];
                self.dead_letter(message, "refused", &refused.to_string(), refused.status())
                    .await?;
                return Ok((BulkCounts::default(), 1));
            }
            let (first, second) = pending.split_at(pending.len() / 2);
            let (a, refused_a) = self.apply_rows(messages, first).await?;
            let (b, refused_b) = self.apply_rows(messages, second).await?;
            Ok((
                BulkCounts {
                    inserted: a.inserted + b.inserted,
                    updated: a.updated + b.updated,
                    unchanged: a.unchanged + b.unchanged,
                    deleted: a.deleted + b.deleted,
                    stale: a.stale + b.stale,
                },
                refused_a + refused_b,
            ))
        }
        .boxed_local()
    }

    /// A create (the original's bare `{"title", "content"}`): `POST /articles` with an
    /// Idempotency-Key made of the message's position, so a redelivery creates nothing new.
    /// `false` when the API refused it (the message is dead-lettered).
    async fn create(&self, message: &OwnedMessage, change: Change) -> Result<bool, Halt> {
        let Change::Create { title, content } = change else {
            unreachable!("only creates are create segments");
        };
        let key = format!(
            "kafka:{}:{}:{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
        let created = self
            .with_retry(|| {
                self.rest.create_article_once(
                    title.as_str(),
                    content.as_str(),
                    Some(&key),
                    self.auth.as_deref(),
                )
            })
            .await?;
        match created {
            Ok(_) => Ok(true),
            Err(refused) => {
                self.dead_letter(message, "refused", &refused.to_string(), refused.status())
                    .await?;
                Ok(false)
            }
        }
    }

    /// Calls the REST API until it answers: `Ok(Ok)` on success, `Ok(Err)` when it refused the
    /// request's data; retries what may pass (down, timeout, 5xx) with capped exponential
    /// backoff until it does or a stop is requested; stops on what no retry can fix.
    async fn with_retry<T, F, Fut>(&self, mut call: F) -> Result<Result<T, ClientError>, Halt>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            let error = match call().await {
                Ok(value) => {
                    if failures > 0 {
                        tracing::info!(failures, "the REST API answers again");
                    }
                    self.metrics.rest_up.set(1);
                    return Ok(Ok(value));
                }
                Err(error) => error,
            };
            self.metrics.rest_error(&error);
            match error.recovery() {
                Recovery::Refused => {
                    self.metrics.rest_up.set(1);
                    return Ok(Err(error));
                }
                Recovery::Stop => {
                    let hint = match error.status() {
                        Some(401 | 403) => " (check --api-token / ARTICLES_API_TOKEN)",
                        Some(404 | 405) => " (check --rest-url / REST_API_URL)",
                        _ => "",
                    };
                    return Err(Halt::Fatal(anyhow::Error::new(error).context(format!(
                        "the REST API at {} refuses the consumer{hint}",
                        self.rest.base_url()
                    ))));
                }
                Recovery::Retry => {
                    self.metrics.rest_up.set(0);
                    failures += 1;
                    // The first failure and then one in ten, so a long outage stays readable.
                    if failures == 1 || failures % 10 == 0 {
                        tracing::warn!(%error, failures, retry_in = ?backoff, "REST API call failed; retrying, nothing is committed meanwhile");
                    }
                    if !self.stop.sleep(backoff).await {
                        return Err(Halt::Interrupted);
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    /// Publishes `message` to the dead-letter topic with why it was not applied (headers
    /// `dlq.reason`, `dlq.error`, `dlq.status`, and where it came from: `dlq.topic`,
    /// `dlq.partition`, `dlq.offset`), keeping its key, value and headers. Waits for the broker's
    /// acknowledgement, retrying while the broker is unreachable.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        reason: &str,
        error: &str,
        status: Option<u16>,
    ) -> Result<(), Halt> {
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason,
            error,
            "message dead-lettered"
        );
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let status = status.map(|s| s.to_string());
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for header in original.iter() {
                    headers = headers.insert(header);
                }
            }
            for (key, value) in [
                ("dlq.reason", Some(reason)),
                ("dlq.error", Some(error)),
                ("dlq.status", status.as_deref()),
                ("dlq.topic", Some(message.topic())),
                ("dlq.partition", Some(&partition)),
                ("dlq.offset", Some(&offset)),
            ] {
                if let Some(value) = value {
                    headers = headers.insert(Header {
                        key,
                        value: Some(value),
                    });
                }
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.dead_letters.topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(value) = message.payload() {
                record = record.payload(value);
            }
            match self
                .dead_letters
                .producer
                .send(record, Duration::from_secs(5))
                .await
            {
                Ok(_) => {
                    self.metrics.dead_lettered(reason);
                    return Ok(());
                }
                Err((error, _)) => {
                    tracing::warn!(%error, topic = %self.dead_letters.topic, "cannot publish to the dead-letter topic; retrying");
                    if !self.stop.sleep(backoff).await {
                        return Err(Halt::Interrupted);
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }
}

/// When the message was published: its `published-at` header, else its Kafka timestamp.
fn published_at(message: &OwnedMessage) -> Option<Timestamp> {
    let header = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == PUBLISHED_AT)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(Timestamp::parse_rfc3339)
    });
    header.or_else(|| {
        let millis = message.timestamp().to_millis()?;
        chrono::DateTime::from_timestamp_millis(millis).map(Timestamp::from_utc)
    })
}

fn age(at: Timestamp, now: Timestamp) -> Option<Duration> {
    (now.naive() - at.naive()).to_std().ok()
}

/// Takes up to `size` messages (and about [`MAX_BATCH_BYTES`]): waits for the first until a
/// stop (or at most `first_wait`, when given), then at most `wait` for the rest. Empty when a
/// stop was requested or `first_wait` passed without a message. Every message received is in the
/// batch returned: waiting is cut short only between messages.
pub async fn next_batch<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    size: usize,
    wait: Duration,
    first_wait: Option<Duration>,
    stop: &Stop,
    metrics: &ConsumerMetrics,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut deadline = first_wait.map(|first| tokio::time::Instant::now() + first);
    while batch.len() < size && bytes < MAX_BATCH_BYTES && !stop.is_raised() {
        let woken = stop.wake.notified();
        // Biased: a message that is already there is taken before a deadline that has passed.
        let received = match deadline {
            None => tokio::select! {
                biased;
                received = consumer.recv() => received,
                _ = woken => break,
            },
            Some(deadline) => tokio::select! {
                biased;
                received = consumer.recv() => received,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = woken => break,
            },
        };
        match received {
            Ok(message) => {
                bytes += message.payload_len() + message.key_len();
                batch.push(message.detach());
                metrics.consumed.inc();
                if batch.len() == 1 {
                    deadline = Some(tokio::time::Instant::now() + wait);
                }
            }
            // Errors of the consumer itself (broker gone, partition EOF is off): librdkafka
            // reconnects by itself; report and keep polling.
            Err(error) => {
                tracing::warn!(%error, "Kafka consumer error");
                if batch.is_empty() && !stop.sleep(Duration::from_millis(200)).await {
                    break;
                }
            }
        }
    }
    batch
}

/// The offsets to commit after `batch`: one past the last message of each partition.
pub fn offsets_after(batch: &[OwnedMessage]) -> anyhow::Result<TopicPartitionList> {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for message in batch {
        let entry = next
            .entry((message.topic(), message.partition()))
            .or_insert(0);
        *entry = (*entry).max(message.offset() + 1);
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    Ok(list)
}

/// What librdkafka tells the consumer outside of messages: statistics (lag, broker state),
/// errors, rebalances.
pub struct ConsumerEvents {
    metrics: Arc<ConsumerMetrics>,
    topic: String,
}

impl ClientContext for ConsumerEvents {
    fn stats(&self, statistics: Statistics) {
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.metrics.broker_up.set(i64::from(up));
        let lags = statistics
            .topics
            .get(&self.topic)
            .into_iter()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| (self.topic.clone(), p.partition, p.consumer_lag))
            .collect::<Vec<_>>();
        self.metrics.set_lag(lags);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.metrics.broker_up.set(0);
        }
        tracing::warn!(%error, reason, "Kafka client error");
    }
}

impl ConsumerContext for ConsumerEvents {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = ?partition_numbers(partitions), "partitions assigned")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = ?partition_numbers(partitions), "partitions revoked")
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
    }
}

fn partition_numbers(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

/// The routes of the consumer's metrics server (see [`crate::metrics::Metrics::expect_endpoints`]).
const METRICS_ENDPOINTS: &[(&str, &str)] = &[("/metrics", "GET"), ("/health", "GET")];

/// The `/metrics` and `/health` server of the consumer.
fn build_metrics_server(
    listener: TcpListener,
    metrics: web::Data<Metrics>,
    consumer_metrics: Arc<ConsumerMetrics>,
    rest_url: String,
) -> anyhow::Result<BoundServer> {
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        // One REST client per worker (awc is not Send), for the health probe.
        let probe = ApiClient::new(&rest_url, Duration::from_secs(2));
        App::new()
            .app_data(metrics.clone())
            .app_data(web::Data::from(Arc::clone(&consumer_metrics)))
            .app_data(web::Data::new(probe))
            .route("/metrics", web::get().to(crate::metrics::export))
            .route("/health", web::get().to(health))
            .wrap(actix_web::middleware::from_fn(crate::metrics::observe))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(BoundServer::new(server, port))
}

/// `GET /health`: 200 while the broker (as librdkafka last saw it) and the REST API (asked
/// now) are reachable, else 503 naming which is not.
async fn health(metrics: web::Data<ConsumerMetrics>, rest: web::Data<ApiClient>) -> HttpResponse {
    let broker = metrics.broker_up.get() == 1;
    let rest = rest.health().await.is_ok();
    let state = |up: bool| if up { "ok" } else { "unreachable" };
    let body = serde_json::json!({
        "status": if broker && rest { "healthy" } else { "unhealthy" },
        "broker": state(broker),
        "rest_api": state(rest),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if broker && rest {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `articles consume-kafka`: consume until SIGTERM/SIGINT, then finish the batch in flight,
/// commit, leave the group and return.
pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    super::check_topic_name(&args.topic).map_err(anyhow::Error::msg)?;
    let dlq_topic = args.dlq_topic();
    super::check_topic_name(&dlq_topic).map_err(anyhow::Error::msg)?;
    let metrics = web::Data::new(Metrics::new());
    metrics.expect_endpoints(METRICS_ENDPOINTS);
    let consumer_metrics = ConsumerMetrics::register(metrics.registry())?;
    let listener = TcpListener::bind(&args.metrics_bind)
        .with_context(|| format!("cannot listen on {}", args.metrics_bind))?;
    let metrics_server = build_metrics_server(
        listener,
        metrics,
        Arc::clone(&consumer_metrics),
        args.rest_url.clone(),
    )?;
    let metrics_port = metrics_server.port();
    let metrics_handle = metrics_server.handle();
    actix_web::rt::spawn(metrics_server.run());

    let base = client_config(&args.brokers, &args.kafka)?;
    let mut consumer_config = base.clone();
    consumer_config
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000")
        // Find a topic created after the consumer started within seconds, not 5 minutes.
        .set("topic.metadata.refresh.interval.ms", "5000")
        // Prefetch at most 8 MiB (librdkafka's default is 64 MiB): a few batches ahead is
        // enough, and it is most of the consumer's memory.
        .set("queued.max.messages.kbytes", "8192")
        .set("fetch.max.bytes", "8388608")
        // Once that queue is full, fetch again as soon as we have taken from it: librdkafka
        // waits 1 s by default, so a consumer draining a backlog sat idle for half a second
        // after every few hundred milliseconds of work (drain of 200k articles: 19k -> 45k/s).
        .set("fetch.queue.backoff.ms", "10");
    // The user's settings win over ours.
    for (key, value) in args.kafka.all()? {
        consumer_config.set(key, value);
    }
    let consumer: StreamConsumer<ConsumerEvents> = consumer_config
        .create_with_context(ConsumerEvents {
            metrics: Arc::clone(&consumer_metrics),
            topic: args.topic.clone(),
        })
        .context("cannot create the Kafka consumer")?;
    let mut producer_config = base.clone();
    producer_config
        .set("enable.idempotence", "true")
        .set("acks", "all");
    let producer: FutureProducer = producer_config
        .create()
        .context("cannot create the dead-letter producer")?;
    // Also the first sign of the broker (statistics follow every second).
    match ensure_topic(&base, &dlq_topic, 1, Duration::from_secs(10)).await {
        Ok(()) => consumer_metrics.broker_up.set(1),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), topic = %dlq_topic, "cannot create the dead-letter topic; poison messages wait until it exists")
        }
    }
    consumer
        .subscribe(&[&args.topic])
        .with_context(|| format!("cannot subscribe to {}", args.topic))?;

    let stop = Stop::default();
    stop_on_signal(stop.clone())?;
    let applier = BatchApplier::new(
        ApiClient::new(&args.rest_url, args.rest_timeout),
        args.api_token.as_deref(),
        DeadLetters::new(producer, dlq_topic.clone()),
        Arc::clone(&consumer_metrics),
        stop.clone(),
        args.max_backoff,
    );
    consumer_metrics
        .rest_up
        .set(i64::from(applier.rest.health().await.is_ok()));
    tracing::info!(
        brokers = %args.brokers,
        topic = %args.topic,
        group = %args.group,
        dlq = %dlq_topic,
        rest_url = %args.rest_url,
        port = metrics_port,
        "Kafka consumer listening for metrics; consuming"
    );
    let applier = Rc::new(applier);
    let result = consume(
        &consumer,
        Rc::clone(&applier),
        &args,
        &stop,
        &consumer_metrics,
    )
    .await;
    // Leaving the group (librdkafka's close) blocks while it talks to the broker.
    drop(applier);
    actix_web::rt::task::spawn_blocking(move || drop(consumer))
        .await
        .ok();
    metrics_handle.stop(true).await;
    match result {
        Ok(()) => {
            tracing::info!("Kafka consumer stopped");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// A batch of a round, applied by a task of its own, with what it needs to be committed.
struct InFlight {
    /// What to commit once it is applied: one past its last message of each partition.
    offsets: TopicPartitionList,
    messages: usize,
    /// The keys of its messages: a later batch that shares one waits for this one (one article's
    /// changes are applied in order). `None`: a message without a key, which waits for, and
    /// holds back, every other batch.
    keys: Option<HashSet<Vec<u8>>>,
    /// The task applying it (`None` once awaited early, see `outcome`).
    task: Option<tokio::task::JoinHandle<Result<BatchOutcome, Halt>>>,
    outcome: Option<Result<BatchOutcome, Halt>>,
}

impl InFlight {
    fn conflicts_with(&self, keys: &Option<HashSet<Vec<u8>>>) -> bool {
        match (&self.keys, keys) {
            (Some(ours), Some(theirs)) => !ours.is_disjoint(theirs),
            _ => true,
        }
    }
}

fn keys_of(batch: &[OwnedMessage]) -> Option<HashSet<Vec<u8>>> {
    batch.iter().map(|m| m.key().map(<[u8]>::to_vec)).collect()
}

/// The consume loop, in rounds: read up to [`BATCHES_IN_FLIGHT`] batches (only the first waits
/// for messages), apply them at once (the REST API parses one while its writer commits another)
/// except that a batch sharing a key with an earlier one of the round waits for it (one article's
/// changes are applied in order), then commit them in the order they were read. Nothing is read
/// while a batch is in flight, so a rebalance, which librdkafka serves while we read, always falls
/// between rounds: no partition moves to another consumer with its changes still being applied.
async fn consume(
    consumer: &StreamConsumer<ConsumerEvents>,
    applier: Rc<BatchApplier>,
    args: &ConsumeArgs,
    stop: &Stop,
    metrics: &ConsumerMetrics,
) -> anyhow::Result<()> {
    while !stop.is_raised() {
        let mut round: Vec<InFlight> = Vec::new();
        while round.len() < BATCHES_IN_FLIGHT {
            // The first batch of a round waits for messages; the others take what is there.
            let first_wait = (!round.is_empty()).then_some(Duration::ZERO);
            let batch = next_batch(
                consumer,
                args.batch_size,
                args.batch_wait,
                first_wait,
                stop,
                metrics,
            )
            .await;
            if batch.is_empty() {
                break;
            }
            let keys = keys_of(&batch);
            if round.iter().any(|earlier| earlier.conflicts_with(&keys)) {
                // Let the earlier batches land first.
                for earlier in &mut round {
                    if let Some(task) = earlier.task.take() {
                        earlier.outcome = Some(
                            task.await
                                .map_err(|e| anyhow::anyhow!("a batch's task failed: {e}"))?,
                        );
                    }
                }
            }
            let offsets = offsets_after(&batch)?;
            let messages = batch.len();
            let applier = Rc::clone(&applier);
            let task = actix_web::rt::spawn(async move { applier.apply_batch(&batch).await });
            round.push(InFlight {
                offsets,
                messages,
                keys,
                task: Some(task),
                outcome: None,
            });
        }
        let mode = if stop.is_raised() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        for done in round {
            if !finish(consumer, done, mode).await? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Waits for a batch in flight and commits its offsets; `Ok(false)` when it was not applied
/// (stopped while retrying), so neither it nor any later batch may be committed.
async fn finish(
    consumer: &StreamConsumer<ConsumerEvents>,
    done: InFlight,
    mode: CommitMode,
) -> anyhow::Result<bool> {
    let outcome = match (done.task, done.outcome) {
        (_, Some(outcome)) => outcome,
        (Some(task), None) => task
            .await
            .map_err(|e| anyhow::anyhow!("a batch's task failed: {e}"))?,
        (None, None) => unreachable!("a batch has a task or an outcome"),
    };
    match outcome {
        Ok(outcome) => {
            tracing::debug!(
                messages = done.messages,
                applied = outcome.applied,
                stale = outcome.stale,
                dead_lettered = outcome.dead_lettered,
                "batch applied"
            );
            // After a rebalance took a partition away, its commit fails: the new owner starts
            // from the last commit and applies those messages again (harmlessly).
            if let Err(error) = consumer.commit(&done.offsets, mode) {
                tracing::warn!(%error, "offsets not committed; the messages will be delivered again");
            }
            Ok(true)
        }
        Err(Halt::Interrupted) => {
            tracing::info!(
                "stopping with a batch not applied; it is delivered again at the next start"
            );
            Ok(false)
        }
        Err(Halt::Fatal(error)) => Err(error),
    }
}

/// Raises `stop` on SIGTERM or SIGINT.
fn stop_on_signal(stop: Stop) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping after the batch in flight");
        stop.raise();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_one_past_the_last_message_of_each_partition() {
        let message = |partition, offset| {
            OwnedMessage::new(
                None,
                None,
                "t".into(),
                rdkafka::Timestamp::NotAvailable,
                partition,
                offset,
                None,
            )
        };
        let list = offsets_after(&[message(0, 5), message(1, 9), message(0, 7)]).unwrap();
        let mut offsets: Vec<(i32, Offset)> = list
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        offsets.sort_by_key(|(p, _)| *p);
        assert_eq!(offsets, [(0, Offset::Offset(8)), (1, Offset::Offset(10))]);
    }
}
