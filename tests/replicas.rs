//! Several `articles serve-rest` processes over one PostgreSQL database (issue 9): what only
//! replicas can get wrong. Each test starts two real binaries on a database of its own (the
//! restart test also on a PostgreSQL of its own) and speaks HTTP to both.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::pg_support::{OwnServer, TestDatabase};
use common::{send, ChildServer, Reply};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// Two replicas of the REST API over the database at `url`.
fn replicas(url: &str, dir: &std::path::Path) -> [ChildServer; 2] {
    let start = || {
        ChildServer::start(
            &[
                "serve-rest",
                "--database",
                url,
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--pool-size",
                "4",
            ],
            dir,
        )
    };
    [start(), start()]
}

async fn request(
    method: &str,
    url: String,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let client = common::client();
    let mut request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        other => panic!("method {other}"),
    };
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    send(request, body.as_ref()).await
}

/// Every article the API lists, id -> title, walking `next`.
async fn all_articles(base: &str) -> BTreeMap<i64, String> {
    let mut found = BTreeMap::new();
    let mut path = "/articles?limit=500".to_owned();
    loop {
        let page = request("GET", format!("{base}{path}"), None, &[]).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for article in page.body["data"].as_array().unwrap() {
            found.insert(
                article["id"].as_i64().unwrap(),
                article["title"].as_str().unwrap().to_owned(),
            );
        }
        match page.body["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => return found,
        }
    }
}

