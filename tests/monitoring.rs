//! Monitoring as an operator deploys it: promtool accepts `prometheus.yml` and the rules, and the
//! rules' unit tests pass; the Grafana dashboard is a well-formed dashboard; and a real Prometheus
//! (Debian's, started by `scripts/prometheus.sh` with the project's configuration) scraping the
//! real roles (REST, GraphQL, the Kafka consumer on a real broker, `sync --watch`) sees them up,
//! records request rates and latency quantiles for the routes exercised, answers every query of
//! the dashboard and of the README with data, and raises ArticlesTargetDown when a role stops.
mod common;
mod kafka_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ChildServer;
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs promtool with `args` in the repository, asserting success.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool is installed (scripts/install-test-deps.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// `promtool check config` accepts prometheus.yml (and the rule files it loads), `check rules`
/// the rules, and `test rules` runs the alerts' unit tests: each alert fires when it should and
/// stays quiet when it should not.
#[test]
fn promtool_accepts_the_configuration_and_the_alert_tests_pass() {
    let config = promtool(&["check", "config", "prometheus.yml"]);
    assert!(config.contains("2 rule files found"), "{config}");
    promtool(&[
        "check",
        "rules",
        "monitoring/recording-rules.yml",
        "monitoring/alerts.yml",
    ]);
    let tests = promtool(&["test", "rules", "monitoring/tests/alerts_test.yml"]);
    assert!(tests.contains("SUCCESS"), "{tests}");
    // Every alert has a test that expects it to fire.
    let alerts = std::fs::read_to_string(root().join("monitoring/alerts.yml")).unwrap();
    let tested = std::fs::read_to_string(root().join("monitoring/tests/alerts_test.yml")).unwrap();
    for line in alerts.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tested.contains(&format!(
                    "alertname: {name}\n        exp_alerts:\n          -"
                )),
                "no promtool test expects {name} to fire"
            );
        }
    }
}

/// The dashboard's queries (expression, panel title).
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            panel["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    (
                        t["expr"].as_str().unwrap_or_default().to_owned(),
                        title.clone(),
                    )
                })
        })
        .collect()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(root().join("monitoring/grafana/articles.json")).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// The Grafana dashboard has what Grafana needs to import it: a title, a uid, a schema version,
/// a Prometheus datasource variable, and panels with unique ids, a type, a place on the grid and
/// targets with an expression and a refId each, on that datasource.
#[test]
fn the_dashboard_is_a_grafana_dashboard() {
    let dashboard = dashboard();
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["uid"]
        .as_str()
        .is_some_and(|u| !u.is_empty() && u.len() <= 40));
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().expect("a panel has a title");
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id used twice"
        );
        let grid = &panel["gridPos"];
        for key in ["h", "w", "x", "y"] {
            assert!(grid[key].is_u64(), "{title}: gridPos.{key}");
        }
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        match panel["type"].as_str().unwrap() {
            "row" => continue,
            "timeseries" | "stat" | "gauge" | "table" => {}
            other => panic!("{title}: unexpected panel type {other}"),
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<_> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds repeat");
        for target in targets {
            assert!(
                target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title}"
            );
        }
    }
    assert!(dashboard_queries(&dashboard).len() >= 20);
}

/// The queries of README's "Useful queries" table (the backticked last column).
fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("### Useful queries")
        .nth(1)
        .expect("README has a 'Useful queries' section");
    let section = section.split("\n#").next().unwrap();
    let queries: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| what"))
        .filter_map(|l| {
            let cell = l
                .trim_end()
                .trim_end_matches('|')
                .rsplit('|')
                .next()?
                .trim();
            Some(cell.strip_prefix('`')?.strip_suffix('`')?.to_owned())
        })
        .collect();
    assert!(queries.len() >= 8, "{queries:?}");
    queries
}

