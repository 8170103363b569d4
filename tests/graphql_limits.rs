//! Hostile input against the GraphQL server (issue 12), over HTTP against a real REST API: the cost
//! budget (the alias attack and concurrent copies of it against the real binary, with its peak
//! memory), the REST-call cap, the answer-size cap, and the bounds on work and bytes in flight.

mod common;
mod graphql_support;

use std::net::TcpListener;
use std::time::Duration;

use serde_json::{json, Value};

use graphql_support::{
    alias_attack, load_articles, peak_rss_kib, raw, rest_article_reads, sample, spawn_graphql_with,
    Binary, INTROSPECTION_QUERY,
};

/// Articles the large database holds: enough that the attack's pages are full ones.
const ARTICLES: usize = 20_000;

/// Peak RSS of `serve-graphql` (debug build) through the attack and eight concurrent copies of
/// it. Measured: about 24 MiB (20 MiB after start-up); without the budget it built hundreds of MB.
const ATTACK_PEAK_RSS_KIB: u64 = 64 << 10;

/// The `errors[0]` of a refusal, checking there is no `data`.
fn refusal(body: &Value) -> &Value {
    assert!(body.get("data").is_none(), "a refusal has no data: {body}");
    &body["errors"][0]
}

fn post_json(url: &str, body: &Value) -> ureq_like::Pending {
    ureq_like::post(url, body)
}

/// Minimal blocking POSTs from threads, so that copies of a request really run at once.
mod ureq_like {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use serde_json::Value;

    pub struct Pending(std::thread::JoinHandle<(u16, Value)>);

    impl Pending {
        pub fn wait(self) -> (u16, Value) {
            self.0.join().expect("request thread")
        }
    }

    /// POSTs `body` to `url` (`http://127.0.0.1:port/path`) on a thread of its own, HTTP/1.0 so
    /// that the answer ends with the connection.
    pub fn post(url: &str, body: &Value) -> Pending {
        let rest = url.strip_prefix("http://").expect("http url");
        let (host, path) = rest.split_once('/').expect("a path");
        let (host, path, body) = (host.to_owned(), format!("/{path}"), body.to_string());
        Pending(std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&host).expect("connect");
            write!(
                stream,
                "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .expect("send");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).expect("read");
            let text = String::from_utf8_lossy(&answer);
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("status");
            (status, serde_json::from_str(body).unwrap_or(Value::Null))
        }))
    }
}

/// The 160-alias request and eight concurrent copies of it are refused before any REST call,
/// naming cost and budget, and the real `serve-graphql` process stays small.
#[actix_web::test]
async fn the_alias_attack_and_concurrent_copies_are_refused_with_memory_bounded() {
    let rest = common::spawn_rest().await;
    load_articles(&rest, ARTICLES, 1000).await;
    let mut graphql = Binary::start(
        &["serve-graphql", "--bind", "127.0.0.1:0", "--workers", "2"],
        &[("REST_API_URL", rest.address.as_str())],
    );
    let port = graphql.port_of("GraphQL server");
    let url = format!("http://127.0.0.1:{port}/graphql");
    let attack = json!({ "query": alias_attack(160) });

    let (status, body) = post_json(&url, &attack).wait();
    assert_eq!(
        status, 200,
        "application/json: 200 for every well-formed request"
    );
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "COST_LIMIT_EXCEEDED", "{body}");
    assert_eq!(error["extensions"]["cost"], 160 * (2 + 1000));
    assert_eq!(error["extensions"]["budget"], 10_000);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("160320") && message.contains("10000"),
        "{message}"
    );

    let copies: Vec<_> = (0..8).map(|_| post_json(&url, &attack)).collect();
    for copy in copies {
        let (status, body) = copy.wait();
        assert_eq!(status, 200);
        assert_eq!(refusal(&body)["extensions"]["code"], "COST_LIMIT_EXCEEDED");
    }

    let metrics = raw(
        "GET",
        &format!("http://127.0.0.1:{port}/metrics"),
        &[],
        None,
    )
    .await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(
        sample(&text, "articles_graphql_upstream_requests_total", &[]),
        0.0,
        "no REST call was made"
    );
    assert_eq!(
        sample(
            &text,
            "articles_graphql_refusals_total",
            &[("limit", "cost")]
        ),
        9.0
    );
    let peak = peak_rss_kib(graphql.pid());
    assert!(
        peak < ATTACK_PEAK_RSS_KIB,
        "serve-graphql peaked at {peak} KiB (bound {ATTACK_PEAK_RSS_KIB} KiB)"
    );
    assert_eq!(graphql.terminate().code(), Some(0));
}

