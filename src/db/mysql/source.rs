//! A MySQL or MariaDB table read as a sync or verify source: a `READ ONLY` session, keyset pages
//! in id order over the text protocol (every value as the server writes it, so legacy column
//! types need no mapping of ours: `DATETIME`/`TIMESTAMP` as `2024-01-01 12:00:00.000000`, Unix
//! seconds as digits, text as its bytes, checked for UTF-8 here).

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::{connect, describe, is_lost, quote_ident, quote_table, redacted, MysqlSyncError};
use crate::db::source_table::{stored_time_text, Column, SourceTable};
use crate::db::sqlite::sync_state::{RawArticle, SourcePage};

/// The integer types an id column may have.
const INTEGER_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// A MySQL table holding articles, read as a sync or verify source. A connection found lost (a
/// server restart under `--watch`) is replaced at the next read.
pub struct MysqlSource {
    conn: Conn,
    url: String,
    name: String,
    role: &'static str,
    lost: bool,
    table: SourceTable,
    /// The page query up to `WHERE id >` (the id and `LIMIT` are appended as integers).
    select: String,
    /// ` ORDER BY id LIMIT `.
    order: String,
    /// `SELECT min(id), max(id)` of the table.
    bounds: String,
    /// Which of created_at and updated_at are `DATETIME`/`TIMESTAMP` columns.
    temporal: [bool; 2],
    /// Rows to ask for next: a page cut by its byte limit was larger than it needed to be, and
    /// the rows past the cut crossed the network for nothing; the next one asks for about as
    /// many rows as fitted.
    rows_hint: usize,
}

