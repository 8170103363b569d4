//! A MySQL or MariaDB table read as a sync or verify source: a `READ ONLY` session, keyset pages
//! in id order over the text protocol (every value as the server writes it, so legacy column
//! types need no mapping of ours: `DATETIME`/`TIMESTAMP` as `2024-01-01 12:00:00.000000`, Unix
//! seconds as digits, text as its bytes, checked for UTF-8 here). On MariaDB 10.8+ every row
//! also carries CRC-32 and CRC-32C checksums of its texts, so that a rerun reads light pages
//! (ids, checksums, timestamps) and only the changed rows in full.

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::{connect, describe, is_lost, quote_ident, quote_table, redacted};
use crate::db::error::SyncDbError;
use crate::db::source_table::{next_rows_hint, stored_time_text, Column, SourceTable};
use crate::db::sqlite::sync_state::{Fingerprint, LightRow, RawArticle, SourcePage};

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
    /// The light page query up to `WHERE id >` ([`Self::light_page`]); `None` on a server
    /// without `CRC32C` (MySQL; MariaDB has it since 10.8).
    light: Option<String>,
    /// The full rows of a list of ids, up to `IN (`.
    by_id: String,
    /// Which of created_at and updated_at are `DATETIME`/`TIMESTAMP` columns.
    temporal: [bool; 2],
    /// Rows to ask for next ([`next_rows_hint`]).
    rows_hint: usize,
}

