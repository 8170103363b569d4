//! Batches of upserts and deletes that keep ids and timestamps (`POST /articles/bulk`, sync):
//! the rules and counts of the SQLite store's `db::bulk::apply`, in one transaction.
//!
//! The transaction first locks every row the batch names (`SELECT … FOR UPDATE`, in id order, so
//! two batches over the same rows queue instead of deadlocking), decides each upsert against the
//! locked row as SQLite does (insert, update, unchanged, stale), then writes with one statement
//! per kind and chunk of rows (`unnest` of arrays: no round trip per row), moves the kept count,
//! and moves the id sequence past the new ids. A row that another writer inserted after the lock
//! (an id that was absent, so nothing was locked) makes the insert fall short: the transaction is
//! rolled back and the batch runs again ([`Fail::Conflict`]).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp as SqlTimestamp};

use super::list::Row;
use super::{fold_title, in_transaction, Fail};
use crate::db::models::{Article, Timestamp};
use crate::db::write::{BulkChanges, BulkOutcome, Decided};

/// Rows per statement: large enough that a batch is a few statements, small enough that one
/// statement's parameters stay a few MB.
const WRITE_CHUNK: usize = 5_000;

/// Applies `changes` at `now`, all or nothing.
pub(super) fn apply(
    conn: &mut PgConnection,
    changes: &BulkChanges,
    now: Timestamp,
) -> Result<BulkOutcome, Fail> {
    if changes.is_empty() {
        return Ok(BulkOutcome::default());
    }
    in_transaction(conn, |conn| apply_in_transaction(conn, changes, now))
}

/// The columns of rows to write, one array each (`unnest` turns them back into rows).
#[derive(Default)]
struct Columns<'a> {
    id: Vec<i64>,
    title: Vec<&'a str>,
    content: Vec<&'a str>,
    title_folded: Vec<String>,
    created_at: Vec<NaiveDateTime>,
    updated_at: Vec<NaiveDateTime>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, decided: &Decided<'a>) {
        let row = decided.row;
        self.id.push(row.id.0);
        self.title.push(row.title.as_str());
        self.content.push(row.content.as_str());
        self.title_folded.push(fold_title(row.title.as_str()));
        self.created_at.push(decided.created_at);
        self.updated_at.push(decided.updated_at);
    }

    fn len(&self) -> usize {
        self.id.len()
    }

    /// Runs `sql` (whose `$1`…`$6` are the six columns as arrays) once per chunk of rows;
    /// returns the rows it affected in all.
    fn execute(&self, conn: &mut PgConnection, sql: &str) -> QueryResult<usize> {
        let mut affected = 0;
        for start in (0..self.len()).step_by(WRITE_CHUNK) {
            let end = (start + WRITE_CHUNK).min(self.len());
            affected += diesel::sql_query(sql)
                .bind::<Array<BigInt>, _>(&self.id[start..end])
                .bind::<Array<Text>, _>(&self.title[start..end])
                .bind::<Array<Text>, _>(&self.content[start..end])
                .bind::<Array<Text>, _>(&self.title_folded[start..end])
                .bind::<Array<SqlTimestamp>, _>(&self.created_at[start..end])
                .bind::<Array<SqlTimestamp>, _>(&self.updated_at[start..end])
                .execute(conn)?;
        }
        Ok(affected)
    }
}

const ROWS: &str = "unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
                    $5::timestamp[], $6::timestamp[]) \
                    AS u(id, title, content, title_folded, created_at, updated_at)";

