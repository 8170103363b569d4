//! A real MariaDB (or MySQL) for the tests: one server per test run (`scripts/mariadb.sh start`,
//! which `scripts/test.sh` runs), a database of its own per test ([`TestMysql`], dropped after).
//!
//! The server is the one whose URL `scripts/mariadb.sh` wrote to `target/services/mariadb/url`,
//! or `ARTICLES_TEST_MYSQL_URL` (a user that may `CREATE DATABASE`, `CREATE USER` and `GRANT`).
//! Without either, tests fail saying how to start one: a MySQL test that skips itself would pass
//! without testing anything.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use mysql::prelude::Queryable;
use mysql::Conn;

// Each support module stands alone (test binaries use one or both), so each loads the file.
#[allow(clippy::duplicate_mod)]
#[path = "../common/servers.rs"]
mod servers;
pub use servers::with_database;

/// The URL of the tests' server (its own database is only used to create and drop others).
pub fn admin_url() -> String {
    servers::server_url(
        "ARTICLES_TEST_MYSQL_URL",
        "mariadb",
        "mysql://USER:PASSWORD@HOST:PORT/DB (a user that may CREATE DATABASE, CREATE USER and \
         GRANT)",
    )
}

/// The certificate that vouches for the tests' server (scripts/mariadb.sh makes a self-signed one
/// for 127.0.0.1), or `ARTICLES_TEST_MYSQL_CA` for a server of one's own.
pub fn ca_path() -> std::path::PathBuf {
    let path = std::env::var_os("ARTICLES_TEST_MYSQL_CA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/services/mariadb/ca.pem"),
        Into::into,
    );
    assert!(
        path.exists(),
        "no CA certificate for the tests' MariaDB at {} (scripts/mariadb.sh start makes it; \
         with ARTICLES_TEST_MYSQL_URL, set ARTICLES_TEST_MYSQL_CA to the server's CA)",
        path.display()
    );
    path
}

/// `url` with another user and password.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let at = url[start..].find('@').map_or(start, |at| start + at + 1);
    format!("{}{user}:{password}@{}", &url[..start], &url[at..])
}

fn connect(url: &str) -> Conn {
    Conn::new(mysql::Opts::from_url(url).expect("a mysql:// URL"))
        .unwrap_or_else(|e| panic!("cannot connect to the tests' MariaDB ({url}): {e}"))
}

/// A database of one test, dropped (with the users made for it) when this is dropped.
pub struct TestMysql {
    pub name: String,
    pub url: String,
    users: std::cell::RefCell<Vec<String>>,
}

impl TestMysql {
    pub fn create(test: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "articles_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test
        );
        let admin = admin_url();
        connect(&admin)
            .query_drop(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            ))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let url = with_database(&admin, &name);
        Self {
            name,
            url,
            users: Default::default(),
        }
    }

    /// A connection of the test's own, in UTC and utf8mb4.
    pub fn connect(&self) -> Conn {
        let mut conn = connect(&self.url);
        conn.query_drop("SET NAMES utf8mb4").unwrap();
        conn.query_drop("SET time_zone = '+00:00'").unwrap();
        conn
    }

    /// Runs `sql` (one or more statements).
    pub fn execute(&self, sql: &str) {
        self.connect()
            .query_drop(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// A user of this test that may only `SELECT` from this database; its URL.
    pub fn reader_url(&self) -> String {
        let user = format!("r{}", &self.name[self.name.len().saturating_sub(20)..]);
        let user = user.replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let user = user[..user.len().min(32)].to_owned();
        let mut conn = connect(&admin_url());
        for host in ["127.0.0.1", "localhost"] {
            conn.query_drop(format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED BY 'reads'"
            ))
            .unwrap();
            conn.query_drop(format!(
                "GRANT SELECT ON `{}`.* TO '{user}'@'{host}'",
                self.name.replace('_', "\\_")
            ))
            .unwrap();
        }
        self.users.borrow_mut().push(user.clone());
        with_user(&self.url, &user, "reads")
    }

    /// The checksum of every table of this database (what shows that nothing wrote to it).
    pub fn checksums(&self) -> Vec<(String, Option<i64>)> {
        let mut conn = self.connect();
        let tables: Vec<String> = conn
            .query(format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' \
                 ORDER BY TABLE_NAME",
                self.name
            ))
            .unwrap();
        tables
            .into_iter()
            .map(|table| {
                let row: Option<(String, Option<i64>)> = conn
                    .query_first(format!("CHECKSUM TABLE `{table}`"))
                    .unwrap();
                (table, row.and_then(|r| r.1))
            })
            .collect()
    }

    /// Ends every other session on this database (as a server restart would).
    pub fn kill_other_sessions(&self) {
        let mut conn = connect(&admin_url());
        let ids: Vec<u64> = conn
            .query(format!(
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE DB = '{}' AND ID <> CONNECTION_ID()",
                self.name
            ))
            .unwrap();
        for id in ids {
            // Gone already is fine.
            let _ = conn.query_drop(format!("KILL CONNECTION {id}"));
        }
    }
}

impl Drop for TestMysql {
    fn drop(&mut self) {
        let Ok(mut conn) = Conn::new(mysql::Opts::from_url(&admin_url()).unwrap()) else {
            return;
        };
        let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        for user in self.users.borrow().iter() {
            for host in ["127.0.0.1", "localhost"] {
                let _ = conn.query_drop(format!("DROP USER IF EXISTS '{user}'@'{host}'"));
            }
        }
    }
}
