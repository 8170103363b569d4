//! The SQL of `articles sync` and `articles verify` on PostgreSQL: a database read as a source
//! ([`PgSource`], read-only transactions, keyset pages in id order) and one written as a
//! destination ([`PgDestination`], rows and `sync_state` in one transaction per batch).
//!
//! Rows come out as the SQLite source gives them ([`RawArticle`], timestamps as the text SQLite
//! stores), so parsing, digests and comparisons in `crate::sync` do not know which engine they
//! read.
//!
//! **Architecture Invariant:** nothing here writes through a [`PgSource`]: its session is
//! `READ ONLY` and every page is read in a `READ ONLY` transaction, so even a bug here could not
//! write to a source.

use std::time::Duration;

use chrono::NaiveDateTime;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp as SqlTimestamp};

use super::{bulk, in_transaction, is_lost, migrate, one_line, redacted, to_store_error};
use super::{with_connect_timeout, Fail, CONFLICT_RETRIES};
use crate::db::destination::SyncDestination;
use crate::db::error::SyncDbError;
use crate::db::models::Timestamp;
use crate::db::source_table::{next_rows_hint, Column, IdBounds, Resolved, SourceTable};
use crate::db::sqlite::sync_state::{Fingerprint, LightRow, RawArticle, SourcePage, StateEntry};
use crate::db::write::{BulkChanges, BulkOutcome};
use crate::db::StoreError;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Ids per statement of state writes.
const STATE_CHUNK: usize = 5_000;

/// Connects to `url`; with `read_only`, every transaction of the session is `READ ONLY`.
fn connect(
    url: &str,
    role: &'static str,
    name: &str,
    read_only: bool,
) -> Result<PgConnection, SyncDbError> {
    let open = |e: &dyn std::fmt::Display| SyncDbError::Open {
        role,
        name: name.to_owned(),
        reason: one_line(&e.to_string()),
    };
    let mut conn = PgConnection::establish(&with_connect_timeout(url, CONNECT_TIMEOUT))
        .map_err(|e| open(&e))?;
    if read_only {
        conn.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .map_err(|e| open(&e))?;
    }
    Ok(conn)
}

/// Whether the table `name` exists in the search path.
fn table_exists(conn: &mut PgConnection, name: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS found")
        .bind::<Text, _>(name)
        .get_result::<Found>(conn)
        .map(|f| f.found)
}

/// The SQL types of a page's columns, in order: id, title, content, then each timestamp twice
/// (a timestamp column in binary, in UTC; any other column holding a timestamp as PostgreSQL
/// writes it as text: a date, seconds, ISO 8601 text), then what tells the text apart (see
/// [`SourceSql::new`]): the title's hash, the row version (`xmin`, 32 bits, read as an int4)
/// or, from a view, the content's hash. Read by position: Diesel's `QueryableByName` looks every
/// column up by name in every row.
type PgRawSql = (
    BigInt,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<SqlTimestamp>,
    Nullable<Text>,
    Nullable<SqlTimestamp>,
    Nullable<Text>,
    Nullable<BigInt>,
    Nullable<Integer>,
    Nullable<BigInt>,
);

type PgRawRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<i64>,
    Option<i32>,
    Option<i64>,
);

/// A light page's columns: id, the timestamps and the fingerprint columns as in [`PgRawSql`],
/// then the bytes of the title and of the content.
type PgLightSql = (
    BigInt,
    Nullable<SqlTimestamp>,
    Nullable<Text>,
    Nullable<SqlTimestamp>,
    Nullable<Text>,
    Nullable<BigInt>,
    Nullable<Integer>,
    Nullable<BigInt>,
    Nullable<BigInt>,
    Nullable<BigInt>,
);

