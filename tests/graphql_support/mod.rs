//! Helpers of the GraphQL tests: start the GraphQL server in-process on port 0 in front of a REST
//! API ([`spawn_stack`], [`spawn_graphql`]), load many articles fast ([`load_articles`]), send
//! operations (also as raw HTTP, [`raw`]), read Prometheus counters, and read the peak memory of
//! a child process ([`peak_rss_kib`]).
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use articles::graphql::GraphqlArgs;
use serde_json::{json, Value};

use crate::common::{self, Reply, TestApp};

/// The standard introspection query GraphiQL sends (graphql-js `getIntrospectionQuery()`).
pub const INTROSPECTION_QUERY: &str = include_str!("introspection.graphql");

/// A GraphQL server running in this process.
pub struct GraphqlApp {
    pub address: String,
    pub port: u16,
    pub handle: ServerHandle,
    pub client: awc::Client,
}

/// A REST API and a GraphQL server in front of it.
pub struct Stack {
    pub rest: TestApp,
    pub graphql: GraphqlApp,
}

/// Starts the REST API (fresh database) and a GraphQL server with default settings.
pub async fn spawn_stack() -> Stack {
    let rest = common::spawn_rest().await;
    let graphql = spawn_graphql(&rest.address).await;
    Stack { rest, graphql }
}

/// Starts a GraphQL server on port 0 in front of `rest_url`, with default settings.
pub async fn spawn_graphql(rest_url: &str) -> GraphqlApp {
    spawn_graphql_with(rest_url, |_| {}).await
}

/// Starts a GraphQL server on port 0 in front of `rest_url`; `adjust` may change the settings.
pub async fn spawn_graphql_with(
    rest_url: &str,
    adjust: impl FnOnce(&mut GraphqlArgs),
) -> GraphqlApp {
    articles::telemetry::init("error");
    let mut args = GraphqlArgs::for_rest_url(rest_url);
    adjust(&mut args);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let server = articles::graphql::build(&args, listener).expect("build GraphQL server");
    let port = server.port();
    let handle = server.handle();
    actix_rt::spawn(server.run());
    GraphqlApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        handle,
        client: common::client(),
    }
}

impl GraphqlApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Reply {
        common::send(self.client.get(self.url(path)), None).await
    }

    /// POSTs a raw JSON body to /graphql.
    pub async fn post_json(&self, body: &Value, auth: Option<&str>) -> Reply {
        let mut request = self.client.post(self.url("/graphql"));
        if let Some(auth) = auth {
            request = request.insert_header(("Authorization", auth));
        }
        common::send(request, Some(body)).await
    }

    /// Runs `query` with `variables`; asserts HTTP 200 and returns the whole GraphQL response.
    pub async fn run(&self, query: &str, variables: Value) -> Value {
        self.run_as(None, query, variables).await
    }

    /// Like [`Self::run`], with an Authorization header.
    pub async fn run_as(&self, auth: Option<&str>, query: &str, variables: Value) -> Value {
        let reply = self
            .post_json(&json!({"query": query, "variables": variables}), auth)
            .await;
        assert_eq!(reply.status, 200, "POST /graphql: {}", reply.text);
        reply.body
    }

    /// Runs `query`, asserts it has no `errors`, and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.run(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }
}

/// Loads `count` articles (ids 1..=count) of about `content_bytes` each through REST's
/// `POST /articles/bulk`, in chunks of 1000 (one transaction each).
pub async fn load_articles(rest: &TestApp, count: usize, content_bytes: usize) {
    let filler = "lorem ipsum dolor sit amet, ".repeat(content_bytes / 28 + 1);
    for first in (1..=count).step_by(1000) {
        let last = (first + 999).min(count);
        let rows: Vec<Value> = (first..=last)
            .map(|id| {
                json!({
                    "id": id,
                    "title": format!("Article {id}"),
                    "content": format!("{id} {}", &filler[..content_bytes]),
                })
            })
            .collect();
        let reply = rest
            .post("/articles/bulk", &json!({"upsert": rows, "delete": []}))
            .await;
        assert_eq!(reply.status, 200, "bulk load: {}", reply.text);
    }
}

