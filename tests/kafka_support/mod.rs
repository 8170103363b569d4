//! Helpers of the Kafka tests: a real broker shared by every test of a test binary ([`broker`]),
//! topics of their own ([`unique_topic`], [`create_topic`]), raw messages sent as a misbehaving
//! producer would send them ([`produce_raw`]: no key, no value, odd headers) and everything a
//! topic holds read back ([`read_all`]), for asserting on what our producer published and on the
//! dead-letter queue.
//!
//! The broker is the development broker of `scripts/kafka.sh` (started once if it is not running,
//! and left running: `scripts/kafka.sh stop` ends it), or an existing cluster named by
//! `ARTICLES_TEST_KAFKA_BROKERS`. A test without a broker panics with the reason; it never passes
//! by skipping.
//!
//! The async helpers never block the runtime's thread (librdkafka's blocking calls run on
//! tokio's blocking pool), so they can be awaited in an `#[actix_rt::test]` beside an in-process
//! REST API. Each builds its own short-lived librdkafka client, so tests share nothing but the
//! broker.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// Names an existing Kafka cluster (bootstrap servers, `host:port,...`) for the tests instead of
/// the development broker; the tests then create their topics there (unique names, never
/// deleted).
pub const BROKERS_ENV: &str = "ARTICLES_TEST_KAFKA_BROKERS";

/// How long a helper waits for the broker to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A message as read back from a topic by [`read_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    /// `None`: the message had no key.
    pub key: Option<Vec<u8>>,
    /// `None`: a tombstone (no value at all, which is not the same as an empty value).
    pub value: Option<Vec<u8>>,
    /// In the order they were sent; a header may repeat, and its value may be null (`None`).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch (create or log-append time), when the message has one.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// The key as text; panics when it is not UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        self.key.as_deref().map(|key| utf8(key, "key", self))
    }

    /// The value as text; panics when it is not UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .map(|value| utf8(value, "value", self))
    }

    /// The value parsed as JSON (`None` for a tombstone); panics when it is not JSON.
    pub fn value_json(&self) -> Option<serde_json::Value> {
        self.value.as_deref().map(|value| {
            serde_json::from_slice(value)
                .unwrap_or_else(|e| panic!("value of {} is not JSON ({e})", self.position()))
        })
    }

    /// The value of the first header called `name`: `None` when there is none or its value is
    /// null.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_deref())
    }

    /// [`Record::header`] as text; panics when it is not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).map(|value| utf8(value, name, self))
    }

    /// `partition/offset`, for messages.
    pub fn position(&self) -> String {
        format!("{}/{}", self.partition, self.offset)
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &str, record: &Record) -> &'a str {
    std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{what} of {} is not UTF-8 ({e})", record.position()))
}

/// Where [`produce_raw`] put a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// The bootstrap servers of a running broker, the same for every test of this test binary.
///
/// The first call uses `ARTICLES_TEST_KAFKA_BROKERS` when set, else runs `scripts/kafka.sh start`
/// (which returns at once when the broker already runs, as under `scripts/test.sh`, and waits
/// for a broker it starts to answer), then checks that the broker answers a metadata request. It
/// blocks meanwhile (seconds when the broker has to start). Panics with the reason when no
/// broker can be had, in this call and every later one.
pub fn broker() -> String {
    static BROKER: OnceLock<Result<String, String>> = OnceLock::new();
    match BROKER.get_or_init(find_broker) {
        Ok(brokers) => brokers.clone(),
        Err(why) => panic!("no Kafka broker for the tests: {why}"),
    }
}

fn find_broker() -> Result<String, String> {
    let brokers = match std::env::var(BROKERS_ENV) {
        Ok(brokers) if !brokers.trim().is_empty() => brokers.trim().to_owned(),
        _ => start_development_broker()?,
    };
    let consumer: BaseConsumer = client_config(&brokers)
        .create()
        .map_err(|e| format!("cannot create a Kafka client for {brokers}: {e}"))?;
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(|e| format!("{brokers} did not answer a metadata request: {e}"))?;
    if metadata.brokers().is_empty() {
        return Err(format!("{brokers} answered with no brokers"));
    }
    Ok(brokers)
}

/// Runs `scripts/kafka.sh start` and reads the address it wrote for clients.
fn start_development_broker() -> Result<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join("scripts/kafka.sh"))
        .arg("start")
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run scripts/kafka.sh: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "scripts/kafka.sh start failed ({}); {BROKERS_ENV} can name another broker:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let address = root.join("target/services/kafka/address");
    std::fs::read_to_string(&address)
        .map(|text| text.trim().to_owned())
        .map_err(|e| format!("scripts/kafka.sh start succeeded but {address:?}: {e}"))
}

/// A topic name of the form `{prefix}-{pid}-{millis}-{n}`: unique per test (`n` counts the calls
/// in this process) and per run (pid and clock), so tests never see each other's messages, even
/// on a long-lived broker. `prefix` may use letters, digits, `.`, `_` and `-`.
pub fn unique_topic(prefix: &str) -> String {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    assert!(
        !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "{prefix:?} cannot start a Kafka topic name"
    );
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

/// The settings every client of these helpers starts from: the bootstrap servers and a client id
/// that names the tests in the broker's log. For a test that needs a client of its own.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "articles-tests");
    config
}