type PgLightRow = (
    i64,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<i64>,
    Option<i32>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// A timestamp as sync reads it: the binary value written as SQLite stores ours, else the text.
fn stamp(at: Option<NaiveDateTime>, text: Option<String>) -> Option<String> {
    at.map(|at| Timestamp::from_naive_utc(at).to_sqlite_text())
        .or(text)
}

/// The fingerprint of a row: its title's hash, and for the content the row version beside the
/// content's length (a table) or the content's hash (a view). `None` when a text is NULL.
fn fingerprint(
    title_hash: Option<i64>,
    version: Option<i32>,
    content_hash: Option<i64>,
    content_bytes: Option<i64>,
) -> Option<Fingerprint> {
    let content = match (version, content_hash) {
        // xmin is an unsigned 32-bit transaction id; the length of a text is below 2^30.
        (Some(version), _) => (i64::from(version as u32) << 32) | content_bytes?,
        (None, hash) => hash?,
    };
    Some(Fingerprint {
        title: title_hash?,
        content,
    })
}

fn raw_article(row: PgRawRow) -> RawArticle {
    let (
        id,
        title,
        content,
        created_at,
        created_text,
        updated_at,
        updated_text,
        title_hash,
        version,
        content_hash,
    ) = row;
    let content_bytes = content.as_ref().map(|c| c.len() as i64);
    RawArticle {
        id,
        title,
        content,
        created_at: stamp(created_at, created_text),
        updated_at: stamp(updated_at, updated_text),
        invalid_text: None,
        fingerprint: fingerprint(title_hash, version, content_hash, content_bytes),
    }
}

fn light_row(row: PgLightRow) -> LightRow {
    let (
        id,
        created_at,
        created_text,
        updated_at,
        updated_text,
        title_hash,
        version,
        content_hash,
        title_bytes,
        content_bytes,
    ) = row;
    LightRow {
        id,
        fingerprint: fingerprint(title_hash, version, content_hash, content_bytes),
        created_at: stamp(created_at, created_text),
        updated_at: stamp(updated_at, updated_text),
        text_bytes: usize::try_from(title_bytes.unwrap_or(0) + content_bytes.unwrap_or(0))
            .unwrap_or(0),
    }
}

/// `"name"`: an identifier quoted for PostgreSQL.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A source table's name quoted, a `schema.table` as two identifiers.
fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(name),
    }
}

/// The two expressions reading a timestamp column: `timestamp` and `timestamptz` (in UTC) in
/// binary, anything else (a date, a number of seconds, text) as PostgreSQL writes it.
fn stamp_expressions(column: Option<&Column<String>>) -> [String; 2] {
    let null = ["NULL::timestamp".to_owned(), "NULL::text".to_owned()];
    match column {
        None => null,
        Some(column)
            if column.kind.starts_with("timestamp") && column.kind.ends_with("with time zone") =>
        {
            [
                format!("({} AT TIME ZONE 'UTC')", quote_ident(&column.name)),
                null[1].clone(),
            ]
        }
        Some(column) if column.kind.starts_with("timestamp") => {
            [quote_ident(&column.name), null[1].clone()]
        }
        Some(column) => [
            null[0].clone(),
            format!("CAST({} AS text)", quote_ident(&column.name)),
        ],
    }
}

/// The statements of a source table.
#[derive(Default)]
struct SourceSql {
    /// A page in id order, split around its two bound values (the id after which it starts,
    /// and `LIMIT`).
    page: [String; 2],
    /// The same page without its text ([`LightRow`]s), split the same way.
    light: [String; 2],
    /// The rows of an array of ids, in id order, split around it.
    by_id: [String; 2],
    /// `SELECT min(id), max(id)`.
    bounds: String,
}

