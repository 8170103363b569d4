//! Single-article writes (create, update, delete, probe), each one statement in the common case,
//! with the outcomes, errors and timestamps of the SQLite writer (`db::writer::apply`).
//!
//! Where SQLite's single writer made a read-compare-write safe by being alone, these statements
//! carry the comparison themselves, so replicas writing at once cannot both win:
//! - an Idempotency-Key is claimed by `INSERT … ON CONFLICT (key)` in the statement that creates
//!   the article (a second claimant waits for the first to commit, then sees its row and replays
//!   it); an expired key is taken over by the same statement (`DO UPDATE … WHERE` it expired);
//! - `If-Match` with versions reads the row, compares its version tag (a hash computed here, not
//!   in SQL), then writes only `WHERE` the row is still exactly what was read: a row changed in
//!   between fails that comparison, and the write is decided again from the new row;
//! - the kept count moves in the statement that inserts or deletes (a data-modifying CTE).

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp as SqlTimestamp};

use super::list::{self, Count, Row};
use super::{bulk, fold_title, Fail};
use crate::db::error::StoreError;
use crate::db::models::{Article, ArticleId, Content, Timestamp, Title};
use crate::db::write::{IdempotencyClaim, Precondition, WriteError, WriteOp, WriteOutcome};

/// Times a precondition is decided again because the row changed between its read and its write
/// (each time another writer won); then the write is reported busy.
const PRECONDITION_ROUNDS: usize = 8;

/// Carries out `op` at `now`. `attempt` counts the runs of this op that met a
/// [`Fail::Conflict`] before.
pub(super) fn apply(
    conn: &mut PgConnection,
    op: &WriteOp,
    now: Timestamp,
    attempt: u32,
) -> Result<WriteOutcome, Fail> {
    match op {
        WriteOp::Create {
            title,
            content,
            idempotency,
        } => {
            if attempt > 0 {
                advance_ids_past_rows(conn)?;
            }
            create(conn, title, content, idempotency.as_ref(), now)
        }
        WriteOp::Update {
            id,
            title,
            content,
            precondition,
        } => update(
            conn,
            *id,
            title.as_ref(),
            content.as_ref(),
            precondition,
            now,
        ),
        WriteOp::Delete { id, precondition } => delete(conn, *id, precondition),
        WriteOp::Bulk(changes) => Ok(WriteOutcome::Bulk(bulk::apply(conn, changes, now)?)),
        WriteOp::Probe => probe(conn),
    }
}

/// The columns an article is read as.
const RETURNING: &str = "RETURNING id, title, content, created_at, updated_at";

/// Whether `error` is the primary key of `articles` refusing an id (a bulk of explicit ids took
/// the id the sequence gave: [`advance_ids_past_rows`] and a new attempt resolve it).
fn id_taken(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("articles_pkey")
    )
}