pub(super) fn apply_in_transaction(
    conn: &mut PgConnection,
    changes: &BulkChanges,
    now: Timestamp,
) -> Result<BulkOutcome, Fail> {
    let named = changes.named_ids();
    let current = lock_rows(conn, &named)?;

    let decision = changes.decide(current, now);
    let mut outcome = decision.outcome;
    let mut changed = Columns::default();
    for row in &decision.changed {
        changed.push(row);
    }
    changed.execute(
        conn,
        &format!(
            "UPDATE articles AS a SET title = u.title, content = u.content, \
             title_folded = u.title_folded, created_at = u.created_at, updated_at = u.updated_at \
             FROM {ROWS} WHERE a.id = u.id"
        ),
    )?;

    let mut new = Columns::default();
    for row in &decision.fresh {
        new.push(row);
    }
    let inserted = new.execute(
        conn,
        &format!(
            "INSERT INTO articles (id, title, content, title_folded, created_at, updated_at) \
             SELECT u.id, u.title, u.content, u.title_folded, u.created_at, u.updated_at \
             FROM {ROWS} ON CONFLICT (id) DO NOTHING"
        ),
    )?;
    if inserted < new.len() {
        return Err(Fail::Conflict(
            "another writer created articles with the ids of this batch",
        ));
    }
    outcome.inserted = inserted as u64;

    let delete: Vec<i64> = changes.delete().iter().map(|id| id.0).collect();
    let mut deleted = 0;
    for chunk in delete.chunks(WRITE_CHUNK) {
        deleted += diesel::sql_query("DELETE FROM articles WHERE id = ANY($1)")
            .bind::<Array<BigInt>, _>(chunk)
            .execute(conn)?;
    }
    outcome.deleted = deleted as u64;

    let delta = inserted as i64 - deleted as i64;
    if delta != 0 {
        diesel::sql_query("UPDATE article_stats SET articles = articles + $1 WHERE only_row = 1")
            .bind::<BigInt, _>(delta)
            .execute(conn)?;
    }
    if let Some(last) = decision.fresh.last() {
        advance_ids(conn, last.row.id.0)?;
    }
    Ok(outcome)
}

/// A row of a first load, as `COPY` writes it.
#[derive(Insertable)]
#[diesel(table_name = super::schema::articles, treat_none_as_default_value = false)]
struct FreshRow<'a> {
    id: i64,
    title: &'a str,
    content: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    title_folded: String,
}

/// Writes the upserts of `changes`, none of which exists yet (sync's first load into an empty
/// database), with one binary `COPY`: no row read or locked first, no statement per chunk. A row
/// another writer created meanwhile makes the `COPY` fail; that is a [`Fail::Conflict`], and the
/// caller applies the batch the usual way. Deletes are not this path's.
pub(super) fn copy_fresh(
    conn: &mut PgConnection,
    changes: &BulkChanges,
    now: Timestamp,
) -> Result<BulkOutcome, Fail> {
    let decision = changes.decide(HashMap::new(), now);
    let rows: Vec<FreshRow<'_>> = decision
        .fresh
        .iter()
        .map(|d| FreshRow {
            id: d.row.id.0,
            title: d.row.title.as_str(),
            content: d.row.content.as_str(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            title_folded: fold_title(d.row.title.as_str()),
        })
        .collect();
    let inserted = match diesel::copy_from(super::schema::articles::table)
        .from_insertable(rows)
        .execute(conn)
    {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            return Err(Fail::Conflict(
                "another writer created articles with the ids of this batch",
            ))
        }
        result => result?,
    };
    if inserted > 0 {
        diesel::sql_query("UPDATE article_stats SET articles = articles + $1 WHERE only_row = 1")
            .bind::<BigInt, _>(inserted as i64)
            .execute(conn)?;
    }
    if let Some(last) = decision.fresh.last() {
        advance_ids(conn, last.row.id.0)?;
    }
    Ok(BulkOutcome {
        inserted: inserted as u64,
        ..BulkOutcome::default()
    })
}

/// Locks the rows of `ids` (sorted) that exist, and reads them.
fn lock_rows(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<HashMap<i64, Article>> {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT id, title, content, created_at, updated_at FROM articles \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind::<Array<BigInt>, _>(ids)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(Article::from)
        .map(|row| (row.id, row))
        .collect())
}

/// Moves the id sequence to `id` unless it is past it already, so that the next id the database
/// gives is larger than every id this batch wrote. `setval` is not transactional and replicas may
/// race here (one may set the sequence back below an id another just handed out); a create that
/// then meets a taken id moves the sequence past the table's largest id and tries again
/// (`write::create`).
fn advance_ids(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT setval('articles_id_seq', $1) FROM articles_id_seq \
         WHERE last_value < $1 OR (last_value = $1 AND NOT is_called)",
    )
    .bind::<BigInt, _>(id)
    .execute(conn)
    .map(drop)
}