impl SourceSql {
    /// `row_versions`: the relation is a table, whose rows carry `xmin` (a view does not).
    fn new(table: &str, columns: &Resolved<String>, row_versions: bool) -> Self {
        let [created_at, created_text] = stamp_expressions(columns.created_at.as_ref());
        let [updated_at, updated_text] = stamp_expressions(columns.updated_at.as_ref());
        let id = quote_ident(&columns.id.name);
        let title = format!("CAST({} AS text)", quote_ident(&columns.title.name));
        let content = format!("CAST({} AS text)", quote_ident(&columns.content.name));
        // The title hashed by its bytes (collation "C": a change of case is a change). The
        // content: in a table, the transaction that wrote the row version (`xmin`, which every
        // UPDATE renews; sent as its 4 bytes, no text conversion) beside its length, so that a
        // rerun reads no text and hashes none; in a view, whose rows have no version, its hash.
        let hashes = if row_versions {
            format!("hashtextextended({title} COLLATE \"C\", 0), xmin, NULL::bigint")
        } else {
            format!(
                "hashtextextended({title} COLLATE \"C\", 0), NULL::int4, \
                 hashtextextended({content} COLLATE \"C\", 0)"
            )
        };
        let stamps = format!("{created_at}, {created_text}, {updated_at}, {updated_text}");
        let table = quote_table(table);
        let full = format!(
            "SELECT CAST({id} AS bigint), {title}, {content}, {stamps}, {hashes} FROM {table}"
        );
        Self {
            page: [
                format!("{full} WHERE {id} > "),
                format!(" ORDER BY {id} LIMIT "),
            ],
            light: [
                format!(
                    "SELECT CAST({id} AS bigint), {stamps}, {hashes}, \
                     CAST(octet_length({title}) AS bigint), CAST(octet_length({content}) AS bigint) \
                     FROM {table} WHERE {id} > "
                ),
                format!(" ORDER BY {id} LIMIT "),
            ],
            by_id: [
                format!("{full} WHERE {id} = ANY("),
                format!(") ORDER BY {id}"),
            ],
            bounds: format!(
                "SELECT CAST(min({id}) AS bigint) AS low, CAST(max({id}) AS bigint) AS high FROM {table}"
            ),
        }
    }
}

/// Whether `name` is a table (plain or partitioned), whose rows have `xmin`, rather than a view.
fn is_table(conn: &mut PgConnection, name: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        is_table: bool,
    }
    diesel::sql_query(
        "SELECT coalesce((SELECT relkind IN ('r', 'p') FROM pg_class WHERE oid = to_regclass($1)), \
         false) AS is_table",
    )
    .bind::<Text, _>(name)
    .get_result::<Found>(conn)
    .map(|f| f.is_table)
}

/// The columns of `table` with their types (`format_type`), empty when there is no such table.
fn table_columns(conn: &mut PgConnection, table: &str) -> QueryResult<Vec<(String, String)>> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        kind: String,
    }
    // to_regclass reads the name as SQL would: unquoted parts fold to lower case. A name that is
    // not a valid identifier at all is a missing table, not an error.
    Ok(diesel::sql_query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS kind \
         FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
         AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind::<Text, _>(table)
    .load::<Found>(conn)
    .or_else(|e| match &e {
        diesel::result::Error::DatabaseError(_, info)
            if info.message().contains("invalid name") =>
        {
            Ok(Vec::new())
        }
        _ => Err(e),
    })?
    .into_iter()
    .map(|f| (f.name, f.kind))
    .collect())
}

/// A PostgreSQL database holding the articles table (see [`SourceTable`]), read as a sync or
/// verify source: a session whose transactions are all `READ ONLY`. A connection found lost (a
/// server restart under `--watch`) is replaced at the next read.
pub struct PgSource {
    conn: PgConnection,
    url: String,
    name: String,
    role: &'static str,
    lost: bool,
    table: SourceTable,
    sql: SourceSql,
    /// Rows to ask for next ([`next_rows_hint`]).
    rows_hint: usize,
}

impl PgSource {
    /// Connects to `url` read-only and checks that it holds `articles`; `role` names it in
    /// errors.
    pub fn open(url: &str, role: &'static str) -> Result<Self, SyncDbError> {
        Self::open_table(url, role, &SourceTable::default())
    }