/// Just under the budget runs (9 full pages: 9018); one alias more (10,020) is refused.
#[actix_web::test]
async fn a_query_just_under_the_budget_runs() {
    let rest = common::spawn_rest().await;
    load_articles(&rest, 50, 100).await;
    let graphql = graphql_support::spawn_graphql(&rest.address).await;
    let under = graphql.run(&alias_attack(9), json!({})).await;
    assert!(under.get("errors").is_none(), "{under}");
    assert_eq!(under["data"]["a0"]["data"].as_array().unwrap().len(), 50);
    assert_eq!(
        under["data"]["a8"]["data"],
        json!([]),
        "past the last article"
    );
    let over = graphql.run(&alias_attack(10), json!({})).await;
    assert_eq!(refusal(&over)["extensions"]["cost"], 10_020);
}

/// Counts the fields of an answer: each key, and each item of a list of scalars.
fn fields_in(value: &Value) -> u64 {
    match value {
        Value::Object(map) => map.values().map(|v| 1 + fields_in(v)).sum(),
        Value::Array(items) => items
            .iter()
            .map(|item| if item.is_object() { fields_in(item) } else { 1 })
            .sum(),
        _ => 0,
    }
}

/// GraphiQL's introspection query costs exactly the fields of its answer, well under the budget.
#[actix_web::test]
async fn introspection_costs_the_fields_of_its_answer() {
    let rest = common::spawn_rest().await;
    let graphql = graphql_support::spawn_graphql(&rest.address).await;
    let data = graphql.data(INTROSPECTION_QUERY, json!({})).await;
    let fields = fields_in(&data);
    assert!(fields < 2_000, "{fields}");

    let tight = spawn_graphql_with(&rest.address, |args| args.max_cost = fields - 1).await;
    let refused = tight.run(INTROSPECTION_QUERY, json!({})).await;
    assert_eq!(refusal(&refused)["extensions"]["cost"], fields);
    let exact = spawn_graphql_with(&rest.address, |args| args.max_cost = fields).await;
    exact.data(INTROSPECTION_QUERY, json!({})).await;
}

/// A query within the budget that needs more REST calls than `--max-rest-calls` is stopped with a
/// clear error and no data; identical reads count once.
#[actix_web::test]
async fn the_rest_call_cap_stops_a_query_that_passes_the_cost_check() {
    let rest = common::spawn_rest().await;
    load_articles(&rest, 10, 10).await;
    let graphql = spawn_graphql_with(&rest.address, |args| args.max_rest_calls = 3).await;
    let five: String = (1..=5)
        .map(|id| format!("a{id}: getArticle(id: {id}) {{ data {{ title }} }} "))
        .collect();
    let reply = graphql.run(&format!("{{ {five} }}"), json!({})).await;
    let error = refusal(&reply);
    assert_eq!(
        error["extensions"]["code"], "REST_CALL_LIMIT_EXCEEDED",
        "{reply}"
    );
    assert_eq!(error["extensions"]["limit"], 3);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("--max-rest-calls"));
    assert!(
        rest_article_reads(&rest).await <= 3.0,
        "no call past the cap"
    );

    let same: String = (1..=5)
        .map(|i| format!("a{i}: getArticle(id: 1) {{ data {{ title }} }} "))
        .collect();
    let data = graphql.data(&format!("{{ {same} }}"), json!({})).await;
    assert_eq!(data["a5"]["data"]["title"], "Article 1");
}

/// A mutation with more writes than `--max-rest-calls` is refused before it writes anything.
#[actix_web::test]
async fn a_mutation_over_the_rest_call_cap_is_refused_before_it_writes() {
    let rest = common::spawn_rest().await;
    let graphql = spawn_graphql_with(&rest.address, |args| args.max_rest_calls = 3).await;
    let four: String = (0..4)
        .map(|i| format!("c{i}: createArticle(title: \"t{i}\", content: \"c\") {{ success }} "))
        .collect();
    let reply = graphql
        .run(&format!("mutation {{ {four} }}"), json!({}))
        .await;
    let error = refusal(&reply);
    assert_eq!(
        error["extensions"]["code"], "REST_CALL_LIMIT_EXCEEDED",
        "{reply}"
    );
    assert_eq!(error["extensions"]["restCalls"], 4);
    assert_eq!(
        rest.get("/articles").await.body["total"],
        0,
        "nothing written"
    );
    let three: String = (0..3)
        .map(|i| format!("c{i}: createArticle(title: \"t{i}\", content: \"c\") {{ success }} "))
        .collect();
    graphql
        .data(&format!("mutation {{ {three} }}"), json!({}))
        .await;
    assert_eq!(rest.get("/articles").await.body["total"], 3);
}