impl MysqlSource {
    /// Connects to `url` in a read-only session and finds the columns of `table`; `role` names it
    /// in errors.
    pub fn open(
        url: &str,
        role: &'static str,
        table: &SourceTable,
    ) -> Result<Self, MysqlSyncError> {
        let name = redacted(url);
        let conn = connect(url, role, &name, &["SET SESSION TRANSACTION READ ONLY"])?;
        let mut source = Self {
            conn,
            url: url.to_owned(),
            name,
            role,
            lost: false,
            table: table.clone(),
            select: String::new(),
            order: String::new(),
            bounds: String::new(),
            temporal: [false; 2],
            rows_hint: usize::MAX,
        };
        let (database, bare) = match table.table.split_once('.') {
            Some((database, bare)) => (Some(database.to_owned()), bare.to_owned()),
            None => (None, table.table.clone()),
        };
        let present: Vec<(String, String)> = source.read(|conn| {
            conn.exec_map(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                 ORDER BY ORDINAL_POSITION",
                (database, bare),
                |(name, kind): (String, String)| (name, kind.to_ascii_lowercase()),
            )
        })?;
        if present.is_empty() {
            return Err(MysqlSyncError::NoTable {
                role,
                name: source.name,
                table: table.table.clone(),
            });
        }
        let columns =
            table
                .resolve(&present)
                .map_err(|missing| MysqlSyncError::MissingColumns {
                    role,
                    name: source.name.clone(),
                    table: table.table.clone(),
                    missing,
                })?;
        if !INTEGER_TYPES.contains(&columns.id.kind.as_str()) {
            return Err(MysqlSyncError::IdNotInteger {
                role,
                name: source.name,
                table: table.table.clone(),
                column: columns.id.name,
                kind: columns.id.kind,
            });
        }
        let stamp = |column: &Option<Column<String>>| {
            column
                .as_ref()
                .map_or("NULL".to_owned(), |c| quote_ident(&c.name))
        };
        let is_temporal = |column: &Option<Column<String>>| {
            column
                .as_ref()
                .is_some_and(|c| matches!(c.kind.as_str(), "datetime" | "timestamp"))
        };
        let id = quote_ident(&columns.id.name);
        let from = quote_table(&table.table);
        source.select = format!(
            "SELECT {id}, {title}, {content}, {created}, {updated} FROM {from} WHERE {id} > ",
            title = quote_ident(&columns.title.name),
            content = quote_ident(&columns.content.name),
            created = stamp(&columns.created_at),
            updated = stamp(&columns.updated_at),
        );
        source.order = format!(" ORDER BY {id} LIMIT ");
        source.bounds = format!("SELECT MIN({id}), MAX({id}) FROM {from}");
        source.temporal = [
            is_temporal(&columns.created_at),
            is_temporal(&columns.updated_at),
        ];
        Ok(source)
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> Result<Self, MysqlSyncError> {
        Self::open(&self.url, self.role, &self.table)
    }

    /// The URL without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `body` on the session, first replacing a connection found lost.
    fn read<T>(
        &mut self,
        body: impl FnOnce(&mut Conn) -> mysql::Result<T>,
    ) -> Result<T, MysqlSyncError> {
        if self.lost {
            self.conn = connect(
                &self.url,
                self.role,
                &self.name,
                &["SET SESSION TRANSACTION READ ONLY"],
            )?;
            self.lost = false;
        }
        body(&mut self.conn).map_err(|e| {
            self.lost = is_lost(&e);
            MysqlSyncError::Read {
                role: self.role,
                name: self.name.clone(),
                reason: describe(&e),
            }
        })
    }

    /// Rows with `id > after` in id order: at most `max_rows`, and no more once `max_bytes` of
    /// text have been read (always at least one row).
    pub fn page(
        &mut self,
        after: i64,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<SourcePage, MysqlSyncError> {
        let limit = max_rows.min(self.rows_hint).max(1);
        // Both values are integers of ours: nothing of the user's is spliced into the SQL.
        let sql = format!("{}{after}{}{limit}", self.select, self.order);
        let temporal = self.temporal;
        let (rows, cut) = self.read(|conn| {
            let mut rows = Vec::new();
            let mut bytes = 0;
            let mut cut = false;
            for row in conn.query_iter(sql)? {
                let row = raw_article(row?.unwrap(), temporal)?;
                bytes += row.text_bytes();
                rows.push(row);
                if bytes >= max_bytes {
                    // The rest of this result is read and dropped by the driver.
                    cut = true;
                    break;
                }
            }
            Ok((rows, cut))
        })?;
        self.rows_hint = if cut {
            rows.len() + rows.len() / 16 + 1
        } else {
            self.rows_hint.saturating_mul(2)
        };
        Ok(SourcePage {
            truncated: cut || rows.len() >= limit,
            rows,
        })
    }

    /// Smallest and largest id, `None` when the table is empty.
    pub fn id_bounds(&mut self) -> Result<Option<(i64, i64)>, MysqlSyncError> {
        let sql = self.bounds.clone();
        let bounds: Option<(Option<i64>, Option<i64>)> = self.read(|conn| conn.query_first(sql))?;
        Ok(bounds.and_then(|(low, high)| low.zip(high)))
    }

    /// The TLS cipher of this session (`Ssl_cipher`), `None` in the clear; for tests.
    #[doc(hidden)]
    pub fn tls_cipher(&mut self) -> Result<Option<String>, MysqlSyncError> {
        let row: Option<(String, String)> =
            self.read(|conn| conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))?;
        Ok(row.map(|(_, cipher)| cipher).filter(|c| !c.is_empty()))
    }

    /// Whether this session's transactions are read-only, for tests (`transaction_read_only` on
    /// MySQL 8 and MariaDB 11.1+, `tx_read_only` before).
    #[doc(hidden)]
    pub fn is_read_only(&mut self) -> Result<bool, MysqlSyncError> {
        let value: Option<i64> = self
            .read(|conn| conn.query_first("SELECT @@SESSION.transaction_read_only"))
            .or_else(|_| self.read(|conn| conn.query_first("SELECT @@SESSION.tx_read_only")))?;
        Ok(value == Some(1))
    }
}

/// A row of the page query: id, title, content, created_at, updated_at as the server wrote them.
fn raw_article(values: Vec<Value>, temporal: [bool; 2]) -> mysql::Result<RawArticle> {
    let mut values = values.into_iter();
    let mut next = || match values.next() {
        Some(Value::Bytes(bytes)) => Some(bytes),
        Some(Value::NULL) | None => None,
        // The text protocol gives bytes; anything else is written as the server would.
        Some(other) => Some(other.as_sql(true).into_bytes()),
    };
    let id = next();
    let id = id
        .as_deref()
        .and_then(|id| std::str::from_utf8(id).ok()?.parse::<i64>().ok())
        .ok_or_else(|| mysql::Error::FromValueError(id.map_or(Value::NULL, Value::Bytes)))?;
    let fields = [next(), next(), next(), next()];
    let mut row = RawArticle::from_bytes(id, fields);
    for (stamp, temporal) in [&mut row.created_at, &mut row.updated_at]
        .into_iter()
        .zip(temporal)
    {
        if !temporal {
            continue;
        }
        // MySQL's zero date is how legacy schemas say "no date"; anything else as SQLite would
        // store it.
        *stamp = stamp
            .take()
            .filter(|text| !text.starts_with("0000-00-00"))
            .map(stored_time_text);
    }
    Ok(row)
}