/// Concurrent `If-Match` updates of one version through both replicas: exactly one wins.
#[actix_web::test]
async fn one_version_is_won_once_across_replicas() {
    let database = TestDatabase::create("replicas_if_match");
    let dir = tempfile::tempdir().unwrap();
    let servers = replicas(&database.url, dir.path());
    let created = request(
        "POST",
        format!("{}/articles", servers[0].address),
        Some(json!({"title": "contended", "content": "v0"})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let etag = created.header("etag").unwrap();
    for round in 0..5 {
        let current = request(
            "GET",
            format!("{}/articles/{id}", servers[round % 2].address),
            None,
            &[],
        )
        .await;
        let etag = if round == 0 {
            etag.clone()
        } else {
            current.header("etag").unwrap()
        };
        let puts = (0..16).map(|i| {
            let url = format!("{}/articles/{id}", servers[i % 2].address);
            let etag = etag.clone();
            async move {
                request(
                    "PUT",
                    url,
                    Some(json!({"content": format!("round {round} writer {i}")})),
                    &[("If-Match", etag.as_str())],
                )
                .await
                .status
            }
        });
        let statuses = join_all(puts).await;
        let won = statuses.iter().filter(|&&s| s == 200).count();
        let lost = statuses.iter().filter(|&&s| s == 412).count();
        assert_eq!((won, lost), (1, 15), "round {round}: {statuses:?}");
    }
}

/// One Idempotency-Key sent to both replicas at once creates one article; every answer names it.
#[actix_web::test]
async fn one_idempotency_key_creates_one_article_across_replicas() {
    let database = TestDatabase::create("replicas_idempotency");
    let dir = tempfile::tempdir().unwrap();
    let servers = replicas(&database.url, dir.path());
    for key in ["key-a", "key-b", "key-c"] {
        let posts = (0..16).map(|i| {
            let url = format!("{}/articles", servers[i % 2].address);
            async move {
                request(
                    "POST",
                    url,
                    Some(json!({"title": format!("once {key}"), "content": "c"})),
                    &[("Idempotency-Key", key)],
                )
                .await
            }
        });
        let replies = join_all(posts).await;
        let ids: BTreeSet<i64> = replies
            .iter()
            .map(|reply| {
                assert_eq!(reply.status, 201, "{}", reply.text);
                reply.body["data"]["id"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{key}: {ids:?}");
        let replayed = replies
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_some())
            .count();
        assert_eq!(replayed, 15, "{key}");
    }
    let listed = all_articles(&servers[1].address).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
}

/// Writers and readers on both replicas at once: no 5xx, and the database ends holding exactly
/// the articles the acknowledged creates, updates and deletes leave.
#[actix_web::test]
async fn mixed_load_on_two_replicas_loses_nothing() {
    let database = TestDatabase::create("replicas_load");
    let dir = tempfile::tempdir().unwrap();
    let servers = replicas(&database.url, dir.path());
    let bases: Vec<String> = servers.iter().map(|s| s.address.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(4);
    let writers = (0..6).map(|w| {
        let bases = bases.clone();
        async move {
            // What this writer's acknowledged requests leave behind: id -> title.
            let mut expected = BTreeMap::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let base = &bases[n % 2];
                let title = format!("w{w} #{n}");
                let created = request(
                    "POST",
                    format!("{base}/articles"),
                    Some(json!({"title": title, "content": "body"})),
                    &[],
                )
                .await;
                assert_eq!(created.status, 201, "{}", created.text);
                let id = created.body["data"]["id"].as_i64().unwrap();
                expected.insert(id, title);
                if n % 3 == 1 {
                    // Through the other replica.
                    let retitled = format!("w{w} #{n} edited");
                    let put = request(
                        "PUT",
                        format!("{}/articles/{id}", bases[(n + 1) % 2]),
                        Some(json!({"title": retitled})),
                        &[],
                    )
                    .await;
                    assert_eq!(put.status, 200, "{}", put.text);
                    expected.insert(id, retitled);
                }
                if n % 5 == 2 {
                    let deleted =
                        request("DELETE", format!("{base}/articles/{id}"), None, &[]).await;
                    assert_eq!(deleted.status, 200, "{}", deleted.text);
                    expected.remove(&id);
                }
                n += 1;
            }
            expected
        }
    });
    let readers = (0..2).map(|r| {
        let bases = bases.clone();
        async move {
            let mut reads = 0;
            while Instant::now() < deadline {
                let page = request(
                    "GET",
                    format!("{}/articles?limit=20&sort=-id", bases[r % 2]),
                    None,
                    &[],
                )
                .await;
                assert!(page.status < 500, "{}: {}", page.status, page.text);
                reads += 1;
            }
            reads
        }
    });
    let (expected, reads) = futures_util::future::join(join_all(writers), join_all(readers)).await;
    let expected: BTreeMap<i64, String> = expected.into_iter().flatten().collect();
    assert!(expected.len() > 50, "too little load: {}", expected.len());
    assert!(reads.iter().all(|&r| r > 10), "{reads:?}");
    for base in &bases {
        assert_eq!(all_articles(base).await, expected);
        let total = request("GET", format!("{base}/articles?limit=1"), None, &[]).await;
        assert_eq!(total.body["total"], expected.len() as i64);
    }
}

/// PostgreSQL restarted under load: requests fail with 503 (never another 5xx) while it is down,
/// both replicas serve again once it is back, without a restart of theirs, and every create that
/// was acknowledged is there.
#[actix_web::test]
async fn replicas_ride_out_a_postgres_restart() {
    let server = OwnServer::start("replicas_restart");
    let dir = tempfile::tempdir().unwrap();
    let servers = replicas(&server.url(), dir.path());
    let bases: Vec<String> = servers.iter().map(|s| s.address.clone()).collect();
    let load = |phase: &'static str, rounds: usize| {
        let bases = bases.clone();
        async move {
            let mut acknowledged = Vec::new();
            let mut unavailable = 0;
            for n in 0..rounds {
                let sent = Instant::now();
                let reply = request(
                    "POST",
                    format!("{}/articles", bases[n % 2]),
                    Some(json!({"title": format!("{phase} {n}"), "content": "c"})),
                    &[],
                )
                .await;
                match reply.status {
                    201 => acknowledged.push(reply.body["data"]["id"].as_i64().unwrap()),
                    503 => {
                        assert!(reply.header("retry-after").is_some(), "{}", reply.text);
                        // Refused at once, not after the pool's 5 s connect timeout.
                        assert!(
                            sent.elapsed() < Duration::from_secs(2),
                            "{phase}: 503 after {:?}",
                            sent.elapsed()
                        );
                        unavailable += 1;
                    }
                    other => panic!("{phase}: {other} {}", reply.text),
                }
            }
            (acknowledged, unavailable)
        }
    };
    let (mut acknowledged, failed) = load("before", 40).await;
    assert_eq!(failed, 0);

    server.run("stop");
    let (down, failed) = load("down", 10).await;
    assert!(
        down.is_empty(),
        "acknowledged while PostgreSQL was down: {down:?}"
    );
    assert_eq!(failed, 10);
    for base in &bases {
        let asked = Instant::now();
        let health = request("GET", format!("{base}/health"), None, &[]).await;
        assert_eq!(health.status, 503, "{}", health.text);
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
    }

    server.run("start");
    // At most one failure per pooled connection that the restart broke, then all served.
    let (after, failed) = load("after", 40).await;
    assert!(failed <= 8, "{failed} failures after the restart");
    acknowledged.extend(after);
    let (last, failed) = load("settled", 20).await;
    assert_eq!(failed, 0, "still failing once PostgreSQL is back");
    acknowledged.extend(last);
    for base in &bases {
        let health = request("GET", format!("{base}/health"), None, &[]).await;
        assert_eq!(health.status, 200, "{}", health.text);
        let listed: BTreeSet<i64> = all_articles(base).await.into_keys().collect();
        let acknowledged: BTreeSet<i64> = acknowledged.iter().copied().collect();
        assert_eq!(listed, acknowledged);
    }
}

/// `articles serve --database postgres://…`: the whole stack on PostgreSQL, GraphQL included.
#[actix_web::test]
async fn the_whole_stack_runs_on_postgres() {
    let database = TestDatabase::create("stack");
    let dir = tempfile::tempdir().unwrap();
    let stack = ChildServer::start(
        &[
            "serve",
            "--database",
            &database.url,
            "--rest-bind",
            "127.0.0.1:0",
            "--graphql-bind",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    // ChildServer read up to the REST API's line; the GraphQL server's follows.
    let graphql_port: u16 = loop {
        let line = stack
            .log
            .recv_timeout(Duration::from_secs(30))
            .expect("the GraphQL server logged its port");
        if line.contains("GraphQL server listening") {
            break line
                .split_whitespace()
                .find_map(|word| word.strip_prefix("port="))
                .and_then(|port| port.parse().ok())
                .expect("port=");
        }
    };
    let created = request(
        "POST",
        format!("{}/articles", stack.address),
        Some(json!({"title": "stack on PostgreSQL", "content": "c"})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let answer = request(
        "POST",
        format!("http://127.0.0.1:{graphql_port}/graphql"),
        Some(json!({"query": "{ getArticles { success data { id title } } }"})),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["data"]["getArticles"]["data"][0]["title"], "stack on PostgreSQL",
        "{}",
        answer.text
    );
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows = diesel::sql_query("SELECT count(*) AS n FROM articles")
        .get_result::<Count>(&mut database.connect())
        .unwrap();
    assert_eq!(rows.n, 1);
    assert!(!dir.path().join("articles.db").exists());
}

/// Credentials: a wrong password stops `serve-rest` at start with one `error:` line that names the
/// database without any password, exit status 2; a URL without a password takes it from
/// PGPASSWORD, as libpq does (the tests' server checks passwords: scripts/postgres.sh).
#[test]
fn credentials_come_from_the_url_or_pgpassword() {
    let database = TestDatabase::create("credentials");
    let dir = tempfile::tempdir().unwrap();
    // postgres://articles:PASSWORD@HOST:PORT/DB -> its user, password and the rest.
    let (scheme_user, rest) = database.url.split_once(':').unwrap();
    assert_eq!(scheme_user, "postgres");
    let after_slashes = rest.trim_start_matches("//");
    let (userinfo, host_and_db) = after_slashes.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    let wrong = format!("postgres://{user}:not-{password}@{host_and_db}");
    let output = std::process::Command::new(common::BIN)
        .args(["serve-rest", "--database", &wrong, "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "off")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains("password authentication failed"),
        "{stderr}"
    );
    assert!(
        lines[0].contains(host_and_db.split('?').next().unwrap()),
        "{stderr}"
    );
    assert!(!lines[0].contains(&format!("not-{password}")), "{stderr}");

    let without = format!("postgres://{user}@{host_and_db}");
    let server = ChildServer::spawn(
        std::process::Command::new(common::BIN)
            .args([
                "serve-rest",
                "--database",
                &without,
                "--bind",
                "127.0.0.1:0",
            ])
            .current_dir(dir.path())
            .env("PGPASSWORD", password),
    );
    let health = std::process::Command::new("curl")
        .args(["-s", &format!("{}/health", server.address)])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&health.stdout).contains("\"healthy\""),
        "{}",
        String::from_utf8_lossy(&health.stdout)
    );
}