    /// Connects to `url` read-only and finds the columns of `table`.
    pub fn open_table(
        url: &str,
        role: &'static str,
        table: &SourceTable,
    ) -> Result<Self, SyncDbError> {
        let name = redacted(url);
        let mut conn = connect(url, role, &name, true)?;
        // Timestamps with a time zone are read in UTC, every date in ISO order.
        conn.batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
            .map_err(|e| SyncDbError::Open {
                role,
                name: name.clone(),
                reason: one_line(&e.to_string()),
            })?;
        let mut source = Self {
            conn,
            url: url.to_owned(),
            name,
            role,
            lost: false,
            table: table.clone(),
            sql: SourceSql::default(),
            rows_hint: usize::MAX,
        };
        let present = source.read(|conn| table_columns(conn, &table.table))?;
        let columns = table.resolve_on_server(&present, role, &source.name)?;
        let row_versions = source.read(|conn| is_table(conn, &table.table))?;
        source.sql = SourceSql::new(&table.table, &columns, row_versions);
        Ok(source)
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> Result<Self, SyncDbError> {
        Self::open_table(&self.url, self.role, &self.table)
    }

    /// The URL without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `body` in a `READ ONLY` transaction.
    fn read<T>(
        &mut self,
        body: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
    ) -> Result<T, SyncDbError> {
        if self.lost {
            self.conn = connect(&self.url, self.role, &self.name, true)?;
            self.lost = false;
        }
        self.conn
            .build_transaction()
            .read_only()
            .run(body)
            .map_err(|e| {
                self.lost = is_lost(&e);
                SyncDbError::Read {
                    role: self.role,
                    name: self.name.clone(),
                    reason: one_line(&e.to_string()),
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
        let [head, tail] = self.sql.page.clone();
        let rows: Vec<PgRawRow> = self.read(|conn| {
            diesel::dsl::sql::<PgRawSql>(&head)
                .bind::<BigInt, _>(after)
                .sql(&tail)
                .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                .load(conn)
        })?;
        let fetched = rows.len();
        let mut page = SourcePage::default();
        let mut bytes = 0;
        for row in rows {
            let row = raw_article(row);
            bytes += row.text_bytes();
            page.rows.push(row);
            if bytes >= max_bytes {
                page.truncated = true;
                break;
            }
        }
        let cut = page.truncated;
        self.rows_hint = next_rows_hint(cut, page.rows.len(), self.rows_hint);
        page.truncated |= fetched >= limit;
        Ok(page)
    }

    /// Up to `limit` rows with `id > after` in id order, without their text, and whether more
    /// may follow.
    pub fn light_page(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<LightRow>, bool), SyncDbError> {
        let limit = limit.max(1);
        let [head, tail] = self.sql.light.clone();
        let rows: Vec<PgLightRow> = self.read(|conn| {
            diesel::dsl::sql::<PgLightSql>(&head)
                .bind::<BigInt, _>(after)
                .sql(&tail)
                .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                .load(conn)
        })?;
        let truncated = rows.len() >= limit;
        Ok((rows.into_iter().map(light_row).collect(), truncated))
    }

    /// The rows of `ids` that exist, in id order.
    pub fn rows_by_id(&mut self, ids: &[i64]) -> Result<Vec<RawArticle>, SyncDbError> {
        let [head, tail] = self.sql.by_id.clone();
        let ids = ids.to_vec();
        let rows: Vec<PgRawRow> = self.read(|conn| {
            diesel::dsl::sql::<PgRawSql>(&head)
                .bind::<Array<BigInt>, _>(ids)
                .sql(&tail)
                .load(conn)
        })?;
        Ok(rows.into_iter().map(raw_article).collect())
    }

    /// Smallest and largest id, `None` when the table is empty.
    pub fn id_bounds(&mut self) -> Result<Option<(i64, i64)>, SyncDbError> {
        let sql = self.sql.bounds.clone();
        let bounds = self.read(|conn| diesel::sql_query(sql).get_result::<IdBounds>(conn))?;
        Ok(bounds.range())
    }

    /// Whether this session's transactions are read-only (`transaction_read_only`), for tests.
    #[doc(hidden)]
    pub fn is_read_only(&mut self) -> Result<bool, SyncDbError> {
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Text)]
            value: String,
        }
        let setting = self.read(|conn| {
            diesel::sql_query("SELECT current_setting('transaction_read_only') AS value")
                .get_result::<Setting>(conn)
        })?;
        Ok(setting.value == "on")
    }
}

/// A PostgreSQL database written by sync: rows and `sync_state` in one transaction per batch.
/// Opened read-only for a dry run ([`PgDestination::open_read_only`]). A connection found lost
/// (a server restart under `--watch`) is replaced at the next call.
pub struct PgDestination {
    conn: PgConnection,
    url: String,
    name: String,
    read_only: bool,
    lost: bool,
    /// No article and no sync state when opened: batches of new rows go in with `COPY`
    /// ([`bulk::copy_fresh`]) until one meets a row someone else wrote.
    fresh_load: bool,
}

impl PgDestination {
    /// Connects to `url` and applies pending migrations (as `serve-rest` does).
    pub fn open(url: &str) -> Result<Self, SyncDbError> {
        let name = redacted(url);
        let mut conn = connect(url, "destination", &name, false)?;
        migrate(&mut conn).map_err(|reason| SyncDbError::Open {
            role: "destination",
            name: name.clone(),
            reason: format!("cannot migrate: {}", one_line(&reason)),
        })?;
        #[derive(QueryableByName)]
        struct Empty {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            empty: bool,
        }
        let fresh_load = diesel::sql_query(
            "SELECT NOT EXISTS (SELECT 1 FROM articles) AND NOT EXISTS (SELECT 1 FROM sync_state) \
             AS empty",
        )
        .get_result::<Empty>(&mut conn)
        .map_err(|e| SyncDbError::Open {
            role: "destination",
            name: name.clone(),
            reason: one_line(&e.to_string()),
        })?
        .empty;
        if fresh_load {
            tracing::info!(
                destination = %name,
                "first load into an empty database: new rows written with COPY"
            );
        }
        Ok(Self {
            conn,
            url: url.to_owned(),
            name,
            read_only: false,
            lost: false,
            fresh_load,
        })
    }