impl MysqlSource {
    /// Connects to `url` in a read-only session and finds the columns of `table`; `role` names it
    /// in errors.
    pub fn open(url: &str, role: &'static str, table: &SourceTable) -> Result<Self, SyncDbError> {
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
            light: None,
            by_id: String::new(),
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
        let columns = table.resolve_on_server(&present, role, &source.name)?;
        if !INTEGER_TYPES.contains(&columns.id.kind.as_str()) {
            return Err(SyncDbError::IdNotInteger {
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
        let (title, content) = (
            quote_ident(&columns.title.name),
            quote_ident(&columns.content.name),
        );
        let stamps = format!(
            "{}, {}",
            stamp(&columns.created_at),
            stamp(&columns.updated_at)
        );
        // 64 bits of checksum of each text's bytes as stored (CRC-32 and CRC-32C, two
        // polynomials; neither converts the character set): what a rerun compares instead of
        // the text.
        let crc =
            |column: &str| format!("CAST((CRC32C({column}) << 32) | CRC32({column}) AS SIGNED)");
        let has_crc32c = source.read(|conn| conn.query_drop("DO CRC32C('')")).is_ok();
        let fingerprints = if has_crc32c {
            format!(", {}, {}", crc(&title), crc(&content))
        } else {
            String::new()
        };
        let full = format!("SELECT {id}, {title}, {content}, {stamps}{fingerprints} FROM {from}");
        source.select = format!("{full} WHERE {id} > ");
        source.by_id = format!("{full} WHERE {id} IN (");
        source.light = has_crc32c.then(|| {
            format!(
                "SELECT {id}, {stamps}{fingerprints}, \
                 COALESCE(LENGTH({title}), 0) + COALESCE(LENGTH({content}), 0) \
                 FROM {from} WHERE {id} > "
            )
        });
        source.order = format!(" ORDER BY {id} LIMIT ");
        source.bounds = format!("SELECT MIN({id}), MAX({id}) FROM {from}");
        source.temporal = [
            is_temporal(&columns.created_at),
            is_temporal(&columns.updated_at),
        ];
        Ok(source)
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> Result<Self, SyncDbError> {
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
    ) -> Result<T, SyncDbError> {
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
            SyncDbError::Read {
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
    ) -> Result<SourcePage, SyncDbError> {
        let limit = max_rows.min(self.rows_hint).max(1);
        // Both values are integers of ours: nothing of the user's is spliced into the SQL.
        let sql = format!("{}{after}{}{limit}", self.select, self.order);
        let (temporal, fingerprints) = (self.temporal, self.light.is_some());
        let (rows, cut) = self.read(|conn| {
            let mut rows = Vec::new();
            let mut bytes = 0;
            let mut cut = false;
            for row in conn.query_iter(sql)? {
                let row = raw_article(row?.unwrap(), temporal, fingerprints)?;
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
        self.rows_hint = next_rows_hint(cut, rows.len(), self.rows_hint);
        Ok(SourcePage {
            truncated: cut || rows.len() >= limit,
            rows,
        })
    }

    /// Whether this server checksums text for reruns ([`Self::light_page`]).
    pub fn has_light_pages(&self) -> bool {
        self.light.is_some()
    }

    /// Up to `limit` rows with `id > after` in id order, without their text, and whether more
    /// may follow.
    pub fn light_page(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<LightRow>, bool), SyncDbError> {
        let Some(light) = &self.light else {
            return Ok((Vec::new(), false));
        };
        let limit = limit.max(1);
        let sql = format!("{light}{after}{}{limit}", self.order);
        let temporal = self.temporal;
        let rows = self.read(|conn| {
            conn.query_iter(sql)?
                .map(|row| light_row(row?.unwrap(), temporal))
                .collect::<mysql::Result<Vec<LightRow>>>()
        })?;
        let truncated = rows.len() >= limit;
        Ok((rows, truncated))
    }

    /// The rows of `ids` (sorted) that exist, in id order.
    pub fn rows_by_id(&mut self, ids: &[i64]) -> Result<Vec<RawArticle>, SyncDbError> {
        let mut rows = Vec::with_capacity(ids.len());
        let (temporal, fingerprints) = (self.temporal, self.light.is_some());
        for chunk in ids.chunks(1000) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            // Integers of ours only.
            let sql = format!("{}{}) ORDER BY 1", self.by_id, list.join(","));
            let page = self.read(|conn| {
                conn.query_iter(sql)?
                    .map(|row| raw_article(row?.unwrap(), temporal, fingerprints))
                    .collect::<mysql::Result<Vec<RawArticle>>>()
            })?;
            rows.extend(page);
        }
        Ok(rows)
    }

    /// Smallest and largest id, `None` when the table is empty.
    pub fn id_bounds(&mut self) -> Result<Option<(i64, i64)>, SyncDbError> {
        let sql = self.bounds.clone();
        let bounds: Option<(Option<i64>, Option<i64>)> = self.read(|conn| conn.query_first(sql))?;
        Ok(bounds.and_then(|(low, high)| low.zip(high)))
    }

    /// The TLS cipher of this session (`Ssl_cipher`), `None` in the clear; for tests.
    #[doc(hidden)]
    pub fn tls_cipher(&mut self) -> Result<Option<String>, SyncDbError> {
        let row: Option<(String, String)> =
            self.read(|conn| conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))?;
        Ok(row.map(|(_, cipher)| cipher).filter(|c| !c.is_empty()))
    }

    /// Whether this session's transactions are read-only, for tests (`transaction_read_only` on
    /// MySQL 8 and MariaDB 11.1+, `tx_read_only` before).
    #[doc(hidden)]
    pub fn is_read_only(&mut self) -> Result<bool, SyncDbError> {
        let value: Option<i64> = self
            .read(|conn| conn.query_first("SELECT @@SESSION.transaction_read_only"))
            .or_else(|_| self.read(|conn| conn.query_first("SELECT @@SESSION.tx_read_only")))?;
        Ok(value == Some(1))
    }
}

/// The next value of a text-protocol row as bytes (`None` for NULL).
fn next_bytes(values: &mut std::vec::IntoIter<Value>) -> Option<Vec<u8>> {
    match values.next() {
        Some(Value::Bytes(bytes)) => Some(bytes),
        Some(Value::NULL) | None => None,
        // The text protocol gives bytes; anything else is written as the server would.
        Some(other) => Some(other.as_sql(true).into_bytes()),
    }
}

/// The next value as a 64-bit integer.
fn next_integer(values: &mut std::vec::IntoIter<Value>) -> mysql::Result<Option<i64>> {
    let Some(bytes) = next_bytes(values) else {
        return Ok(None);
    };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .map(Some)
        .ok_or(mysql::Error::FromValueError(Value::Bytes(bytes)))
}

/// A timestamp column's text as sync reads it: `DATETIME` and `TIMESTAMP` as SQLite stores ours,
/// MySQL's zero date as no date.
fn stamp_text(text: Option<String>, temporal: bool) -> Option<String> {
    if !temporal {
        return text;
    }
    text.filter(|text| !text.starts_with("0000-00-00"))
        .map(stored_time_text)
}

fn fingerprint(values: &mut std::vec::IntoIter<Value>) -> mysql::Result<Option<Fingerprint>> {
    let (title, content) = (next_integer(values)?, next_integer(values)?);
    Ok(title
        .zip(content)
        .map(|(title, content)| Fingerprint { title, content }))
}

/// A row of the page query: id, title, content, created_at, updated_at as the server wrote them,
/// then (with `fingerprints`) the checksums of title and content.
fn raw_article(
    values: Vec<Value>,
    temporal: [bool; 2],
    fingerprints: bool,
) -> mysql::Result<RawArticle> {
    let mut values = values.into_iter();
    let id = next_integer(&mut values)?.ok_or(mysql::Error::FromValueError(Value::NULL))?;
    let fields = std::array::from_fn(|_| next_bytes(&mut values));
    let mut row = RawArticle::from_bytes(id, fields);
    row.created_at = stamp_text(row.created_at.take(), temporal[0]);
    row.updated_at = stamp_text(row.updated_at.take(), temporal[1]);
    if fingerprints {
        row.fingerprint = fingerprint(&mut values)?;
    }
    Ok(row)
}

/// A row of the light query: id, created_at, updated_at, the checksums, the bytes of text.
fn light_row(values: Vec<Value>, temporal: [bool; 2]) -> mysql::Result<LightRow> {
    let mut values = values.into_iter();
    let id = next_integer(&mut values)?.ok_or(mysql::Error::FromValueError(Value::NULL))?;
    let mut text = || next_bytes(&mut values).map(|b| String::from_utf8_lossy(&b).into_owned());
    let (created_at, updated_at) = (text(), text());
    let fingerprint = fingerprint(&mut values)?;
    let bytes = next_integer(&mut values)?.unwrap_or(0);
    Ok(LightRow {
        id,
        fingerprint,
        created_at: stamp_text(created_at, temporal[0]),
        updated_at: stamp_text(updated_at, temporal[1]),
        text_bytes: usize::try_from(bytes).unwrap_or(0),
    })
}