fn create(
    conn: &mut PgConnection,
    title: &Title,
    content: &Content,
    idempotency: Option<&IdempotencyClaim>,
    now: Timestamp,
) -> Result<WriteOutcome, Fail> {
    let folded = fold_title(title.as_str());
    let created = match idempotency {
        None => diesel::sql_query(format!(
            "WITH article AS ( \
                 INSERT INTO articles (title, content, title_folded, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) {RETURNING}), \
             counted AS ( \
                 UPDATE article_stats SET articles = articles + 1 WHERE only_row = 1) \
             SELECT * FROM article"
        ))
        .bind::<Text, _>(title.as_str())
        .bind::<Text, _>(content.as_str())
        .bind::<Text, _>(&folded)
        .bind::<SqlTimestamp, _>(now.naive())
        .get_result::<Row>(conn)
        .optional(),
        // The key's row and the article in one statement: the claim takes the key (a new one, or
        // one whose TTL has run out) and the article is inserted only when it did. A concurrent
        // claim of the same key waits here until the first commits, then claims nothing.
        Some(claim) => diesel::sql_query(format!(
            "WITH claim AS ( \
                 INSERT INTO idempotency_keys AS k (key, request_hash, article_id, created_at) \
                 VALUES ($5, $6, nextval('articles_id_seq'), $4) \
                 ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
                     article_id = EXCLUDED.article_id, created_at = EXCLUDED.created_at \
                 WHERE k.created_at <= $7 \
                 RETURNING article_id), \
             article AS ( \
                 INSERT INTO articles (id, title, content, title_folded, created_at, updated_at) \
                 SELECT article_id, $1, $2, $3, $4, $4 FROM claim {RETURNING}), \
             counted AS ( \
                 UPDATE article_stats SET articles = articles + 1 \
                 WHERE only_row = 1 AND EXISTS (SELECT FROM article)) \
             SELECT * FROM article"
        ))
        .bind::<Text, _>(title.as_str())
        .bind::<Text, _>(content.as_str())
        .bind::<Text, _>(&folded)
        .bind::<SqlTimestamp, _>(now.naive())
        .bind::<Text, _>(&claim.key)
        .bind::<Text, _>(&claim.request_hash)
        .bind::<SqlTimestamp, _>(expired_at_or_before(now, claim))
        .get_result::<Row>(conn)
        .optional(),
    };
    let created = match created {
        Err(error) if id_taken(&error) => return Err(Fail::Conflict("article ids are taken")),
        other => other?.map(Article::from),
    };
    if let Some(article) = created {
        return Ok(WriteOutcome::Created {
            article,
            replayed: false,
        });
    }
    let claim = idempotency.expect("only a claim can create nothing");
    // Someone else holds the key (committed: the claim waited for it).
    let Some(seen) = find_key(conn, &claim.key)? else {
        // Purged or taken over since: claim again.
        return Err(Fail::Conflict("an Idempotency-Key changed hands"));
    };
    if seen.created_at <= expired_at_or_before(now, claim) {
        return Err(Fail::Conflict("an Idempotency-Key changed hands"));
    }
    if seen.request_hash != claim.request_hash {
        return Err(WriteError::IdempotencyKeyReused.into());
    }
    Ok(WriteOutcome::Created {
        article: Article {
            id: seen.article_id,
            title: title.as_str().to_owned(),
            content: content.as_str().to_owned(),
            created_at: seen.created_at,
            updated_at: seen.created_at,
        },
        replayed: true,
    })
}

/// A key first used at or before this instant has expired (SQLite's writer: a key is live while
/// `created_at + ttl > now`). Never before the year 1, which PostgreSQL's timestamps hold.
fn expired_at_or_before(now: Timestamp, claim: &IdempotencyClaim) -> NaiveDateTime {
    let floor = NaiveDate::from_ymd_opt(1, 1, 1)
        .expect("a date")
        .and_hms_opt(0, 0, 0)
        .expect("a time");
    TimeDelta::from_std(claim.ttl)
        .ok()
        .and_then(|ttl| now.naive().checked_sub_signed(ttl))
        .map_or(floor, |at| at.max(floor))
}

#[derive(QueryableByName)]
struct SeenKey {
    #[diesel(sql_type = Text)]
    request_hash: String,
    #[diesel(sql_type = BigInt)]
    article_id: i64,
    #[diesel(sql_type = SqlTimestamp)]
    created_at: NaiveDateTime,
}

fn find_key(conn: &mut PgConnection, key: &str) -> QueryResult<Option<SeenKey>> {
    diesel::sql_query(
        "SELECT request_hash, article_id, created_at FROM idempotency_keys WHERE key = $1",
    )
    .bind::<Text, _>(key)
    .get_result(conn)
    .optional()
}

/// Moves the id sequence past the largest id in the table, unless it is there already (after a
/// create met an id that a bulk of explicit ids wrote while the sequence was behind; see
/// `bulk::advance_ids`).
fn advance_ids_past_rows(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT setval('articles_id_seq', m.id) \
         FROM (SELECT max(id) AS id FROM articles) m, articles_id_seq s \
         WHERE m.id > s.last_value OR (m.id = s.last_value AND NOT s.is_called)",
    )
    .execute(conn)
    .map(drop)
}

/// The condition that the row is still `current`, every column compared (so that the version
/// tag it had when it was read is still its tag), binding `$first` onwards.
fn unchanged_since(first: usize) -> String {
    format!(
        " AND title = ${} AND content = ${} AND created_at = ${} AND updated_at = ${}",
        first,
        first + 1,
        first + 2,
        first + 3
    )
}