/// `curl` with `args`; the body, or the failure.
fn curl(args: &[&str]) -> Result<String, String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A Prometheus started by scripts/prometheus.sh in a state directory of its own; stopped (and
/// its state removed) on drop, also when the test fails.
struct Prometheus {
    instance: String,
    port: u16,
}

impl Prometheus {
    fn script(&self, verb: &str, targets: &[(&str, u16)]) -> std::process::Output {
        let mut command = Command::new(root().join("scripts/prometheus.sh"));
        command
            .arg(verb)
            .current_dir(root())
            .env("PROMETHEUS_INSTANCE", &self.instance)
            .env("PROMETHEUS_PORT", self.port.to_string())
            .env("PROMETHEUS_INTERVAL", "1s");
        for (variable, port) in targets {
            command.env(variable, format!("127.0.0.1:{port}"));
        }
        command.output().expect("scripts/prometheus.sh runs")
    }

    fn start(targets: &[(&str, u16)]) -> Self {
        let prometheus = Self {
            instance: format!("test-{}", std::process::id()),
            port: free_port(),
        };
        let output = prometheus.script("start", targets);
        assert!(
            output.status.success(),
            "scripts/prometheus.sh start: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        prometheus
    }

    fn state(&self) -> PathBuf {
        root().join(format!("target/services/prometheus-{}", self.instance))
    }

    /// `GET /api/v1/{path}` with form `params`: the `data`, or why there is none.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let mut args = vec!["-G".to_owned(), url];
        for (key, value) in params {
            args.push("--data-urlencode".into());
            args.push(format!("{key}={value}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let body = curl(&args)?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("{path} {params:?}: {answer}"));
        }
        Ok(answer["data"].clone())
    }

    /// The instant vector `query` evaluates to now (an error when it does not parse).
    fn query(&self, query: &str) -> Result<Vec<Value>, String> {
        let data = self.api("query", &[("query", query)])?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.script("stop", &[]);
        let _ = std::fs::remove_dir_all(self.state());
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Retries `check` (which also sends traffic, so rates stay fresh) until it returns `Ok`, or
/// panics with its last complaint after `limit`.
fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(why) if Instant::now() > deadline => panic!("{what} within {limit:?}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn create_source(path: &Path, articles: i64) {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(&format!(
        "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT,
                                created_at TEXT, updated_at TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {articles})
         INSERT INTO articles SELECT i, 'title ' || i, 'content ' || i,
             '2024-01-01 00:00:00', '2024-01-02 00:00:00' FROM n;"
    ))
    .unwrap();
}

/// Some REST and GraphQL requests on the routes the test asserts about.
fn traffic(rest: &str, graphql: &str) {
    let created = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"title": "monitored", "content": "x"}"#,
        &format!("{rest}/articles"),
    ])
    .expect("POST /articles");
    let id = serde_json::from_str::<Value>(&created).unwrap()["data"]["id"].clone();
    curl(&[&format!("{rest}/articles/{id}")]).unwrap();
    curl(&[&format!("{rest}/articles?limit=5")]).unwrap();
    let bulk = json!({"upsert": [{"id": id, "title": "monitored", "content": "y"}]});
    curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        &bulk.to_string(),
        &format!("{rest}/articles/bulk"),
    ])
    .expect("POST /articles/bulk");
    let query =
        json!({"query": format!("{{ getArticle(id: {id}) {{ success data {{ title }} }} }}")});
    curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        &query.to_string(),
        &format!("{graphql}/graphql"),
    ])
    .unwrap();
}