/// The attack of issue 12: `aliases` aliases of a 1000-row page, each asking for the content.
pub fn alias_attack(aliases: usize) -> String {
    let fields: String = (0..aliases)
        .map(|i| {
            format!(
                "a{i}: getArticles(limit: 1000, offset: {}) {{ data {{ content }} }}\n",
                i * 1000
            )
        })
        .collect();
    format!("query Attack {{\n{fields}}}")
}

/// An HTTP answer with its body as bytes, exactly as sent (not decompressed).
pub struct RawReply {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `method url` with `headers` and an optional body (sent as is), and reads the raw answer.
pub async fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> RawReply {
    let client = common::client();
    let mut request = client.request(method.parse().expect("method"), url);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let sent = match body {
        Some(body) => request.send_body(body.to_owned()).await,
        None => request.send().await,
    };
    let mut response = sent.expect("request sent");
    let body = response
        .body()
        .limit(256 << 20)
        .await
        .expect("body read")
        .to_vec();
    RawReply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    }
}

/// The peak resident memory (VmHWM) of process `pid`, in KiB (Linux).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// The value of a Prometheus sample `name{labels}` in `text` (0 when absent). Every label in
/// `labels` must match; others are ignored.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels.iter().all(|(key, want)| {
                rest.split("\",")
                    .map(|pair| pair.trim_end_matches('"'))
                    .any(|pair| pair == format!("{key}=\"{want}"))
            });
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// How many `GET /articles/{id}` the REST API answered with 200 so far.
pub async fn rest_article_reads(rest: &TestApp) -> f64 {
    let metrics = rest.get("/metrics").await;
    sample(
        &metrics.text,
        "articles_http_requests_total",
        &[
            ("method", "GET"),
            ("path", "/articles/{id}"),
            ("status", "200"),
        ],
    )
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// The real `articles` binary as a child process (killed on drop), with its log lines.
pub struct Binary {
    child: Option<Child>,
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Binary {
    /// Starts `articles <args>` with extra environment variables, logging at info.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let (child, log) = common::spawn_logged(
            Command::new(common::BIN)
                .args(args)
                .envs(envs.iter().copied()),
        );
        Self {
            child: Some(child),
            log,
            seen: Vec::new(),
        }
    }

    /// The port from the `listening ... port=N` line that mentions `role` (waits up to 30 s).
    pub fn port_of(&mut self, role: &str) -> u16 {
        let port = |line: &str| -> Option<u16> {
            if !line.contains(role) || !line.contains("listening") {
                return None;
            }
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("port="))?
                .parse()
                .ok()
        };
        if let Some(found) = self.seen.iter().find_map(|l| port(l)) {
            return found;
        }
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("no '{role} listening' line within 30 s: {:?}", self.seen)
                });
            let found = port(&line);
            self.seen.push(line);
            if let Some(found) = found {
                return found;
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        common::wait_timeout(&mut child, Duration::from_secs(30))
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    /// The metrics reader matches labels exactly and sums matching series.
    #[test]
    fn sample_reads_labelled_counters() {
        let text = "# HELP x\nx_total{method=\"GET\",path=\"/a/{id}\",status=\"200\"} 3\n\
                    x_total{method=\"GET\",path=\"/a/{id}\",status=\"404\"} 1\nother 7\n";
        assert_eq!(sample(text, "x_total", &[("status", "200")]), 3.0);
        assert_eq!(sample(text, "x_total", &[("method", "GET")]), 4.0);
        assert_eq!(sample(text, "x_total", &[("status", "20")]), 0.0);
        assert_eq!(sample(text, "other", &[]), 7.0);
    }
}
