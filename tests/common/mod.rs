//! Shared helpers of the integration tests: start the REST API in-process on port 0 with a fresh
//! database ([`spawn_rest`]), or start the real binary ([`ChildServer`]), and speak HTTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use articles::rest::RestArgs;
use awc::http::header::HeaderMap;
use serde_json::Value;
use tempfile::TempDir;

#[path = "../pg_support/mod.rs"]
pub mod pg_support;
#[allow(unused_imports)]
pub use pg_support::wait_for;

/// Path of the built `articles` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_articles");

/// A REST API running in this process on its own temporary database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db_path: PathBuf,
    pub dir: TempDir,
    pub handle: ServerHandle,
    pub client: awc::Client,
    /// The PostgreSQL database the API runs on ([`on_postgres`]), dropped with the app.
    pub postgres: Option<pg_support::TestDatabase>,
}

/// An HTTP answer: status, headers and the body parsed as JSON (`Null` when empty or not JSON),
/// as text, and as the bytes received (still in their Content-Encoding).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// Starts the REST API on port 0 with a fresh database and default settings.
pub async fn spawn_rest() -> TestApp {
    spawn_rest_with(|_| {}).await
}

/// Whether this test run puts the in-process REST API on PostgreSQL: `ARTICLES_TEST_STORE=postgres`
/// (scripts/test.sh runs the HTTP-only test binaries a second time so), else SQLite.
pub fn on_postgres() -> bool {
    match std::env::var("ARTICLES_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("ARTICLES_TEST_STORE={other}: expected sqlite or postgres"),
    }
}

/// Starts the REST API on port 0 with a fresh database (a SQLite file, or a PostgreSQL database
/// of its own when [`on_postgres`]); `adjust` may change the settings.
pub async fn spawn_rest_with(adjust: impl FnOnce(&mut RestArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("articles.db");
    if !on_postgres() {
        return spawn_rest_on(dir, db_path, adjust).await;
    }
    let database = pg_support::TestDatabase::create("rest");
    let url = database.url.clone();
    let mut app = spawn_rest_on(dir, db_path, |args| {
        args.db.database = url;
        args.pool_size = 8;
        adjust(args);
    })
    .await;
    app.postgres = Some(database);
    app
}

/// Starts the REST API on port 0 over `db_path` (kept alive by `dir`).
pub async fn spawn_rest_on(
    dir: TempDir,
    db_path: PathBuf,
    adjust: impl FnOnce(&mut RestArgs),
) -> TestApp {
    articles::telemetry::init("error");
    let mut args = RestArgs::for_database(&db_path);
    adjust(&mut args);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let server = articles::rest::build(&args, listener).expect("build REST server");
    let port = server.port();
    let handle = server.handle();
    actix_rt::spawn(server.run());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db_path,
        dir,
        handle,
        client: client(),
        postgres: None,
    }
}

/// An HTTP client with a generous timeout for tests.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// Sends `request` with an optional JSON body and collects the reply.
pub async fn send(request: awc::ClientRequest, body: Option<&Value>) -> Reply {
    let mut response = match body {
        Some(body) => request.send_json(body).await,
        None => request.send().await,
    }
    .expect("request sent");
    let bytes = response.body().limit(256 << 20).await.expect("body read");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
        raw: bytes.to_vec(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path)), None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        send(self.client.post(self.url(path)), Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        send(self.client.put(self.url(path)), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        send(self.client.delete(self.url(path)), None).await
    }

    /// Creates an article and returns its JSON (`data`).
    pub async fn create_article(&self, title: &str, content: &str) -> Value {
        let reply = self
            .post(
                "/articles",
                &serde_json::json!({"title": title, "content": content}),
            )
            .await;
        assert_eq!(reply.status, 201, "create failed: {}", reply.text);
        reply.body["data"].clone()
    }

    /// Stops the server gracefully.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Starts `command` logging at info, and forwards its stderr lines to the returned receiver.
pub fn spawn_logged(command: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = command
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("articles binary starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, log)
}

/// The real `articles` binary running as a child process; killed on drop.
pub struct ChildServer {
    pub child: Child,
    pub port: u16,
    pub address: String,
    pub log: mpsc::Receiver<String>,
}

impl ChildServer {
    /// Starts `articles <args>` and waits until its log says which port it listens on
    /// (the line holding `listening` and `port=`).
    pub fn start(args: &[&str], cwd: &Path) -> Self {
        Self::spawn(Command::new(BIN).args(args).current_dir(cwd))
    }

    /// Starts `command` (the binary, or a shell that execs it) and waits for its port as
    /// [`Self::start`] does.
    pub fn spawn(command: &mut Command) -> Self {
        let (child, log) = spawn_logged(command);
        let mut port = None;
        while port.is_none() {
            let line = log
                .recv_timeout(Duration::from_secs(30))
                .expect("server logged its port within 30 s");
            if line.contains("listening") {
                port = line
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("port="))
                    .and_then(|p| p.parse().ok());
            }
        }
        let port = port.unwrap();
        Self {
            child,
            port,
            address: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        std::mem::forget(self);
        status
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` at most `limit`, killing it after that.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