fn update(
    conn: &mut PgConnection,
    id: ArticleId,
    title: Option<&Title>,
    content: Option<&Content>,
    precondition: &Precondition,
    now: Timestamp,
) -> Result<WriteOutcome, Fail> {
    let folded = title.map(|t| fold_title(t.as_str()));
    // updated_at always moves forward, even within one clock tick (as SQLite's writer).
    let set = "UPDATE articles SET title = COALESCE($2, title), \
               title_folded = COALESCE($3, title_folded), content = COALESCE($4, content), \
               updated_at = GREATEST($5, updated_at + interval '1 microsecond') WHERE id = $1";
    let base = |sql: String| {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(id.0)
            .bind::<Nullable<Text>, _>(title.map(Title::as_str))
            .bind::<Nullable<Text>, _>(folded.as_deref())
            .bind::<Nullable<Text>, _>(content.map(Content::as_str))
            .bind::<SqlTimestamp, _>(now.naive())
    };
    if !matches!(precondition, Precondition::VersionIn(_)) {
        return base(format!("{set} {RETURNING}"))
            .get_result::<Row>(conn)
            .optional()?
            .map(|row| WriteOutcome::Updated(row.into()))
            .ok_or(Fail::Write(WriteError::NotFound));
    }
    for _ in 0..PRECONDITION_ROUNDS {
        let current = list::get(conn, id)?.ok_or(Fail::Write(WriteError::NotFound))?;
        if !precondition.holds(&current) {
            return Err(WriteError::PreconditionFailed.into());
        }
        let written = base(format!("{set}{} {RETURNING}", unchanged_since(6)))
            .bind::<Text, _>(&current.title)
            .bind::<Text, _>(&current.content)
            .bind::<SqlTimestamp, _>(current.created_at)
            .bind::<SqlTimestamp, _>(current.updated_at)
            .get_result::<Row>(conn)
            .optional()?;
        if let Some(row) = written {
            return Ok(WriteOutcome::Updated(row.into()));
        }
    }
    Err(Fail::Write(WriteError::Store(StoreError::Busy(
        "the article kept changing while If-Match was checked".into(),
    ))))
}

fn delete(
    conn: &mut PgConnection,
    id: ArticleId,
    precondition: &Precondition,
) -> Result<WriteOutcome, Fail> {
    let sql = |condition: &str| {
        format!(
            "WITH gone AS (DELETE FROM articles WHERE id = $1{condition} RETURNING id), \
             counted AS ( \
                 UPDATE article_stats SET articles = articles - 1 \
                 WHERE only_row = 1 AND EXISTS (SELECT FROM gone)) \
             SELECT count(*) AS n FROM gone"
        )
    };
    if !matches!(precondition, Precondition::VersionIn(_)) {
        let deleted = diesel::sql_query(sql(""))
            .bind::<BigInt, _>(id.0)
            .get_result::<Count>(conn)?
            .n;
        return if deleted > 0 {
            Ok(WriteOutcome::Deleted)
        } else {
            Err(WriteError::NotFound.into())
        };
    }
    for _ in 0..PRECONDITION_ROUNDS {
        let current = list::get(conn, id)?.ok_or(Fail::Write(WriteError::NotFound))?;
        if !precondition.holds(&current) {
            return Err(WriteError::PreconditionFailed.into());
        }
        let deleted = diesel::sql_query(sql(&unchanged_since(2)))
            .bind::<BigInt, _>(id.0)
            .bind::<Text, _>(&current.title)
            .bind::<Text, _>(&current.content)
            .bind::<SqlTimestamp, _>(current.created_at)
            .bind::<SqlTimestamp, _>(current.updated_at)
            .get_result::<Count>(conn)?
            .n;
        if deleted > 0 {
            return Ok(WriteOutcome::Deleted);
        }
    }
    Err(Fail::Write(WriteError::Store(StoreError::Busy(
        "the article kept changing while If-Match was checked".into(),
    ))))
}

#[derive(QueryableByName)]
struct Writable {
    #[diesel(sql_type = Bool)]
    writable: bool,
}

/// Succeeds when this connection could write now: the server is not a standby in recovery and
/// the session is not read-only.
fn probe(conn: &mut PgConnection) -> Result<WriteOutcome, Fail> {
    let writable = diesel::sql_query(
        "SELECT NOT pg_is_in_recovery() \
             AND current_setting('transaction_read_only') = 'off' AS writable",
    )
    .get_result::<Writable>(conn)?
    .writable;
    if writable {
        Ok(WriteOutcome::Probed)
    } else {
        Err(Fail::Write(WriteError::Store(StoreError::Unavailable(
            "the database is read-only (a standby, or a read-only session)".into(),
        ))))
    }
}

/// Forgets Idempotency-Keys first used more than a day (the longest TTL) before `now`.
pub(super) fn purge_idempotency_keys(
    conn: &mut PgConnection,
    now: Timestamp,
) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind::<SqlTimestamp, _>(now.naive() - TimeDelta::days(1))
        .execute(conn)
}
