//! A MySQL or MariaDB database written by sync: `articles` and `sync_state` (created when
//! missing), rows and state in one transaction per batch, with the store rules of every other
//! engine ([`BulkChanges::decide`]).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use mysql::prelude::Queryable;
use mysql::{Conn, TxOpts, Value};

use super::{connect, describe, is_lost, redacted, to_store_error};
use crate::db::destination::SyncDestination;
use crate::db::error::SyncDbError;
use crate::db::models::{Article, Timestamp};
use crate::db::sqlite::sync_state::StateEntry;
use crate::db::write::{BulkChanges, BulkOutcome, Decided};
use crate::db::StoreError;

/// The tables sync writes, as it creates them: text in utf8mb4 compared byte for byte (as every
/// other engine compares titles), timestamps in UTC to the microsecond.
const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS articles ( \
       id BIGINT NOT NULL PRIMARY KEY, \
       title VARCHAR(200) NOT NULL, \
       content LONGTEXT NOT NULL, \
       created_at DATETIME(6) NOT NULL, \
       updated_at DATETIME(6) NOT NULL, \
       KEY articles_updated_at (updated_at), \
       CONSTRAINT articles_title_not_empty CHECK (title <> '') \
     ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS sync_state ( \
       id BIGINT NOT NULL PRIMARY KEY, \
       digest BIGINT NOT NULL \
     ) ENGINE = InnoDB",
];

/// The columns sync writes to `articles`.
const COLUMNS: [&str; 5] = ["id", "title", "content", "created_at", "updated_at"];

/// Strict mode: a value that does not fit is an error, never silently cut.
const WRITER_SESSION: &str =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'";
const READER_SESSION: &str = "SET SESSION TRANSACTION READ ONLY";

/// Rows (or ids) per statement.
const ROWS_PER_STATEMENT: usize = 1000;
/// Text per `INSERT` statement, well under the smallest default `max_allowed_packet` (16 MiB on
/// MariaDB).
const BYTES_PER_STATEMENT: usize = 4 << 20;

/// A MySQL database written by sync (or read, for a dry run). A connection found lost is
/// replaced at the next call.
pub struct MysqlDestination {
    conn: Conn,
    url: String,
    name: String,
    read_only: bool,
    lost: bool,
}

impl MysqlDestination {
    /// Connects to `url`, creates `articles` and `sync_state` when missing, and checks that an
    /// `articles` already there has the columns sync writes.
    pub fn open(url: &str) -> Result<Self, SyncDbError> {
        let name = redacted(url);
        let mut conn = connect(url, "destination", &name, &[WRITER_SESSION])?;
        let open = |reason: String| SyncDbError::Open {
            role: "destination",
            name: name.clone(),
            reason,
        };
        for statement in SCHEMA {
            conn.query_drop(statement)
                .map_err(|e| open(format!("cannot create tables: {}", describe(&e))))?;
        }
        let present: Vec<String> = conn
            .query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'articles'",
            )
            .map_err(|e| open(describe(&e)))?;
        let missing: Vec<&str> = COLUMNS
            .into_iter()
            .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
            .collect();
        if !missing.is_empty() {
            return Err(open(format!(
                "its `articles` table has no column {}; sync writes {}",
                missing.join(", "),
                COLUMNS.join(", ")
            )));
        }
        Ok(Self {
            conn,
            url: url.to_owned(),
            name,
            read_only: false,
            lost: false,
        })
    }

    /// Connects to `url` for a dry run: a read-only session, nothing created.
    pub fn open_read_only(url: &str) -> Result<Self, SyncDbError> {
        let name = redacted(url);
        let conn = connect(url, "destination", &name, &[READER_SESSION])?;
        Ok(Self {
            conn,
            url: url.to_owned(),
            name,
            read_only: true,
            lost: false,
        })
    }

    /// Runs `body` on the connection, first replacing one found lost.
    fn run<T>(
        &mut self,
        body: impl FnOnce(&mut Conn) -> mysql::Result<T>,
    ) -> Result<T, StoreError> {
        if self.lost {
            let session = if self.read_only {
                READER_SESSION
            } else {
                WRITER_SESSION
            };
            self.conn = connect(&self.url, "destination", &self.name, &[session])
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            self.lost = false;
        }
        body(&mut self.conn).map_err(|e| {
            self.lost = is_lost(&e);
            to_store_error(&e)
        })
    }
}