/// An answer within the budget but over `--max-response-size` is refused whole, in both media
/// types (200 for application/json, 400 for application/graphql-response+json).
#[actix_web::test]
async fn the_response_size_cap_stops_an_answer_that_passes_the_cost_check() {
    let rest = common::spawn_rest().await;
    load_articles(&rest, 200, 1000).await;
    let graphql = spawn_graphql_with(&rest.address, |args| args.max_response_size = 64 << 10).await;
    let big = json!({"query": "{ getArticles(limit: 100) { data { content } } }"});
    let reply = graphql.post_json(&big, None).await;
    assert_eq!(reply.status, 200);
    let error = refusal(&reply.body);
    assert_eq!(
        error["extensions"]["code"], "RESPONSE_TOO_LARGE",
        "{}",
        reply.text
    );
    assert_eq!(error["extensions"]["limit"], 65_536);
    assert!(error["message"].as_str().unwrap().contains("65536"));

    let strict = raw(
        "POST",
        &graphql.url("/graphql"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/graphql-response+json"),
        ],
        Some(&big.to_string()),
    )
    .await;
    assert_eq!(strict.status, 400);
    assert_eq!(
        refusal(&strict.json())["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );

    let small = graphql
        .data("{ getArticles(limit: 20) { data { content } } }", json!({}))
        .await;
    assert_eq!(small["getArticles"]["data"].as_array().unwrap().len(), 20);
}

/// With no room under `--max-cost-in-flight`, an operation waits `--busy-wait` and gets 503 with
/// Retry-After, instead of queueing; once the room is free, operations run again.
#[actix_web::test]
async fn operations_get_busy_rather_than_queue_without_limit() {
    // A REST API that accepts connections and never answers holds the first operation's room.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let rest_url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let graphql = spawn_graphql_with(&rest_url, |args| {
        args.max_cost = 4;
        args.max_cost_in_flight = 5;
        args.busy_wait = Duration::from_millis(200);
        args.rest_timeout = Duration::from_secs(2);
    })
    .await;
    let url = graphql.url("/graphql");
    let holder = post_json(
        &url,
        &json!({"query": "{ a: getArticle(id: 1) { success } b: getArticle(id: 2) { success } }"}),
    );
    // Wait until the first operation has called REST: it holds 4 of the 5 units now.
    let accepted =
        actix_rt::task::spawn_blocking(move || silent.accept().map(|(s, _)| (s, silent)))
            .await
            .unwrap()
            .expect("the first operation reaches REST");

    let started = std::time::Instant::now();
    let busy = raw(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(r#"{"query": "{ getArticle(id: 3) { success } }"}"#),
    )
    .await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("retry-after").as_deref(), Some("1"));
    assert_eq!(refusal(&busy.json())["extensions"]["code"], "BUSY");
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it did not queue"
    );

    let (status, first) = holder.wait();
    assert_eq!(status, 200);
    assert_eq!(
        first["data"]["a"]["success"], false,
        "REST never answered: {first}"
    );
    drop(accepted);
    let after = graphql.run("{ __typename }", json!({})).await;
    assert_eq!(after["data"]["__typename"], "Query");
}

/// Concurrent answers share `--max-bytes-in-flight`: every request gets its whole answer or 503
/// busy, and the real process's peak memory stays within the bound docs/graphql.md states
/// (start-up + 4 × --max-bytes-in-flight).
#[actix_web::test]
async fn answers_in_flight_are_bounded_in_bytes() {
    let rest = common::spawn_rest().await;
    load_articles(&rest, 2_000, 10_000).await;
    let mut graphql = Binary::start(
        &[
            "serve-graphql",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--max-response-size",
            "8MiB",
            "--max-bytes-in-flight",
            "16MiB",
            // Debug REST pages of 2.5 MB under a loaded test machine: no timeouts here.
            "--rest-timeout",
            "60s",
        ],
        &[("REST_API_URL", rest.address.as_str())],
    );
    let port = graphql.port_of("GraphQL server");
    let url = format!("http://127.0.0.1:{port}/graphql");
    let started_at = peak_rss_kib(graphql.pid());
    // 3 pages of 250 articles of 10 KB: about 7.5 MB each; eight at once want 60 MB.
    let query = "{ a: getArticles(limit: 250) { data { content } } \
                 b: getArticles(limit: 250, offset: 250) { data { content } } \
                 c: getArticles(limit: 250, offset: 500) { message data { content } } }";
    let copies: Vec<_> = (0..8)
        .map(|_| post_json(&url, &json!({ "query": query })))
        .collect();
    for copy in copies {
        match copy.wait() {
            (200, body) => {
                assert!(body.get("errors").is_none(), "{body}");
                let rows = body["data"]["c"]["data"].as_array().unwrap().len();
                assert_eq!(rows, 250, "{}", body["data"]["c"]["message"]);
            }
            (503, body) => assert_eq!(refusal(&body)["extensions"]["code"], "BUSY"),
            (status, body) => panic!("{status}: {body}"),
        }
    }
    let peak = peak_rss_kib(graphql.pid());
    let bound = started_at + 4 * (16 << 10);
    assert!(peak < bound, "peak {peak} KiB, bound {bound} KiB");
    assert_eq!(graphql.terminate().code(), Some(0));
}
