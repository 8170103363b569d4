//! A real PostgreSQL for the tests: one server per test run (`scripts/postgres.sh start`, which
//! `scripts/test.sh` runs), a database of its own per test ([`TestDatabase`], dropped after).
//!
//! The server is the one whose URL `scripts/postgres.sh` wrote to `target/services/postgres/url`,
//! or `ARTICLES_TEST_POSTGRES_URL` (a role that may `CREATE DATABASE`, with pg_trgm in its
//! template). Without either, tests fail saying how to start one: a PostgreSQL test that skips
//! itself would pass without testing anything.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use articles::db::pg::{PgOptions, PgStore};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::BigInt;
use diesel::Connection;
use diesel::RunQueryDsl;

#[path = "../common/wait.rs"]
mod wait;
#[allow(unused_imports)]
pub use wait::wait_for;

// Each support module stands alone (test binaries use one or both), so each loads the file.
#[allow(clippy::duplicate_mod)]
#[path = "../common/servers.rs"]
mod servers;
pub use servers::with_database;

/// The URL of the tests' server (its own database is only used to create and drop others).
pub fn admin_url() -> String {
    servers::server_url(
        "ARTICLES_TEST_POSTGRES_URL",
        "postgres",
        "postgres://USER:PASSWORD@HOST:PORT/DB (a role that may CREATE DATABASE)",
    )
}

/// Options for a test's store: a small pool, and timeouts that fail a test fast.
pub fn options() -> PgOptions {
    PgOptions {
        pool_size: 4,
        statement_timeout: std::time::Duration::from_secs(20),
        connect_timeout: std::time::Duration::from_secs(5),
    }
}

/// A database of one test, created from the server's template (so with pg_trgm), dropped (with
/// every connection to it) when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create(test: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "articles_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test
        );
        let admin = admin_url();
        let mut conn = PgConnection::establish(&admin)
            .unwrap_or_else(|e| panic!("cannot connect to the tests' PostgreSQL ({admin}): {e}"));
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let url = with_database(&admin, &name);
        Self { name, url }
    }

    /// A store over this database (migrated by its opening).
    pub fn store(&self) -> PgStore {
        self.store_with(&options())
    }

    pub fn store_with(&self, options: &PgOptions) -> PgStore {
        PgStore::open(&self.url, options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A connection of the test's own, beside the store's.
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    /// Sessions on this database other than `conn`'s own.
    fn other_sessions(&self, conn: &mut PgConnection) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Sessions {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .get_result::<Sessions>(conn)
        .expect("read pg_stat_activity")
        .n
    }

    /// Waits until every other session on this database has ended (a finished `articles` process
    /// leaves its backends to exit after it; their statistics are written as they do).
    pub fn wait_until_alone(&self) {
        let mut conn = self.connect();
        wait_for(
            std::time::Duration::from_secs(10),
            "the other sessions of the test database end",
            || self.other_sessions(&mut conn) == 0,
        );
    }

    /// Ends every other session on this database (as a server restart or a failover would) and
    /// waits until they are gone.
    pub fn terminate_other_sessions(&self) {
        self.connect()
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ))
            .expect("pg_terminate_backend");
        self.wait_until_alone();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A PostgreSQL server of one test's own, for tests that stop and start it (the shared one must
/// stay up): `scripts/postgres.sh` with an instance name and a free port. Stopped, and its state
/// directory removed, when this is dropped.
pub struct OwnServer {
    instance: String,
    port: u16,
    state: PathBuf,
}

impl OwnServer {
    pub fn start(test: &str) -> Self {
        let instance = format!("test-{}-{test}", std::process::id());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let state = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/services")
            .join(format!("postgres-{instance}"));
        let server = Self {
            instance,
            port,
            state,
        };
        server.run("start");
        server
    }

    /// Runs `scripts/postgres.sh ACTION` for this server; panics with its output if it fails.
    pub fn run(&self, action: &str) {
        let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh"))
            .arg(action)
            .env("POSTGRES_INSTANCE", &self.instance)
            .env("POSTGRES_PORT", self.port.to_string())
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "scripts/postgres.sh {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of its database `articles`.
    pub fn url(&self) -> String {
        format!(
            "postgres://articles:articles@127.0.0.1:{}/articles",
            self.port
        )
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh"))
            .arg("stop")
            .env("POSTGRES_INSTANCE", &self.instance)
            .env("POSTGRES_PORT", self.port.to_string())
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
