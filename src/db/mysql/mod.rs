//! MySQL 8 and MariaDB 10.11+ for `articles sync` and `articles verify`: a legacy blog's table
//! read as a source ([`MysqlSource`]) and a database written as a destination
//! ([`MysqlDestination`]). No REST store runs on MySQL; `serve-rest` says so.
//!
//! The driver is the pure-Rust `mysql` crate (TLS through the OpenSSL the build already vendors),
//! so a build needs no MySQL client library. Every session speaks utf8mb4 and UTC
//! (`time_zone = '+00:00'`), so `TIMESTAMP` columns read as the instants they hold and emoji
//! survive; `DATETIME` columns, which hold no zone, are read as UTC.
//!
//! **Architecture Invariant:** a [`MysqlSource`]'s session is `READ ONLY`: even a bug here could
//! not write to a source.

mod destination;
mod source;

use std::time::Duration;

use mysql::{Conn, Opts, OptsBuilder};

pub use destination::MysqlDestination;
pub use source::MysqlSource;

use crate::db::source_table::Missing;
use crate::db::StoreError;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read or write on the socket may wait (a server gone without a word).
const IO_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether `raw` names a MySQL or MariaDB database (`mysql://` or `mariadb://`).
pub fn is_mysql_url(raw: &str) -> bool {
    raw.split_once("://").is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb")
    })
}

/// Why a MySQL database could not be used by sync or verify. One line, naming the role
/// (`source`, `destination`) and the URL without its password.
#[derive(Debug, thiserror::Error)]
pub enum MysqlSyncError {
    #[error("cannot open {role} {name}: {reason}")]
    Open {
        role: &'static str,
        name: String,
        reason: String,
    },
    #[error("{role} {name} has no `{table}` table")]
    NoTable {
        role: &'static str,
        name: String,
        table: String,
    },
    #[error("{role} {name}: table `{table}` has {missing}; it needs id, title and content")]
    MissingColumns {
        role: &'static str,
        name: String,
        table: String,
        missing: Missing,
    },
    #[error("{role} {name}: column `{column}` of `{table}` is {kind}; sync needs an integer id")]
    IdNotInteger {
        role: &'static str,
        name: String,
        table: String,
        column: String,
        kind: String,
    },
    #[error("cannot read {role} {name}: {reason}")]
    Read {
        role: &'static str,
        name: String,
        reason: String,
    },
}

/// The URL without its password (the same rule as for PostgreSQL URLs).
pub fn redacted(url: &str) -> String {
    crate::db::pg::redacted(url)
}

/// One line of a driver error: the server's `ERROR 1045 (28000): …`, or the I/O failure.
fn describe(error: &mysql::Error) -> String {
    let text = match error {
        mysql::Error::MySqlError(e) => e.to_string(),
        mysql::Error::IoError(e) => e.to_string(),
        mysql::Error::DriverError(e) => e.to_string(),
        mysql::Error::UrlError(e) => e.to_string(),
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the connection is gone (the server restarted or the network failed): the next call
/// opens a new one.
fn is_lost(error: &mysql::Error) -> bool {
    match error {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) | mysql::Error::DriverError(_) => {
            true
        }
        // Server shutdown in progress, connection killed.
        mysql::Error::MySqlError(e) => matches!(e.code, 1053 | 1927 | 2006 | 2013),
        _ => false,
    }
}

/// Classifies a failed write for sync: refused data (the pass skips the row), a transient
/// failure, or anything else (the run stops).
fn to_store_error(error: &mysql::Error) -> StoreError {
    let message = describe(error);
    match error {
        mysql::Error::MySqlError(e) => match e.code {
            // Column cannot be null, data too long, incorrect string value (text the column's
            // character set cannot hold), out of range, check constraint (MySQL, MariaDB).
            1048 | 1406 | 1366 | 1264 | 1292 | 3819 | 4025 => StoreError::Refused {
                field: "article",
                problem: format!("refused by the destination: {message}"),
            },
            // Lock wait timeout, deadlock, too many connections, shutting down, gone away.
            1205 | 1213 | 1040 | 1053 | 1927 | 2006 | 2013 => StoreError::Busy(message),
            // Table full, disk full, out of disk space.
            1114 | 1021 | 3 => StoreError::Full(message),
            _ => StoreError::Internal(message),
        },
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) | mysql::Error::DriverError(_) => {
            StoreError::Unavailable(message)
        }
        _ => StoreError::Internal(message),
    }
}

/// Connects to `url` (`mysql://` or `mariadb://`) with utf8mb4 and UTC for the session, then runs
/// `setup` (session settings of the role).
fn connect(
    url: &str,
    role: &'static str,
    name: &str,
    setup: &[&str],
) -> Result<Conn, MysqlSyncError> {
    let open = |reason: String| MysqlSyncError::Open {
        role,
        name: name.to_owned(),
        reason,
    };
    let url = match url.split_once("://") {
        Some((_, rest)) => format!("mysql://{rest}"),
        None => url.to_owned(),
    };
    let opts = Opts::from_url(&url).map_err(|e| open(e.to_string()))?;
    let mut init = vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"];
    init.extend_from_slice(setup);
    let builder = OptsBuilder::from_opts(opts)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT))
        .prefer_socket(false)
        .init(init);
    Conn::new(builder).map_err(|e| open(describe(&e)))
}

/// `` `name` ``: an identifier quoted for MySQL.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A table name quoted, `database.table` as two identifiers.
fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((database, table)) => format!("{}.{}", quote_ident(database), quote_ident(table)),
        None => quote_ident(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_mariadb_urls() {
        assert!(is_mysql_url("mysql://u@h/db"));
        assert!(is_mysql_url("MariaDB://u:p@h:3307/db"));
        assert!(!is_mysql_url("postgres://u@h/db"));
        assert!(!is_mysql_url("mysql.db"));
        assert_eq!(
            redacted("mariadb://u:secret@h:3307/db"),
            "mariadb://u@h:3307/db"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_table("legacy.posts"), "`legacy`.`posts`");
    }
}