impl SyncDestination for MysqlDestination {
    fn name(&self) -> &str {
        &self.name
    }

    fn has_table(&mut self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.run(|conn| {
            let found: Option<i64> = conn.exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (name,),
            )?;
            Ok(found.unwrap_or(0) > 0)
        })
    }

    fn state_count(&mut self) -> Result<i64, StoreError> {
        self.run(|conn| {
            let count: Option<i64> = conn.query_first("SELECT COUNT(*) FROM sync_state")?;
            Ok(count.unwrap_or(0))
        })
    }

    fn state_reset_from_articles(&mut self) -> Result<usize, StoreError> {
        self.run(|conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            tx.query_drop("DELETE FROM sync_state")?;
            tx.query_drop("INSERT INTO sync_state (id, digest) SELECT id, 0 FROM articles")?;
            let marked = tx.affected_rows();
            tx.commit()?;
            Ok(usize::try_from(marked).unwrap_or(usize::MAX))
        })
    }

    fn state_page(&mut self, after: i64, limit: i64) -> Result<Vec<StateEntry>, StoreError> {
        self.run(|conn| {
            conn.exec_map(
                "SELECT id, digest FROM sync_state WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
                |(id, digest)| StateEntry { id, digest },
            )
        })
    }

    fn unknown_state_page(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StateEntry>, StoreError> {
        self.run(|conn| {
            conn.exec_map(
                "SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
                |id| StateEntry { id, digest: 0 },
            )
        })
    }

    fn apply(
        &mut self,
        changes: &BulkChanges,
        put: &[StateEntry],
        forget: &[i64],
        now: Timestamp,
    ) -> Result<BulkOutcome, StoreError> {
        self.run(|conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let outcome = apply_in_transaction(&mut tx, changes, now)?;
            for chunk in put.chunks(ROWS_PER_STATEMENT) {
                let params: Vec<Value> = chunk
                    .iter()
                    .flat_map(|e| [Value::Int(e.id), Value::Int(e.digest)])
                    .collect();
                tx.exec_drop(
                    format!(
                        "INSERT INTO sync_state (id, digest) VALUES {} \
                         ON DUPLICATE KEY UPDATE digest = VALUES(digest)",
                        placeholders(chunk.len(), 2)
                    ),
                    params,
                )?;
            }
            delete_ids(&mut tx, "sync_state", forget)?;
            tx.commit()?;
            Ok(outcome)
        })
    }
}

/// `(?, ?), (?, ?)`: `rows` groups of `columns` placeholders (one group without parentheses).
fn placeholders(rows: usize, columns: usize) -> String {
    let group = vec!["?"; columns].join(", ");
    if columns == 1 {
        return vec![group; rows].join(", ");
    }
    vec![format!("({group})"); rows].join(", ")
}

fn ids(ids: &[i64]) -> Vec<Value> {
    ids.iter().map(|&id| Value::Int(id)).collect()
}

/// Deletes the rows of `table` (ours: `articles`, `sync_state`) with these ids; how many there were.
fn delete_ids(tx: &mut mysql::Transaction<'_>, table: &str, ids: &[i64]) -> mysql::Result<u64> {
    let mut deleted = 0;
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        tx.exec_drop(
            format!(
                "DELETE FROM {table} WHERE id IN ({})",
                placeholders(chunk.len(), 1)
            ),
            self::ids(chunk),
        )?;
        deleted += tx.affected_rows();
    }
    Ok(deleted)
}

/// A timestamp as a `DATETIME(6)` parameter.
fn datetime(at: NaiveDateTime) -> Value {
    Value::Date(
        u16::try_from(at.year()).unwrap_or(0),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
        at.nanosecond() / 1000,
    )
}