    /// Connects to `url` for a dry run: every transaction read-only, nothing migrated.
    pub fn open_read_only(url: &str) -> Result<Self, SyncDbError> {
        let name = redacted(url);
        let conn = connect(url, "destination", &name, true)?;
        Ok(Self {
            conn,
            url: url.to_owned(),
            name,
            read_only: true,
            lost: false,
            fresh_load: false,
        })
    }

    /// Runs `body` on the connection, first replacing one found lost.
    fn run<T>(
        &mut self,
        body: impl FnOnce(&mut PgConnection) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        self.run_once(body).map_err(to_store_error)
    }

    /// [`Self::run`], the failure as it happened.
    fn run_once<T>(
        &mut self,
        body: impl FnOnce(&mut PgConnection) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        if self.lost {
            self.conn = connect(&self.url, "destination", &self.name, self.read_only)
                .map_err(|e| Fail::Write(StoreError::Unavailable(e.to_string()).into()))?;
            self.lost = false;
        }
        body(&mut self.conn).inspect_err(|fail| self.lost = fail.lost_connection())
    }

    /// A batch of a first load ([`bulk::copy_fresh`]) and its state, in one transaction.
    fn copy_once(
        &mut self,
        changes: &BulkChanges,
        put: &[StateEntry],
        now: Timestamp,
    ) -> Result<BulkOutcome, Fail> {
        #[derive(Insertable)]
        #[diesel(table_name = super::schema::sync_state, treat_none_as_default_value = false)]
        struct StateRow {
            id: i64,
            digest: i64,
        }
        self.run_once(|conn| {
            in_transaction(conn, |conn| {
                let outcome = bulk::copy_fresh(conn, changes, now)?;
                let state: Vec<StateRow> = put
                    .iter()
                    .map(|e| StateRow {
                        id: e.id,
                        digest: e.digest,
                    })
                    .collect();
                diesel::copy_from(super::schema::sync_state::table)
                    .from_insertable(state)
                    .execute(conn)?;
                Ok::<_, Fail>(outcome)
            })
        })
    }

