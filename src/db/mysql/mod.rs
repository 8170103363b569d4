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

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql::{Conn, Opts, OptsBuilder, SslOpts};

pub use destination::MysqlDestination;
pub use source::MysqlSource;

use crate::db::error::SyncDbError;
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
        mysql::Error::TlsError(e) => format!("TLS: {e}"),
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

/// How a connection uses TLS: the `ssl-mode` of MySQL's own clients, given in the URL
/// (`?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ssl/db-ca.pem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    /// No TLS (the default).
    Disabled,
    /// Encrypted, the server's certificate not checked.
    Required,
    /// Encrypted, the certificate signed by a trusted authority (`ssl-ca`, else the system's).
    VerifyCa,
    /// As `VerifyCa`, and issued for the host the URL names.
    VerifyIdentity,
}

/// A URL split into what the driver reads and our TLS parameters (which it does not).
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    url: String,
    ssl_mode: SslMode,
    ssl_ca: Option<String>,
}

impl Endpoint {
    /// `mysql://` or `mariadb://…`, with `ssl-mode` and `ssl-ca` (also spelt with `_`) taken
    /// out of the query.
    fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut kept = Vec::new();
        let (mut ssl_mode, mut ssl_ca) = (SslMode::Disabled, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key.replace('_', "-").to_ascii_lowercase().as_str() {
                "ssl-mode" | "sslmode" => {
                    ssl_mode = match value.to_ascii_uppercase().replace('-', "_").as_str() {
                        "DISABLED" => SslMode::Disabled,
                        "REQUIRED" => SslMode::Required,
                        "VERIFY_CA" => SslMode::VerifyCa,
                        "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                        other => {
                            return Err(format!(
                                "ssl-mode={other}: expected DISABLED, REQUIRED, VERIFY_CA or \
                                 VERIFY_IDENTITY"
                            ))
                        }
                    }
                }
                "ssl-ca" => ssl_ca = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        if ssl_ca.is_some() && matches!(ssl_mode, SslMode::Disabled | SslMode::Required) {
            return Err("ssl-ca is for ssl-mode=VERIFY_CA or VERIFY_IDENTITY".to_owned());
        }
        let mut url = format!("mysql://{address}");
        if !kept.is_empty() {
            url = format!("{url}?{}", kept.join("&"));
        }
        Ok(Self {
            url,
            ssl_mode,
            ssl_ca,
        })
    }

    /// The driver's TLS settings, `None` without TLS.
    fn ssl_opts(&self) -> Option<SslOpts> {
        let opts = SslOpts::default().with_root_cert_path(
            self.ssl_ca
                .clone()
                .map(|ca| Cow::<'static, Path>::Owned(PathBuf::from(ca))),
        );
        match self.ssl_mode {
            SslMode::Disabled => None,
            SslMode::Required => Some(
                opts.with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true),
            ),
            SslMode::VerifyCa => Some(opts.with_danger_skip_domain_validation(true)),
            SslMode::VerifyIdentity => Some(opts),
        }
    }
}

/// `%XX` escapes of a URL parameter decoded (a path with spaces, say).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connects to `url` (`mysql://` or `mariadb://`, TLS as its `ssl-mode` says) with utf8mb4 and
/// UTC for the session, then runs `setup` (session settings of the role).
fn connect(url: &str, role: &'static str, name: &str, setup: &[&str]) -> Result<Conn, SyncDbError> {
    let open = |reason: String| SyncDbError::Open {
        role,
        name: name.to_owned(),
        reason,
    };
    let endpoint = Endpoint::parse(url).map_err(open)?;
    let opts = Opts::from_url(&endpoint.url).map_err(|e| open(e.to_string()))?;
    let mut init = vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"];
    init.extend_from_slice(setup);
    let builder = OptsBuilder::from_opts(opts)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT))
        .prefer_socket(false)
        .ssl_opts(endpoint.ssl_opts())
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
    fn tls_parameters_are_ours() {
        let endpoint = Endpoint::parse(
            "mariadb://u:p@h:3307/db?ssl-mode=verify_identity&ssl-ca=/a%20b.pem&compress=true",
        )
        .unwrap();
        assert_eq!(
            endpoint,
            Endpoint {
                url: "mysql://u:p@h:3307/db?compress=true".into(),
                ssl_mode: SslMode::VerifyIdentity,
                ssl_ca: Some("/a b.pem".into()),
            }
        );
        assert_eq!(
            Endpoint::parse("mysql://h/db?ssl_mode=REQUIRED")
                .unwrap()
                .ssl_mode,
            SslMode::Required
        );
        assert!(Endpoint::parse("mysql://h/db")
            .unwrap()
            .ssl_opts()
            .is_none());
        assert!(Endpoint::parse("mysql://h/db?ssl-mode=PREFERRED")
            .unwrap_err()
            .starts_with("ssl-mode=PREFERRED: expected"));
        assert!(Endpoint::parse("mysql://h/db?ssl-ca=/x.pem").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_table("legacy.posts"), "`legacy`.`posts`");
    }
}