/// Creates `name` with `partitions` partitions (the cluster's default replication factor) and
/// returns once the topic's metadata shows a leader for every partition, so the next produce or
/// consume finds it. Panics if the broker refuses or the leaders do not appear within 30 s.
pub async fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers).create().expect("Kafka admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .unwrap_or_else(|e| panic!("CreateTopics {name}: {e}"));
    for result in results {
        if let Err((topic, error)) = result {
            panic!("creating topic {topic}: {error}");
        }
    }
    let (brokers, name) = (brokers.to_owned(), name.to_owned());
    blocking(move || wait_for_leaders(&brokers, &name, partitions)).await;
}

/// Polls the topic's metadata until it lists `partitions` partitions, each with a leader.
fn wait_for_leaders(brokers: &str, name: &str, partitions: i32) {
    let consumer: BaseConsumer = client_config(brokers).create().expect("Kafka client");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::from("no metadata yet");
    while Instant::now() < deadline {
        match consumer.fetch_metadata(Some(name), REQUEST_TIMEOUT) {
            Ok(metadata) => {
                if let Some(topic) = metadata.topics().iter().find(|t| t.name() == name) {
                    let led = topic
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_none() && p.leader() >= 0)
                        .count();
                    if topic.error().is_none() && led == partitions as usize {
                        return;
                    }
                    seen = format!(
                        "{led} of {partitions} partitions led, topic error {:?}",
                        topic.error()
                    );
                }
            }
            Err(e) => seen = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("topic {name}: partition leaders not all elected within 30 s ({seen})");
}

/// Sends one message as it is given: no key and no value (a tombstone) are sent as such, headers
/// in order (a name may repeat). Waits for the broker's acknowledgement from every in-sync
/// replica (`acks=all`) and returns where the message landed. Keyed messages are placed by the
/// Java client's partitioner (murmur2 of the key), the one `articles sync` uses too, so a key sent
/// here lands in the partition where sync (or any Java producer) puts it; keyless ones at random.
/// Panics when the message is not delivered within 30 s.
pub async fn produce_raw(
    brokers: &str,
    topic: &str,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, &[u8])],
) -> Delivered {
    let producer: FutureProducer = client_config(brokers)
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("Kafka producer");
    let mut record_headers = OwnedHeaders::new_with_capacity(headers.len());
    for &(name, value) in headers {
        record_headers = record_headers.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(record_headers);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(value) = value {
        record = record.payload(value);
    }
    match producer.send(record, Duration::from_secs(30)).await {
        Ok(delivery) => Delivered {
            partition: delivery.partition,
            offset: delivery.offset,
        },
        Err((error, _)) => panic!("producing to {topic}: {error}"),
    }
}

/// Every message of `topic`, from the start of each partition up to its high watermark as
/// fetched when the call begins (messages produced meanwhile may be left out), sorted by
/// partition then offset: each partition's messages in the order the broker stored them.
/// Reads with a consumer of its own (no group commits), `read_committed` as librdkafka does by
/// default. Panics when the topic does not exist or the messages are not all read within
/// `timeout`.
pub async fn read_all(brokers: &str, topic: &str, timeout: Duration) -> Vec<Record> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    blocking(move || read_all_blocking(&brokers, &topic, timeout)).await
}

fn read_all_blocking(brokers: &str, topic: &str, timeout: Duration) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", unique_topic("articles-tests-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("Kafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let partitions = match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() => t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>(),
        Some(t) => panic!("topic {topic}: {:?}", t.error()),
        None => panic!("topic {topic} is not in the metadata"),
    };

    // partition -> (next offset to read, high watermark at the start)
    let mut progress = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("watermarks of {topic}/{partition}: {e}"));
        if high > low {
            progress.insert(partition, (low, high));
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .expect("partition added to the assignment");
        }
    }
    if progress.is_empty() {
        return Vec::new();
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|e| panic!("assigning {topic}: {e}"));

    let mut records = Vec::new();
    while progress.values().any(|(next, high)| next < high) {
        if Instant::now() > deadline {
            let short: Vec<String> = progress
                .iter()
                .filter(|(_, (next, high))| next < high)
                .map(|(p, (next, high))| format!("partition {p} at offset {next} of {high}"))
                .collect();
            panic!(
                "read_all({topic}): {timeout:?} passed with {} read; {}",
                records.len(),
                short.join(", ")
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let (next, high) = progress
                    .get_mut(&message.partition())
                    .expect("a message of an assigned partition");
                if message.offset() < *high {
                    records.push(to_record(&message));
                }
                *next = (*next).max(message.offset() + 1);
            }
            Some(Err(e)) => panic!("read_all({topic}): {e}"),
            // Transaction markers take offsets but are never delivered: the consumer's
            // position moves past them, so it, not the last message, says when we are done.
            None => advance_to_position(&consumer, &mut progress),
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

fn advance_to_position(consumer: &BaseConsumer, progress: &mut BTreeMap<i32, (i64, i64)>) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    for element in positions.elements() {
        if let (Offset::Offset(position), Some((next, _))) =
            (element.offset(), progress.get_mut(&element.partition()))
        {
            *next = (*next).max(position);
        }
    }
}

fn to_record<M: Message>(message: &M) -> Record {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    Record {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: message.timestamp().to_millis(),
    }
}

/// Runs librdkafka's blocking calls on tokio's blocking pool, keeping the test's runtime thread
/// (and any server on it) free.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking Kafka call: {e}"),
    }
}