    fn apply_once(
        &mut self,
        changes: &BulkChanges,
        put: &[StateEntry],
        forget: &[i64],
        now: Timestamp,
    ) -> Result<BulkOutcome, Fail> {
        self.run_once(|conn| {
            in_transaction(conn, |conn| {
                let outcome = bulk::apply_in_transaction(conn, changes, now)?;
                for chunk in put.chunks(STATE_CHUNK) {
                    let ids: Vec<i64> = chunk.iter().map(|e| e.id).collect();
                    let digests: Vec<i64> = chunk.iter().map(|e| e.digest).collect();
                    diesel::sql_query(
                        "INSERT INTO sync_state (id, digest) \
                     SELECT * FROM unnest($1::bigint[], $2::bigint[]) \
                     ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest",
                    )
                    .bind::<Array<BigInt>, _>(&ids)
                    .bind::<Array<BigInt>, _>(&digests)
                    .execute(conn)?;
                }
                for chunk in forget.chunks(STATE_CHUNK) {
                    diesel::sql_query("DELETE FROM sync_state WHERE id = ANY($1)")
                        .bind::<Array<BigInt>, _>(chunk)
                        .execute(conn)?;
                }
                Ok::<_, Fail>(outcome)
            })
        })
    }
}

impl SyncDestination for PgDestination {
    /// The URL without its password.
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether the table `name` exists (a database sync never migrated has none).
    fn has_table(&mut self, name: &str) -> Result<bool, StoreError> {
        self.run(|conn| Ok(table_exists(conn, name)?))
    }

    /// Number of ids sync manages.
    fn state_count(&mut self) -> Result<i64, StoreError> {
        use super::schema::sync_state;
        self.run(|conn| Ok(sync_state::table.count().get_result(conn)?))
    }

    /// Forgets every digest and marks every article present as unknown (digest 0), recounting
    /// the kept count, in one transaction (see the SQLite store's `state_reset_from_articles`).
    fn state_reset_from_articles(&mut self) -> Result<usize, StoreError> {
        self.run(|conn| {
            in_transaction(conn, |conn| {
                conn.batch_execute(
                    "DELETE FROM sync_state; \
                 UPDATE article_stats SET articles = (SELECT count(*) FROM articles) \
                 WHERE only_row = 1",
                )?;
                Ok(diesel::sql_query(
                    "INSERT INTO sync_state (id, digest) SELECT id, 0 FROM articles",
                )
                .execute(conn)?)
            })
        })
    }

    /// Up to `limit` state entries with `id > after`, in id order.
    fn state_page(&mut self, after: i64, limit: i64) -> Result<Vec<StateEntry>, StoreError> {
        use super::schema::sync_state;
        let rows = self.run(|conn| {
            Ok(sync_state::table
                .filter(sync_state::id.gt(after))
                .order(sync_state::id.asc())
                .limit(limit)
                .select((sync_state::id, sync_state::digest))
                .load::<(i64, i64)>(conn)?)
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, digest)| StateEntry { id, digest })
            .collect())
    }

    /// Every article with `id > after` (at most `limit`) as an unknown entry (digest 0): the
    /// state of a destination sync did not create, for dry runs.
    fn unknown_state_page(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StateEntry>, StoreError> {
        use super::schema::articles;
        let ids = self.run(|conn| {
            Ok(articles::table
                .filter(articles::id.gt(after))
                .order(articles::id.asc())
                .limit(limit)
                .select(articles::id)
                .load::<i64>(conn)?)
        })?;
        Ok(ids
            .into_iter()
            .map(|id| StateEntry { id, digest: 0 })
            .collect())
    }

    /// Applies `changes` as the store's bulk does (without `keep_newer` unless asked), records
    /// `put` and forgets `forget` in `sync_state`, all in one transaction. A batch that met rows
    /// another writer inserted meanwhile runs again (as the store's bulk does).
    fn apply(
        &mut self,
        changes: &BulkChanges,
        put: &[StateEntry],
        forget: &[i64],
        now: Timestamp,
    ) -> Result<BulkOutcome, StoreError> {
        let mut attempt = 0;
        loop {
            let result = if self.fresh_load && changes.delete().is_empty() && forget.is_empty() {
                self.copy_once(changes, put, now)
            } else {
                self.apply_once(changes, put, forget, now)
            };
            match result {
                Err(Fail::Conflict(_)) if attempt < CONFLICT_RETRIES => {
                    if self.fresh_load {
                        tracing::info!(
                            destination = %self.name,
                            "another writer added articles: loading the usual way from here"
                        );
                        self.fresh_load = false;
                    }
                    attempt += 1;
                }
                result => return result.map_err(to_store_error),
            }
        }
    }
}