/// The value of the first sample of `result` as a number (NaN when it is not one).
fn first_value(result: &[Value]) -> f64 {
    result
        .first()
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The whole stack under a real Prometheus with the project's configuration (1 s intervals): every
/// target is up; the recording rules give non-zero request rates and p50/p99 latencies for the
/// routes exercised; every query of the Grafana dashboard and of the README parses and returns
/// data; `sync --watch` and the consumer report the rows they moved; and once the GraphQL server
/// stops, ArticlesTargetDown is pending (or firing) for its job.
#[test]
fn prometheus_scrapes_the_running_stack_and_alerts() {
    let started = Instant::now();
    let brokers = kafka_support::broker();
    let topic = kafka_support::unique_topic("monitoring");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(kafka_support::create_topic(&brokers, &topic, 2));
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let articles = 40;
    create_source(&a, articles);

    let rest = ChildServer::start(
        &[
            "serve-rest",
            "--database",
            &b.to_string_lossy(),
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
    let consumer = ChildServer::spawn(
        Command::new(common::BIN)
            .args(["consume-kafka", "--brokers", &brokers, "--topic", &topic])
            .args([
                "--group",
                &format!("{topic}-group"),
                "--rest-url",
                &rest.address,
            ])
            .args(["--metrics-bind", "127.0.0.1:0"])
            .env_remove("ARTICLES_API_TOKEN")
            .current_dir(dir.path()),
    );
    let sync = ChildServer::spawn(
        Command::new(common::BIN)
            .args(["sync", "--from", &a.to_string_lossy()])
            .args(["--to", &format!("kafka://{brokers}/{topic}")])
            .args(["--state", &dir.path().join("state.db").to_string_lossy()])
            .args([
                "--watch",
                "--interval",
                "1s",
                "--metrics-bind",
                "127.0.0.1:0",
            ])
            .env_remove("ARTICLES_API_TOKEN")
            .current_dir(dir.path()),
    );
    let prometheus = Prometheus::start(&[
        ("ARTICLES_REST_TARGET", rest.port),
        ("ARTICLES_GRAPHQL_TARGET", graphql.port),
        ("ARTICLES_CONSUMER_TARGET", consumer.port),
        ("ARTICLES_SYNC_TARGET", sync.port),
    ]);

    let jobs = [
        "articles-rest",
        "articles-graphql",
        "articles-consumer",
        "articles-sync",
    ];
    eventually(Duration::from_secs(30), "every target up", || {
        let targets = prometheus.api("targets", &[("state", "active")])?;
        let up: BTreeSet<&str> = targets["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["health"] == "up")
            .filter_map(|t| t["labels"]["job"].as_str())
            .collect();
        (up.len() == jobs.len() && jobs.iter().all(|j| up.contains(j)))
            .then_some(())
            .ok_or(format!("up: {up:?}; targets: {targets}"))
    });

    // The articles sync published reach the REST API through the consumer, as both report.
    eventually(Duration::from_secs(60), "the synced rows counted", || {
        let synced = first_value(&prometheus.query("sum(articles_sync_rows_applied_total)")?);
        let applied = first_value(&prometheus.query("sum(articles_kafka_messages_applied_total)")?);
        (synced == articles as f64 && applied == articles as f64)
            .then_some(())
            .ok_or(format!("sync {synced}, consumer {applied}"))
    });

    let routes = [
        ("articles-rest", "POST", "/articles"),
        ("articles-rest", "GET", "/articles/{id}"),
        ("articles-rest", "GET", "/articles"),
        ("articles-rest", "POST", "/articles/bulk"),
        ("articles-graphql", "POST", "/graphql"),
    ];
    eventually(
        Duration::from_secs(60),
        "rates and quantiles of the routes",
        || {
            traffic(&rest.address, &graphql.address);
            for (job, method, path) in routes {
                let labels = format!(r#"{{job="{job}",method="{method}",path="{path}"}}"#);
                for rule in [
                    "job_method_path:articles_http_requests:rate5m",
                    "job_method_path:articles_http_request_duration_seconds:p50_5m",
                    "job_method_path:articles_http_request_duration_seconds:p99_5m",
                ] {
                    let value = first_value(&prometheus.query(&format!("{rule}{labels}"))?);
                    if value.is_nan() || value <= 0.0 {
                        return Err(format!("{rule}{labels} is {value}"));
                    }
                }
                let errors = first_value(&prometheus.query(&format!(
                    "job_method_path:articles_http_errors:ratio_rate5m{labels}"
                ))?);
                if errors != 0.0 {
                    return Err(format!("5xx ratio of {labels} is {errors}"));
                }
            }
            Ok(())
        },
    );

    // Every query of the dashboard and of the README parses and has data.
    let dashboard = dashboard();
    let mut queries: Vec<(String, String)> = dashboard_queries(&dashboard);
    queries.extend(
        readme_queries()
            .into_iter()
            .map(|q| (q, "README".to_owned())),
    );
    eventually(Duration::from_secs(30), "data for every query", || {
        traffic(&rest.address, &graphql.address);
        let empty: Vec<String> = queries
            .iter()
            .filter_map(|(query, panel)| match prometheus.query(query) {
                Ok(result) if !result.is_empty() => None,
                Ok(_) => Some(format!("{panel}: {query} has no data")),
                Err(error) => Some(format!("{panel}: {query}: {error}")),
            })
            .collect();
        empty.is_empty().then_some(()).ok_or(empty.join("\n"))
    });

    // A role that stops is noticed: its target-down alert is pending at the next evaluation.
    drop(graphql);
    eventually(
        Duration::from_secs(30),
        "ArticlesTargetDown for GraphQL",
        || {
            let alerts = prometheus.api("alerts", &[])?;
            alerts["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| {
                    a["labels"]["alertname"] == "ArticlesTargetDown"
                        && a["labels"]["job"] == "articles-graphql"
                        && (a["state"] == "pending" || a["state"] == "firing")
                })
                .then_some(())
                .ok_or(format!("{alerts}"))
        },
    );
    // Nothing else is alerting about a healthy stack.
    let alerts = prometheus.api("alerts", &[]).unwrap();
    let others: Vec<&Value> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] != "ArticlesTargetDown")
        .collect();
    assert!(others.is_empty(), "unexpected alerts: {others:?}");
    eprintln!("monitoring test took {:?}", started.elapsed());
    drop((rest, consumer, sync));
}
