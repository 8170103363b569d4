//! What the roles' `/metrics` say before anything happened, and that the in-flight gauge stays
//! true when a request is dropped half-way. Real binaries, fresh processes.
mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::ChildServer;

/// `GET address/metrics` as text.
async fn scrape(address: &str) -> String {
    let reply = common::send(common::client().get(format!("{address}/metrics")), None).await;
    assert_eq!(reply.status, 200, "{address}/metrics: {}", reply.text);
    reply.text
}

/// The value of the sample `series` (name with its labels exactly as exported), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `address/metrics` until `series` has `want`, or panics after `limit`.
async fn wait_for_value(address: &str, series: &str, want: f64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let text = scrape(address).await;
        let got = value(&text, series);
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {got:?}, not {want}, after {limit:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GraphQL request whose REST call never gets an answer (the upstream accepts connections and
/// stays silent) leaves the in-flight gauge as soon as its client hangs up, not when the upstream
/// timeout (60 s) ends it.
#[actix_rt::test]
async fn in_flight_gauge_forgets_requests_whose_client_left() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let graphql = ChildServer::start(
        &[
            "serve-graphql",
            "--bind",
            "127.0.0.1:0",
            "--rest-url",
            &upstream,
            "--rest-timeout",
            "60s",
        ],
        dir.path(),
    );
    // The scrape itself is in flight while /metrics is encoded.
    let gauge = "articles_http_requests_in_flight";
    wait_for_value(&graphql.address, gauge, 1.0, Duration::from_secs(10)).await;

    let mut client = TcpStream::connect(("127.0.0.1", graphql.port)).unwrap();
    let body = r#"{"query": "{ getArticle(id: 1) { success } }"}"#;
    write!(
        client,
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    wait_for_value(&graphql.address, gauge, 2.0, Duration::from_secs(10)).await;

    drop(client);
    wait_for_value(&graphql.address, gauge, 1.0, Duration::from_secs(10)).await;
    drop(silent);
    drop(graphql);
}

mod kafka_support;

/// The metric names (`articles_…`) that the alerts, the recording rules and the dashboard read.
fn names_monitoring_reads() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = regex::Regex::new(r"\barticles_[a-z0-9_]+").unwrap();
    let mut names = BTreeSet::new();
    for file in [
        "monitoring/alerts.yml",
        "monitoring/recording-rules.yml",
        "monitoring/grafana/articles.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for found in name.find_iter(&text) {
            let found = found.as_str();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| found.strip_suffix(suffix))
                .unwrap_or(found);
            names.insert(base.to_owned());
        }
    }
    names
}

/// The metric names that have at least one sample in `text`.
fn names_with_samples(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| n.strip_suffix(suffix))
                .unwrap_or(n)
                .to_owned()
        })
        .collect()
}

/// At the first scrape of fresh processes of every role (REST, GraphQL, the consumer, `sync
/// --watch`), every counter that an alert, a recording rule or the dashboard reads has samples,
/// and the 5xx counter of each route and method of the REST and GraphQL route tables is there
/// at 0, as are GraphQL's refusals and upstream errors, the consumer's dead letters and REST
/// errors, and sync's errors, by each of their labels.
#[actix_rt::test]
async fn counters_that_monitoring_reads_exist_at_start_up() {
    let brokers = kafka_support::broker();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("a.db");
    {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(&source.to_string_lossy()).unwrap();
        conn.batch_execute(
            "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT);",
        )
        .unwrap();
    }
    let db = dir.path().join("b.db");
    let rest = ChildServer::start(
        &[
            "serve-rest",
            "--database",
            &db.to_string_lossy(),
            "--bind",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let graphql = ChildServer::start(
        &[
            "serve-graphql",
            "--bind",
            "127.0.0.1:0",
            "--rest-url",
            &rest.address,
        ],
        dir.path(),
    );
    let topic = kafka_support::unique_topic("fresh-metrics");
    let consumer = ChildServer::start(
        &[
            "consume-kafka",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--rest-url",
            &rest.address,
            "--metrics-bind",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let sync = ChildServer::start(
        &[
            "sync",
            "--from",
            &source.to_string_lossy(),
            "--to",
            &dir.path().join("replica.db").to_string_lossy(),
            "--watch",
            "--metrics-bind",
            "127.0.0.1:0",
        ],
        dir.path(),
    );

    let mut exported = BTreeSet::new();
    let mut texts = Vec::new();
    for server in [&rest, &graphql, &consumer, &sync] {
        let text = scrape(&server.address).await;
        exported.extend(names_with_samples(&text));
        texts.push(text);
    }
    let [rest_text, graphql_text, consumer_text, sync_text] = &texts[..] else {
        unreachable!()
    };
    let read = names_monitoring_reads();
    assert!(read.len() > 20, "{read:?}");
    // Labelled by the answer's status, an open set, so no series exists before the first
    // request; monitoring uses them only as the denominator of a ratio, where "no data" without
    // requests is the right answer (no requests, no error ratio).
    let by_status = [
        "articles_http_requests_total",
        "articles_graphql_upstream_requests_total",
    ];
    for name in read
        .iter()
        .filter(|n| n.ends_with("_total") && !by_status.contains(&n.as_str()))
    {
        assert!(
            exported.contains(name),
            "{name} is read by monitoring/ but has no sample at start-up"
        );
    }
    let exceptions = "articles_http_request_exceptions_total";
    for (text, endpoints) in [
        (rest_text, articles::rest::ENDPOINTS),
        (graphql_text, articles::graphql::ENDPOINTS),
    ] {
        for (path, methods) in endpoints {
            for method in methods.split(", ") {
                let series = format!(r#"{exceptions}{{method="{method}",path="{path}"}}"#);
                assert_eq!(value(text, &series), Some(0.0), "{series}");
            }
        }
    }
    for (text, series) in [
        (
            graphql_text,
            r#"articles_graphql_refusals_total{limit="busy"}"#,
        ),
        (
            graphql_text,
            r#"articles_graphql_upstream_errors_total{kind="unreachable"}"#,
        ),
        (
            graphql_text,
            r#"articles_graphql_upstream_errors_total{kind="http_5xx"}"#,
        ),
        (
            consumer_text,
            r#"articles_kafka_messages_dead_lettered_total{reason="refused"}"#,
        ),
        (
            consumer_text,
            r#"articles_kafka_rest_errors_total{kind="http_5xx"}"#,
        ),
        (sync_text, "articles_sync_errors_total"),
        (
            sync_text,
            r#"articles_sync_rows_applied_total{change="deleted"}"#,
        ),
    ] {
        assert_eq!(value(text, series), Some(0.0), "{series}");
    }
    // The REST API checked its database for this scrape.
    assert_eq!(value(rest_text, "articles_db_up"), Some(1.0));
    assert_eq!(
        value(rest_text, "articles_db_write_queue_capacity"),
        Some(4096.0)
    );
}
