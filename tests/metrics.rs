//! What the roles' `/metrics` say before anything happened, and that the in-flight gauge stays
//! true when a request is dropped half-way. Real binaries, fresh processes.
mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{ChildServer, BIN};

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
    let _ = BIN;
}