/// A `DATETIME` value read back.
fn from_datetime(value: &Value) -> Option<NaiveDateTime> {
    match *value {
        Value::Date(year, month, day, hour, minute, second, micros) => {
            NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day))?
                .and_hms_micro_opt(
                    u32::from(hour),
                    u32::from(minute),
                    u32::from(second),
                    micros,
                )
        }
        _ => None,
    }
}

/// Locks and reads the rows the batch names, decides each upsert as every store does, writes
/// new and changed rows with `INSERT … ON DUPLICATE KEY UPDATE`, deletes.
fn apply_in_transaction(
    tx: &mut mysql::Transaction<'_>,
    changes: &BulkChanges,
    now: Timestamp,
) -> mysql::Result<BulkOutcome> {
    let named = changes.named_ids();
    let mut current = HashMap::new();
    for chunk in named.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<mysql::Row> = tx.exec(
            format!(
                "SELECT id, title, content, created_at, updated_at FROM articles \
                 WHERE id IN ({}) ORDER BY id FOR UPDATE",
                placeholders(chunk.len(), 1)
            ),
            ids(chunk),
        )?;
        for row in rows {
            let article = stored_article(row)?;
            current.insert(article.id, article);
        }
    }
    let decision = changes.decide(current, now);
    let mut outcome = decision.outcome;
    let rows: Vec<&Decided<'_>> = decision.changed.iter().chain(&decision.fresh).collect();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len()
            && end - start < ROWS_PER_STATEMENT
            && (end == start || bytes < BYTES_PER_STATEMENT)
        {
            bytes += rows[end].row.title.as_str().len() + rows[end].row.content.as_str().len();
            end += 1;
        }
        let params: Vec<Value> = rows[start..end]
            .iter()
            .flat_map(|d| {
                [
                    Value::Int(d.row.id.0),
                    Value::Bytes(d.row.title.as_str().as_bytes().to_vec()),
                    Value::Bytes(d.row.content.as_str().as_bytes().to_vec()),
                    datetime(d.created_at),
                    datetime(d.updated_at),
                ]
            })
            .collect();
        tx.exec_drop(
            format!(
                "INSERT INTO articles (id, title, content, created_at, updated_at) VALUES {} \
                 ON DUPLICATE KEY UPDATE title = VALUES(title), content = VALUES(content), \
                 created_at = VALUES(created_at), updated_at = VALUES(updated_at)",
                placeholders(end - start, 5)
            ),
            params,
        )?;
        start = end;
    }
    outcome.inserted = decision.fresh.len() as u64;
    let delete: Vec<i64> = changes.delete().iter().map(|id| id.0).collect();
    outcome.deleted = delete_ids(tx, "articles", &delete)?;
    Ok(outcome)
}

/// A row of `articles` as the binary protocol gives it.
fn stored_article(row: mysql::Row) -> mysql::Result<Article> {
    let bad = |value: &Value| mysql::Error::FromValueError(value.clone());
    let text = |value: &Value| match value {
        Value::Bytes(bytes) => String::from_utf8(bytes.clone()).map_err(|_| bad(value)),
        other => Err(bad(other)),
    };
    let mut values = row.unwrap().into_iter();
    let mut next = || values.next().unwrap_or(Value::NULL);
    let (id, title, content, created_at, updated_at) = (next(), next(), next(), next(), next());
    Ok(Article {
        id: match id {
            Value::Int(id) => id,
            Value::UInt(id) => i64::try_from(id).map_err(|_| bad(&Value::UInt(id)))?,
            other => return Err(bad(&other)),
        },
        title: text(&title)?,
        content: text(&content)?,
        created_at: from_datetime(&created_at).ok_or_else(|| bad(&created_at))?,
        updated_at: from_datetime(&updated_at).ok_or_else(|| bad(&updated_at))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_groups() {
        assert_eq!(placeholders(3, 1), "?, ?, ?");
        assert_eq!(placeholders(2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn datetimes_round_trip_to_the_microsecond() {
        let at = NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_micro_opt(23, 59, 58, 123_456)
            .unwrap();
        assert_eq!(from_datetime(&datetime(at)), Some(at));
    }
}
