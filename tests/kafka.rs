//! The Kafka pipeline through the real binaries and a real broker: Base A → `articles sync --to
//! kafka://…` → topic → `articles consume-kafka` → `articles serve-rest` → Base B, checked with
//! `articles verify`; faults (kill -9, the REST API gone), poison messages, replays, consumer
//! groups and the original design's message shapes.
mod common;
mod kafka_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{wait_for, ChildServer, BIN};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A whole pipeline of its own: source A, REST API over B, a topic, a state file.
struct Pipeline {
    dir: TempDir,
    a: PathBuf,
    b: PathBuf,
    brokers: String,
    topic: String,
    rest: Option<ChildServer>,
    rest_port: u16,
}

impl Pipeline {
    /// A with `articles` rows of about `size` bytes; the REST API over an empty B; a topic with
    /// `partitions` (as `sync` would create it).
    fn new(articles: i64, size: usize, partitions: i32) -> Self {
        let brokers = kafka_support::broker();
        let topic = kafka_support::unique_topic("pipeline");
        block_on(kafka_support::create_topic(&brokers, &topic, partitions));
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        let b = dir.path().join("b.db");
        create_source(&a, articles, size);
        let rest = start_rest(&b, 0);
        let rest_port = rest.port;
        Self {
            dir,
            a,
            b,
            brokers,
            topic,
            rest: Some(rest),
            rest_port,
        }
    }

    fn url(&self) -> String {
        format!("kafka://{}/{}", self.brokers, self.topic)
    }

    fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    fn sync_command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .args([
                "sync",
                "--from",
                &self.a.to_string_lossy(),
                "--to",
                &self.url(),
            ])
            .args([
                "--state",
                &self.dir.path().join("state.db").to_string_lossy(),
            ])
            .env("RUST_LOG", "warn")
            .env_remove("ARTICLES_API_TOKEN");
        command
    }

    /// `articles sync --from A --to kafka://…`, asserting success.
    fn sync(&self) -> String {
        let output = self.sync_command().output().unwrap();
        assert!(output.status.success(), "sync failed: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `articles consume-kafka` on this pipeline's topic, in `group`.
    fn consumer(&self, group: &str, extra: &[&str]) -> ChildServer {
        let mut command = Command::new(BIN);
        command
            .args([
                "consume-kafka",
                "--brokers",
                &self.brokers,
                "--topic",
                &self.topic,
            ])
            .args(["--group", group, "--rest-url", &self.rest_url()])
            .args(["--metrics-bind", "127.0.0.1:0", "--max-backoff", "500ms"])
            .args(extra)
            .env_remove("ARTICLES_API_TOKEN")
            .current_dir(self.dir.path());
        ChildServer::spawn(&mut command)
    }

    fn verify(&self) -> Output {
        Command::new(BIN)
            .args(["verify", "--from", &self.a.to_string_lossy()])
            .args(["--to", &self.b.to_string_lossy()])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    /// Waits until `verify` says A and B hold the same articles.
    fn wait_equal(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let output = self.verify();
            if output.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "B did not become equal to A within {limit:?}: {}",
                text(&output)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn source(&self) -> SqliteConnection {
        SqliteConnection::establish(&self.a.to_string_lossy()).unwrap()
    }

    fn stop_rest(&mut self) {
        if let Some(rest) = self.rest.take() {
            assert!(rest.terminate().success());
        }
    }

    fn restart_rest(&mut self) {
        self.rest = Some(start_rest(&self.b, self.rest_port));
    }
}

fn start_rest(b: &Path, port: u16) -> ChildServer {
    let bind = format!("127.0.0.1:{port}");
    ChildServer::start(
        &[
            "serve-rest",
            "--database",
            &b.to_string_lossy(),
            "--bind",
            &bind,
        ],
        b.parent().unwrap(),
    )
}

/// A source shaped like the original app's: `n` rows with ids 1..=n.
fn create_source(path: &Path, n: i64, size: usize) {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(
        "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT,
                                created_at TEXT, updated_at TEXT);",
    )
    .unwrap();
    if n == 0 {
        return;
    }
    conn.batch_execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO articles SELECT i, 'title ' || i, substr(hex(randomblob({half})), 1, {size}),
             '2024-01-01 00:00:00', datetime(1700000000 + i, 'unixepoch') FROM n;",
        half = size / 2 + 1
    ))
    .unwrap();
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A Prometheus sample of the consumer (`name{labels}` exactly as exported), 0 when absent.
fn sample(consumer: &ChildServer, series: &str) -> f64 {
    let metrics = curl(&format!("{}/metrics", consumer.address));
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn curl(url: &str) -> String {
    let out = Command::new("curl").args(["-s", url]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl_status(url: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn rest_json(pipeline: &Pipeline, path: &str) -> Value {
    serde_json::from_str(&curl(&format!("{}{path}", pipeline.rest_url()))).unwrap_or(Value::Null)
}

/// End to end: a few thousand articles reach B through the topic, then updates (also one that
/// keeps the timestamp), inserts and deletes in A follow the same way; the published messages
/// carry the id as key, the documented JSON and a publish time; the consumer's counters and lag
/// say so; SIGTERM exits 0 having committed, so the group's next consumer gets only new changes.
#[test]
fn changes_flow_from_a_through_kafka_to_b() {
    let pipeline = Pipeline::new(3000, 500, 3);
    let first = pipeline.sync();
    assert!(first.contains("inserted 3000"), "{first}");
    let group = kafka_support::unique_topic("group");
    let consumer = pipeline.consumer(&group, &[]);
    pipeline.wait_equal(Duration::from_secs(60));

    pipeline
        .source()
        .batch_execute(
            "UPDATE articles SET content = 'edited' WHERE id <= 10;
             UPDATE articles SET title = 'same time, new title' WHERE id = 11;
             DELETE FROM articles WHERE id BETWEEN 100 AND 149;
             INSERT INTO articles VALUES (9000, 'new', 'n', '2025-01-01', '2025-01-02');",
        )
        .unwrap();
    let second = pipeline.sync();
    assert!(
        second.contains("inserted 1, updated 11, deleted 50"),
        "{second}"
    );
    pipeline.wait_equal(Duration::from_secs(60));
    assert_eq!(
        rest_json(&pipeline, "/articles/11")["data"]["title"],
        "same time, new title"
    );

    let records = block_on(kafka_support::read_all(
        &pipeline.brokers,
        &pipeline.topic,
        Duration::from_secs(30),
    ));
    assert_eq!(records.len(), 3000 + 62);
    let deleted = records
        .iter()
        .find(|r| r.key_str() == Some("100") && r.value_json().unwrap()["op"] == "delete")
        .expect("the delete of 100 was published");
    assert_eq!(
        deleted.value_json().unwrap(),
        json!({"op": "delete", "id": 100})
    );
    let upsert = records
        .iter()
        .find(|r| r.key_str() == Some("9000"))
        .unwrap()
        .value_json()
        .unwrap();
    assert_eq!(upsert["op"], "upsert");
    assert_eq!(upsert["article"]["id"], 9000);
    assert_eq!(
        upsert["article"]["updated_at"],
        "2025-01-02T00:00:00.000000Z"
    );
    assert!(records
        .iter()
        .all(|r| r.header_str("published-at").is_some()));
    // One article's changes stay in one partition, in order.
    let partitions: std::collections::HashSet<i32> = records
        .iter()
        .filter(|r| r.key_str() == Some("5"))
        .map(|r| r.partition)
        .collect();
    assert_eq!(partitions.len(), 1);

    wait_for(Duration::from_secs(10), "lag reported as 0", || {
        let lag: f64 = (0..3)
            .map(|p| {
                sample(
                    &consumer,
                    &format!(
                        "articles_kafka_consumer_lag{{partition=\"{p}\",topic=\"{}\"}}",
                        pipeline.topic
                    ),
                )
            })
            .sum();
        lag == 0.0 && sample(&consumer, "articles_kafka_messages_consumed_total") == 3062.0
    });
    assert_eq!(
        sample(&consumer, "articles_kafka_messages_applied_total"),
        3062.0
    );
    assert!(sample(&consumer, "articles_kafka_pipeline_latency_seconds_count") >= 3062.0);
    assert_eq!(curl_status(&format!("{}/health", consumer.address)), 200);
    assert!(consumer.terminate().success(), "SIGTERM exits 0");

    // SIGTERM committed what was applied: the group's next consumer gets only what is new.
    let next = pipeline.consumer(&group, &[]);
    pipeline
        .source()
        .batch_execute("UPDATE articles SET content = 'after the restart' WHERE id = 12;")
        .unwrap();
    assert!(pipeline.sync().contains("updated 1"));
    pipeline.wait_equal(Duration::from_secs(60));
    wait_for(Duration::from_secs(10), "the new change consumed", || {
        sample(&next, "articles_kafka_messages_applied_total") == 1.0
    });
    assert_eq!(
        sample(&next, "articles_kafka_messages_consumed_total"),
        1.0,
        "nothing already applied was delivered again"
    );
}

/// kill -9 of the consumer in the middle of a large stream, then a restart in the same group:
/// B still ends equal to A (nothing lost; what was applied twice is harmless).
#[test]
fn a_killed_consumer_resumes_without_loss() {
    let pipeline = Pipeline::new(40_000, 200, 3);
    pipeline.sync();
    let group = kafka_support::unique_topic("group");
    let mut consumer = pipeline.consumer(&group, &["--batch-size", "100"]);
    wait_for(Duration::from_secs(60), "some batches applied", || {
        sample(&consumer, "articles_kafka_messages_applied_total") >= 2000.0
    });
    consumer.child.kill().unwrap();
    consumer.child.wait().unwrap();
    let total = rest_json(&pipeline, "/articles?limit=1")["total"]
        .as_i64()
        .unwrap();
    assert!(total < 40_000, "killed before the end ({total} applied)");
    let _consumer = pipeline.consumer(&group, &[]);
    pipeline.wait_equal(Duration::from_secs(90));
}

/// The REST API stopped while changes keep coming, then started again: the consumer retries,
/// reports itself unhealthy meanwhile, commits nothing it did not apply, and B ends equal to A
/// with nothing in the dead-letter topic.
#[test]
fn the_rest_api_going_away_loses_nothing() {
    let mut pipeline = Pipeline::new(5000, 300, 3);
    pipeline.sync();
    let consumer = pipeline.consumer(
        &kafka_support::unique_topic("group"),
        &["--batch-size", "200"],
    );
    pipeline.wait_equal(Duration::from_secs(60));
    pipeline.stop_rest();
    pipeline
        .source()
        .batch_execute(
            "UPDATE articles SET content = 'while the API was down' WHERE id % 2 = 0;
             DELETE FROM articles WHERE id % 7 = 0;",
        )
        .unwrap();
    pipeline.sync();
    wait_for(
        Duration::from_secs(30),
        "/health says the API is unreachable",
        || curl_status(&format!("{}/health", consumer.address)) == 503,
    );
    assert!(
        sample(
            &consumer,
            "articles_kafka_rest_errors_total{kind=\"unreachable\"}"
        ) >= 1.0
    );
    assert_eq!(
        pipeline.verify().status.code(),
        Some(1),
        "B is behind while the API is down"
    );
    pipeline.restart_rest();
    pipeline.wait_equal(Duration::from_secs(90));
    wait_for(Duration::from_secs(10), "/health healthy again", || {
        curl_status(&format!("{}/health", consumer.address)) == 200
    });
    let dlq = format!("{}.dlq", pipeline.topic);
    let dead = block_on(kafka_support::read_all(
        &pipeline.brokers,
        &dlq,
        Duration::from_secs(10),
    ));
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    assert_eq!(
        sample(
            &consumer,
            "articles_kafka_messages_dead_lettered_total{reason=\"refused\"}"
        ),
        0.0
    );
}

/// Poison messages (not JSON, an unknown op, a blank title, a title with NUL, a tombstone
/// without a numeric key) land in the dead-letter topic with the reason and their origin in
/// headers, keeping key, value and headers; the good messages around them are applied; the
/// consumer never stops.
#[test]
fn poison_messages_go_to_the_dead_letter_topic() {
    let pipeline = Pipeline::new(0, 0, 1);
    let brokers = pipeline.brokers.clone();
    let topic = pipeline.topic.clone();
    let good = |id: i64| {
        json!({"op": "upsert", "article": {"id": id, "title": format!("good {id}"), "content": "c"}})
            .to_string()
    };
    let poison: Vec<(Option<&str>, Option<String>, &str)> = vec![
        (Some("2"), Some("{not json".into()), "invalid_json"),
        (
            Some("3"),
            Some(r#"{"op": "merge", "id": 3}"#.into()),
            "invalid_message",
        ),
        (
            Some("4"),
            Some(
                json!({"op": "upsert", "article": {"id": 4, "title": "  ", "content": "c"}})
                    .to_string(),
            ),
            "invalid_article",
        ),
        (
            Some("5"),
            Some(
                json!({"op": "upsert", "article": {"id": 5, "title": "\u{0}nul", "content": "c"}})
                    .to_string(),
            ),
            "invalid_article",
        ),
        (Some("abc"), None, "invalid_message"),
    ];
    block_on(async {
        kafka_support::produce_raw(&brokers, &topic, Some(b"1"), Some(good(1).as_bytes()), &[])
            .await;
        for (key, value, _) in &poison {
            kafka_support::produce_raw(
                &brokers,
                &topic,
                key.map(str::as_bytes),
                value.as_deref().map(str::as_bytes),
                &[("trace-id", b"t-1")],
            )
            .await;
        }
        kafka_support::produce_raw(&brokers, &topic, Some(b"6"), Some(good(6).as_bytes()), &[])
            .await;
    });
    let consumer = pipeline.consumer(&kafka_support::unique_topic("group"), &[]);
    wait_for(Duration::from_secs(60), "all 7 messages handled", || {
        sample(&consumer, "articles_kafka_messages_applied_total") == 2.0
            && poison
                .iter()
                .map(|(_, _, reason)| *reason)
                .collect::<std::collections::HashSet<_>>()
                .iter()
                .map(|reason| {
                    sample(
                        &consumer,
                        &format!(
                            "articles_kafka_messages_dead_lettered_total{{reason=\"{reason}\"}}"
                        ),
                    )
                })
                .sum::<f64>()
                == 5.0
    });
    assert_eq!(
        rest_json(&pipeline, "/articles/1")["data"]["title"],
        "good 1"
    );
    assert_eq!(
        rest_json(&pipeline, "/articles/6")["data"]["title"],
        "good 6"
    );
    assert_eq!(rest_json(&pipeline, "/articles")["total"], 2);
    let dead = block_on(kafka_support::read_all(
        &brokers,
        &format!("{topic}.dlq"),
        Duration::from_secs(30),
    ));
    assert_eq!(dead.len(), 5, "{dead:?}");
    for (record, (key, value, reason)) in dead.iter().zip(&poison) {
        assert_eq!(record.key_str(), *key);
        assert_eq!(record.value_str(), value.as_deref());
        assert_eq!(record.header_str("dlq.reason"), Some(*reason));
        assert_eq!(record.header_str("dlq.topic"), Some(topic.as_str()));
        assert_eq!(record.header_str("dlq.partition"), Some("0"));
        assert!(record.header_str("dlq.offset").is_some());
        assert!(!record
            .header_str("dlq.error")
            .unwrap_or_default()
            .is_empty());
        assert_eq!(
            record.header_str("trace-id"),
            Some("t-1"),
            "original headers kept"
        );
    }
    assert_eq!(curl_status(&format!("{}/health", consumer.address)), 200);
    assert!(consumer.terminate().success());
}

/// Replaying the whole topic with a new group after edits through the API leaves B unchanged:
/// the stale-update guard keeps the newer edits.
#[test]
fn a_replay_never_undoes_newer_edits() {
    let pipeline = Pipeline::new(500, 200, 3);
    pipeline.sync();
    let consumer = pipeline.consumer(&kafka_support::unique_topic("group"), &[]);
    pipeline.wait_equal(Duration::from_secs(60));
    assert!(consumer.terminate().success());
    for id in [1, 250, 500] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-X",
                "PUT",
                &format!("{}/articles/{id}", pipeline.rest_url()),
            ])
            .args(["-H", "Content-Type: application/json"])
            .args(["-d", r#"{"title": "edited through the API"}"#])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("edited through the API"));
    }
    let before = rest_json(&pipeline, "/articles?limit=1000")["data"].clone();
    let replay = pipeline.consumer(&kafka_support::unique_topic("replay"), &[]);
    wait_for(
        Duration::from_secs(60),
        "the replay consumed everything",
        || {
            sample(&replay, "articles_kafka_messages_consumed_total") == 500.0
                && sample(&replay, "articles_kafka_messages_applied_total") == 500.0
        },
    );
    assert_eq!(sample(&replay, "articles_kafka_messages_stale_total"), 3.0);
    assert_eq!(rest_json(&pipeline, "/articles?limit=1000")["data"], before);
}

/// The partitions a consumer says it holds now: the last `partitions assigned` line of its log
/// (read so far), or `None` when it has not said yet.
fn assigned(consumer: &ChildServer, latest: &mut Option<Vec<i32>>) -> Option<Vec<i32>> {
    while let Ok(line) = consumer.log.try_recv() {
        if line.contains("partitions assigned") {
            let list = line
                .split("partitions=[")
                .nth(1)
                .and_then(|r| r.split(']').next());
            *latest = list.map(|l| l.split(',').filter_map(|p| p.trim().parse().ok()).collect());
        } else if line.contains("partitions revoked") {
            *latest = None;
        }
    }
    latest.clone()
}

/// Two consumers in one group share the topic's 3 partitions (each says which it holds; together
/// they hold all three, none twice) and together apply everything, as one would.
#[test]
fn two_consumers_in_one_group_share_the_work() {
    let pipeline = Pipeline::new(6000, 200, 3);
    let group = kafka_support::unique_topic("group");
    let one = pipeline.consumer(&group, &["--batch-size", "200"]);
    let two = pipeline.consumer(&group, &["--batch-size", "200"]);
    let (mut held_one, mut held_two) = (None, None);
    wait_for(
        Duration::from_secs(60),
        "the group shares the 3 partitions",
        || match (assigned(&one, &mut held_one), assigned(&two, &mut held_two)) {
            (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
                let mut all: Vec<i32> = a.into_iter().chain(b).collect();
                all.sort_unstable();
                all == [0, 1, 2]
            }
            _ => false,
        },
    );
    pipeline.sync();
    pipeline.wait_equal(Duration::from_secs(90));
    let (a, b) = (
        sample(&one, "articles_kafka_messages_consumed_total"),
        sample(&two, "articles_kafka_messages_consumed_total"),
    );
    assert!(a >= 1.0 && b >= 1.0, "both consumers worked: {a} and {b}");
    assert_eq!(
        a + b,
        6000.0,
        "each message consumed once without a rebalance"
    );
}

/// The original design's shapes: a bare article with an id is an upsert, without one a create
/// (once, even when delivered twice), and a tombstone deletes the key's article.
#[test]
fn the_originals_bare_messages_and_tombstones_are_applied() {
    let pipeline = Pipeline::new(0, 0, 1);
    let (brokers, topic) = (pipeline.brokers.clone(), pipeline.topic.clone());
    block_on(async {
        for (key, value) in [
            (
                Some("7"),
                Some(r#"{"id": 7, "title": "bare", "content": "with id", "author": "x"}"#),
            ),
            (
                Some("8"),
                Some(r#"{"id": 8, "title": "to delete", "content": "c"}"#),
            ),
            (None, Some(r#"{"title": "created", "content": "no id"}"#)),
            (Some("8"), None),
        ] {
            kafka_support::produce_raw(
                &brokers,
                &topic,
                key.map(str::as_bytes),
                value.map(str::as_bytes),
                &[],
            )
            .await;
        }
    });
    let group = kafka_support::unique_topic("group");
    let consumer = pipeline.consumer(&group, &[]);
    wait_for(Duration::from_secs(60), "4 messages applied", || {
        sample(&consumer, "articles_kafka_messages_applied_total") == 4.0
    });
    assert_eq!(
        rest_json(&pipeline, "/articles/7")["data"]["content"],
        "with id"
    );
    assert_eq!(rest_json(&pipeline, "/articles/8")["success"], false);
    let list = rest_json(&pipeline, "/articles");
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(list["data"][1]["title"], "created");
    // Delivered again (a new group reads from the start): the create is not repeated.
    assert!(consumer.terminate().success());
    let again = pipeline.consumer(&kafka_support::unique_topic("again"), &[]);
    wait_for(Duration::from_secs(60), "replayed", || {
        sample(&again, "articles_kafka_messages_applied_total") == 4.0
    });
    assert_eq!(rest_json(&pipeline, "/articles")["total"], 2);
}

/// kill -9 of the producer (`sync --to kafka://…`) in the middle of a run, then a rerun: the
/// consumer's B still ends equal to A.
#[test]
fn a_killed_producer_converges_on_rerun() {
    let pipeline = Pipeline::new(40_000, 300, 3);
    let _consumer = pipeline.consumer(&kafka_support::unique_topic("group"), &[]);
    let mut sync = pipeline.sync_command();
    sync.args(["--batch-size", "500"])
        .env("RUST_LOG", "warn,articles::sync=debug")
        .stderr(std::process::Stdio::piped());
    let mut child = sync.spawn().unwrap();
    let log = std::io::BufReader::new(child.stderr.take().unwrap());
    let published = std::io::BufRead::lines(log)
        .map_while(Result::ok)
        .filter(|line| line.contains("batch applied"))
        .nth(3);
    assert!(published.is_some(), "sync ended before 4 batches");
    child.kill().unwrap();
    child.wait().unwrap();
    let rerun = pipeline.sync();
    assert!(
        !rerun.contains("inserted 40000"),
        "the rerun resumed: {rerun}"
    );
    pipeline.wait_equal(Duration::from_secs(120));
}

/// A consumer with a wrong token stops at once with exit status 2 and says what to check; a
/// fresh consumer's counters exist at 0 before any message.
#[test]
fn a_wrong_token_stops_the_consumer_and_counters_start_at_zero() {
    let pipeline = Pipeline::new(0, 0, 1);
    let (brokers, topic) = (pipeline.brokers.clone(), pipeline.topic.clone());
    let idle = pipeline.consumer(&kafka_support::unique_topic("idle"), &[]);
    let metrics = curl(&format!("{}/metrics", idle.address));
    for series in [
        "articles_kafka_messages_consumed_total 0",
        "articles_kafka_messages_dead_lettered_total{reason=\"refused\"} 0",
        "articles_kafka_rest_errors_total{kind=\"http_5xx\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} missing: {metrics}");
    }
    assert!(idle.terminate().success());

    // A REST API that wants a token the consumer does not have.
    let dir = tempfile::tempdir().unwrap();
    let guarded = ChildServer::start(
        &[
            "serve-rest",
            "--database",
            &dir.path().join("g.db").to_string_lossy(),
            "--bind",
            "127.0.0.1:0",
            "--api-token",
            "s3cret",
        ],
        dir.path(),
    );
    block_on(kafka_support::produce_raw(
        &brokers,
        &topic,
        Some(b"1"),
        Some(br#"{"id": 1, "title": "t", "content": "c"}"#),
        &[],
    ));
    let output = Command::new("timeout")
        .args([
            "60",
            BIN,
            "consume-kafka",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
        ])
        .args(["--group", &kafka_support::unique_topic("token")])
        .args([
            "--rest-url",
            &guarded.address,
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .args(["--api-token", "wrong"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:") && last.contains("401") && last.contains("--api-token"),
        "{err}"
    );
}

/// One article's changes apply in the order they were published even when the consumer applies
/// several batches at once (here one message per batch): a run of upserts and deletes of the
/// same ids ends in each id's last change.
#[test]
fn one_articles_changes_apply_in_order_across_batches_in_flight() {
    let pipeline = Pipeline::new(0, 0, 1);
    let (brokers, topic) = (pipeline.brokers.clone(), pipeline.topic.clone());
    let upsert = |id: i64, version: i64| {
        json!({"op": "upsert", "article": {"id": id, "title": format!("v{version}"), "content": "c"}})
            .to_string()
    };
    let mut expected = std::collections::BTreeMap::new();
    block_on(async {
        for step in 0..60i64 {
            let id = 1 + step % 3;
            let key = id.to_string();
            let value = if step % 4 == 3 {
                expected.remove(&id);
                json!({"op": "delete", "id": id}).to_string()
            } else {
                expected.insert(id, format!("v{step}"));
                upsert(id, step)
            };
            kafka_support::produce_raw(
                &brokers,
                &topic,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                &[],
            )
            .await;
        }
    });
    let consumer = pipeline.consumer(
        &kafka_support::unique_topic("group"),
        &["--batch-size", "1"],
    );
    wait_for(Duration::from_secs(60), "60 messages applied", || {
        sample(&consumer, "articles_kafka_messages_applied_total") == 60.0
    });
    let list = rest_json(&pipeline, "/articles");
    let got: std::collections::BTreeMap<i64, String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}
