//! The SQL of `articles sync`: the `sync_state` table (what sync last wrote, per article id) and
//! reading the `articles` table of a foreign source database.
//!
//! - [`SourceDb`]: a source opened read-only (SQLite `mode=ro` plus `query_only`), its shape
//!   checked once (the [`SourceTable`] it was asked to read), read in id order one keyset page
//!   at a time.
//! - `state_*` functions: the per-id digests kept in the destination (or in a state file for an
//!   HTTP destination, [`open_state_file`]).
//!
//! **Architecture Invariant:** nothing here writes to a source database, and nothing here knows
//! how digests are computed or what a change is; that is `crate::sync`'s business.

use std::path::{Path, PathBuf};

use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::Connection;

use super::schema::sync_state;
use super::{DbConnection, BUSY_TIMEOUT};
use crate::db::source_table::{IdBounds, Missing, Resolved, SourceTable};

/// Ids bound per `IN (...)` list or state rows per `INSERT`, well below SQLite's variable limit.
const IDS_PER_STATEMENT: usize = 1000;

/// One row of `sync_state`: an article id and the digest of what sync last applied for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = sync_state)]
pub struct StateEntry {
    pub id: i64,
    pub digest: i64,
}

/// Up to `limit` entries with `id > after`, in id order.
pub fn state_page(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<StateEntry>> {
    sync_state::table
        .filter(sync_state::id.gt(after))
        .order(sync_state::id.asc())
        .limit(limit)
        .load(conn)
}

/// Records `entries` (insert or overwrite). Run inside the transaction that applied them.
pub fn state_put(conn: &mut DbConnection, entries: &[StateEntry]) -> QueryResult<()> {
    // Multi-row statements: one prepare per chunk beats one step per row.
    for chunk in entries.chunks(IDS_PER_STATEMENT) {
        diesel::replace_into(sync_state::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets `ids`. Run inside the transaction that deleted them.
pub fn state_delete(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<()> {
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        diesel::delete(sync_state::table.filter(sync_state::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(())
}

/// Page cache of a destination while sync writes to it: a whole batch fits, so SQLite does not
/// spill dirty pages to the WAL in the middle of a transaction (the default is 2 MiB).
const DESTINATION_CACHE_KIB: u32 = 48 * 1024;

/// Tunes a destination connection for batches of thousands of rows. Durability and crash safety
/// are unchanged (journal mode and `synchronous` stay as [`super::connect`] set them). Statement
/// journals (each multi-row INSERT keeps one, to undo itself alone) stay in memory, as the
/// writer's do: on disk they were a write syscall per page touched.
pub fn prepare_destination(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "PRAGMA cache_size = -{DESTINATION_CACHE_KIB}; PRAGMA temp_store = MEMORY;"
    ))
}

/// Switches an empty destination to a rollback journal for a first bulk load, so every page is
/// written once instead of to the WAL and again at each checkpoint. A rollback journal is just as
/// atomic (a killed run leaves a hot journal that the next connection rolls back). Returns
/// whether the switch happened: SQLite can only leave WAL mode while no other connection has the
/// database open (a server serving it, say), and then the load simply stays in WAL mode. The
/// attempt does not wait for the others (their connections stay open for as long as they run).
/// [`end_bulk_load`] switches back.
pub fn begin_bulk_load(conn: &mut DbConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    conn.batch_execute("PRAGMA busy_timeout = 0;")?;
    let mode = diesel::sql_query("PRAGMA journal_mode = DELETE").get_result::<Mode>(conn);
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    ))?;
    match mode {
        Ok(mode) if mode.journal_mode.eq_ignore_ascii_case("delete") => {
            // The rows of a first load are domain types (`Title`, `Content`), valid by
            // construction, and the article_rules test holds the CHECK constraints to the same
            // rules: evaluating them again cost 8% of a 1M-article load (`instr` over every
            // content). Other connections, and this one after the load, still evaluate them.
            conn.batch_execute("PRAGMA ignore_check_constraints = ON;")?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(error)
            if matches!(
                crate::db::StoreError::classify(&error),
                crate::db::StoreError::Busy(_)
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// The table that marks a first load whose indexes wait until every row is in: it holds the
/// `CREATE INDEX` statements of the secondary indexes of `articles` it dropped.
const DEFERRED: &str = "first_load_deferred_indexes";

/// For a first load into an empty database (after [`begin_bulk_load`]): drops the secondary
/// (non-unique) indexes of `articles`, remembering their SQL in a marker table, in one transaction. Rows then
/// go in with [`super::bulk::load_rows`], which also leaves the search index and the kept count
/// alone; [`finish_deferred_load`] builds all of them at once at the end. Building an index from
/// sorted rows costs a fraction of keeping it row by row: `updated_at` arrives in no particular
/// order, and every row landed on another page of its index (a 1M-article load spent a quarter
/// of its time there and in the statement journal of those pages). Any connection that opens
/// the database finishes a load that a killed run left behind ([`super::connect`]).
pub fn defer_indexes(conn: &mut DbConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    conn.immediate_transaction(|conn| {
        conn.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {DEFERRED} (name TEXT PRIMARY KEY NOT NULL, sql TEXT NOT NULL); \
             INSERT OR IGNORE INTO {DEFERRED} (name, sql) \
             SELECT name, sql FROM sqlite_schema \
             WHERE type = 'index' AND tbl_name = 'articles' AND sql LIKE 'CREATE INDEX %';"
        ))?;
        let names = diesel::sql_query(format!("SELECT name FROM {DEFERRED}")).load::<Name>(conn)?;
        for Name { name } in names {
            conn.batch_execute(&format!(
                "DROP INDEX IF EXISTS \"{}\";",
                name.replace('"', "\"\"")
            ))?;
        }
        Ok(())
    })
}

/// Ends a first load: creates the indexes [`defer_indexes`] dropped, recounts the articles and
/// rebuilds the search index, and removes the marker, in one transaction. With `always`, the
/// count and the search index are rebuilt even when there is no marker (the load that wrote
/// rows with [`super::bulk::load_rows`] ends here, whoever finished the indexes meanwhile).
/// Returns whether there was anything to do.
pub fn finish_deferred_load(conn: &mut DbConnection, always: bool) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Deferred {
        #[diesel(sql_type = Text)]
        sql: String,
    }
    conn.immediate_transaction(|conn| {
        let pending = table_exists(conn, DEFERRED)?;
        if !pending && !always {
            return Ok(false);
        }
        if pending {
            let indexes =
                diesel::sql_query(format!("SELECT sql FROM {DEFERRED}")).load::<Deferred>(conn)?;
            for Deferred { sql } in indexes {
                // The SQL as SQLite stored it, made idempotent.
                let sql = sql.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
                conn.batch_execute(&sql)?;
            }
        }
        super::articles::recount(conn)?;
        super::articles::rebuild_search(conn)?;
        conn.batch_execute(&format!("DROP TABLE IF EXISTS {DEFERRED};"))?;
        Ok(true)
    })
}

/// Whether a table named `name` exists.
fn table_exists(conn: &mut DbConnection, name: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        found: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS found FROM sqlite_schema WHERE type = 'table' AND name = ?",
    )
    .bind::<Text, _>(name)
    .get_result::<Found>(conn)
    .map(|row| row.found > 0)
}

/// Back to WAL after [`begin_bulk_load`] (what [`super::connect`] sets for every role), and
/// CHECK constraints evaluated again.
pub fn end_bulk_load(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("PRAGMA ignore_check_constraints = OFF; PRAGMA journal_mode = WAL;")
}

/// Whether the destination has no articles at all (a first load).
pub fn articles_empty(conn: &mut DbConnection) -> QueryResult<bool> {
    use super::schema::articles;
    diesel::select(diesel::dsl::not(diesel::dsl::exists(
        articles::table.select(articles::id),
    )))
    .get_result(conn)
}

/// Number of ids sync manages.
pub fn state_count(conn: &mut DbConnection) -> QueryResult<i64> {
    sync_state::table.count().get_result(conn)
}

/// Forgets every digest and marks every article present in this database as unknown (digest 0),
/// so the next sync compares each of them with the source and deletes those the source lacks.
/// Used when the state is missing (a destination sync did not create) or `--rescan` asks, that
/// is, after others may have written the file: the kept count and the search index are rebuilt
/// from the articles in the same transaction.
pub fn state_reset_from_articles(conn: &mut DbConnection) -> QueryResult<usize> {
    conn.immediate_transaction(|conn| {
        diesel::delete(sync_state::table).execute(conn)?;
        super::articles::recount(conn)?;
        super::articles::rebuild_search(conn)?;
        diesel::sql_query("INSERT INTO sync_state (id, digest) SELECT id, 0 FROM articles")
            .execute(conn)
    })
}

/// Forgets every digest (state files of HTTP destinations).
pub fn state_clear(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(sync_state::table).execute(conn)
}

/// Opens an existing database read-only (`mode=ro`, `query_only`): dry runs read a destination
/// or state file this way and never create or migrate anything.
pub fn open_read_only(path: &Path, role: &'static str) -> Result<DbConnection, SourceError> {
    let mut conn = open_read_only_raw(path, role)?;
    conn.batch_execute(&format!(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    ))
    .map_err(|source| SourceError::Read {
        role,
        path: path.to_owned(),
        source,
    })?;
    Ok(conn)
}

/// Whether `conn` holds a non-empty `sync_state` table (read-only check, for dry runs).
pub fn state_present(conn: &mut DbConnection) -> QueryResult<bool> {
    Ok(table_exists(conn, "sync_state")? && state_count(conn)? > 0)
}

/// Like [`state_page`], but every article of this database as an unknown entry (digest 0): the
/// state a destination sync did not create is treated as.
pub fn unknown_state_page(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<StateEntry>> {
    use super::schema::articles;
    articles::table
        .filter(articles::id.gt(after))
        .order(articles::id.asc())
        .limit(limit)
        .select(articles::id)
        .load::<i64>(conn)
        .map(|ids| {
            ids.into_iter()
                .map(|id| StateEntry { id, digest: 0 })
                .collect()
        })
}

/// Why a sync state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot open sync state file {path}: {source}")]
    Connect {
        path: PathBuf,
        source: diesel::ConnectionError,
    },
    #[error("cannot use sync state file {path}: {source}")]
    Query {
        path: PathBuf,
        source: diesel::result::Error,
    },
    #[error("sync state file {path} belongs to {found}, not {wanted}; pass another --state file")]
    OtherDestination {
        path: PathBuf,
        found: String,
        wanted: String,
    },
}

/// Opens (creating if needed) a state file: a small SQLite database holding `sync_state` and the
/// destination it describes. Refuses a file that describes another destination.
pub fn open_state_file(path: &Path, destination: &str) -> Result<DbConnection, StateFileError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut conn = DbConnection::establish(&path.to_string_lossy()).map_err(|source| {
        StateFileError::Connect {
            path: path.to_owned(),
            source,
        }
    })?;
    let query = |source| StateFileError::Query {
        path: path.to_owned(),
        source,
    };
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS sync_state (
             id INTEGER PRIMARY KEY NOT NULL,
             digest BIGINT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS sync_destination (
             only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
             destination TEXT NOT NULL
         );",
        BUSY_TIMEOUT.as_millis()
    ))
    .map_err(query)?;
    #[derive(QueryableByName)]
    struct Destination {
        #[diesel(sql_type = Text)]
        destination: String,
    }
    let found = diesel::sql_query("SELECT destination FROM sync_destination WHERE only_row = 1")
        .get_result::<Destination>(&mut conn)
        .optional()
        .map_err(query)?;
    match found {
        Some(found) if found.destination != destination => {
            return Err(StateFileError::OtherDestination {
                path: path.to_owned(),
                found: found.destination,
                wanted: destination.to_owned(),
            })
        }
        Some(_) => {}
        None => {
            diesel::sql_query("INSERT INTO sync_destination (only_row, destination) VALUES (1, ?)")
                .bind::<Text, _>(destination)
                .execute(&mut conn)
                .map_err(query)?;
        }
    }
    Ok(conn)
}

/// Why a database cannot be read. `role` names it in the message ("source", "destination").
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{role} {path} does not exist")]
    Missing { role: &'static str, path: PathBuf },
    #[error("cannot open {role} {path}: {message}")]
    Open {
        role: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{role} {path} has no `{table}` table")]
    NoTable {
        role: &'static str,
        path: PathBuf,
        table: String,
    },
    #[error("{role} {path}: table `{table}` has {missing}; it needs id, title and content")]
    MissingColumns {
        role: &'static str,
        path: PathBuf,
        table: String,
        missing: Missing,
    },
    #[error("cannot read {role} {path}: {source}")]
    Read {
        role: &'static str,
        path: PathBuf,
        source: diesel::result::Error,
    },
}

/// A source row as stored. Timestamps come back as the text form of whatever was stored
/// (`2024-01-01 12:00:00.5`, ISO 8601, or a number of seconds); `None` when NULL or the column is
/// absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArticle {
    pub id: i64,
    pub title: Option<String>,
    pub content: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// The field whose stored bytes are not UTF-8 text (the row cannot be carried; its text
    /// fields are then `None`).
    pub invalid_text: Option<&'static str>,
    /// What the source's server computed of the text, when it does (see [`Fingerprint`]).
    pub fingerprint: Option<Fingerprint>,
}

/// 64-bit hashes a database server computed of a row's title and content (PostgreSQL:
/// `hashtextextended` of their bytes). Sync's digest of such a row is taken over these and the
/// timestamps instead of the text, so that a rerun compares rows without reading their text
/// ([`LightRow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub title: i64,
    pub content: i64,
}

/// A row as a rerun first reads it from a server: id, fingerprint and timestamps, not the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightRow {
    pub id: i64,
    /// `None` when a text field is NULL (the row is then read in full, and refused).
    pub fingerprint: Option<Fingerprint>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Bytes of title and content (what reading the row in full would bring).
    pub text_bytes: usize,
}

impl RawArticle {
    /// Bytes of text this row carries (for batch size limits).
    pub fn text_bytes(&self) -> usize {
        self.title.as_ref().map_or(0, String::len) + self.content.as_ref().map_or(0, String::len)
    }

    /// A row from the bytes a source stored: text that is not UTF-8 marks the row
    /// ([`Self::invalid_text`]) instead of failing the page or being altered.
    pub fn from_bytes(id: i64, fields: [Option<Vec<u8>>; 4]) -> Self {
        let mut invalid_text = None;
        let [title, content, created_at, updated_at] = fields;
        let mut text = |bytes: Option<Vec<u8>>, field: &'static str| {
            String::from_utf8(bytes?)
                .inspect_err(|_| {
                    invalid_text.get_or_insert(field);
                })
                .ok()
        };
        let (title, content) = (text(title, "title"), text(content, "content"));
        let (created_at, updated_at) = (
            text(created_at, "created_at"),
            text(updated_at, "updated_at"),
        );
        Self {
            id,
            title,
            content,
            created_at,
            updated_at,
            invalid_text,
            fingerprint: None,
        }
    }
}

/// The SQL types of a source page's columns, in order: text read as bytes, so that what is not
/// UTF-8 is seen (Diesel would replace it).
type RawArticleSql = (
    BigInt,
    Nullable<Binary>,
    Nullable<Binary>,
    Nullable<Binary>,
    Nullable<Binary>,
);

type RawArticleRow = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// One page of a source: rows in id order and whether more may follow it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePage {
    pub rows: Vec<RawArticle>,
    /// `true` when the page stopped at a limit (rows or bytes), so rows after it may exist.
    pub truncated: bool,
}

/// A database holding the articles table (see [`SourceTable`]), opened read-only.
pub struct SourceDb {
    conn: DbConnection,
    role: &'static str,
    path: PathBuf,
    table: SourceTable,
    /// `quote_ident` of the table and of its id column.
    quoted: (String, String),
    page_sql: [String; 2],
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A read-only connection to `path`, nothing checked yet.
fn open_read_only_raw(path: &Path, role: &'static str) -> Result<DbConnection, SourceError> {
    DbConnection::establish(&read_only_uri(path)).map_err(|e| SourceError::Open {
        role,
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// `file:` URI for `path` opened read-only (`%`, `?` and `#` escaped).
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

impl SourceDb {
    /// Opens the source `path` read-only and checks that it holds `articles` with id, title and
    /// content.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Self::open_table(path, "source", &SourceTable::default())
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> Result<Self, SourceError> {
        Self::open_table(&self.path, self.role, &self.table)
    }

    /// Like [`Self::open`], naming the database `role` in errors (verify reads destinations
    /// too), reading `table`.
    pub fn open_table(
        path: &Path,
        role: &'static str,
        table: &SourceTable,
    ) -> Result<Self, SourceError> {
        if !path.exists() {
            return Err(SourceError::Missing {
                role,
                path: path.to_owned(),
            });
        }
        let mut conn = open_read_only_raw(path, role)?;
        let read = |source| SourceError::Read {
            role,
            path: path.to_owned(),
            source,
        };
        // Any first statement on a file that is not SQLite fails here ("file is not a database").
        conn.batch_execute(&format!(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = {};",
            BUSY_TIMEOUT.as_millis()
        ))
        .map_err(read)?;
        #[derive(QueryableByName)]
        struct ColumnInfo {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let names: Vec<(String, ())> =
            diesel::sql_query("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind::<Text, _>(&table.table)
                .load::<ColumnInfo>(&mut conn)
                .map_err(read)?
                .into_iter()
                .map(|c| (c.name, ()))
                .collect();
        if names.is_empty() {
            return Err(SourceError::NoTable {
                role,
                path: path.to_owned(),
                table: table.table.clone(),
            });
        }
        let columns: Resolved<()> =
            table
                .resolve(&names)
                .map_err(|missing| SourceError::MissingColumns {
                    role,
                    path: path.to_owned(),
                    table: table.table.clone(),
                    missing,
                })?;
        // Timestamps as SQLite's text of whatever is stored (a number of seconds too).
        let stamp = |column: &Option<crate::db::source_table::Column<()>>| {
            column.as_ref().map_or("NULL".to_owned(), |c| {
                format!("CAST({} AS TEXT)", quote_ident(&c.name))
            })
        };
        let quoted = (quote_ident(&table.table), quote_ident(&columns.id.name));
        // Split around the two bound values (`id > ?`, `LIMIT ?`), see [`Self::page`].
        let page_sql = [
            format!(
                "SELECT {id} AS id, CAST({title} AS TEXT) AS title, CAST({content} AS TEXT) AS content, \
                 {created} AS created_at, {updated} AS updated_at FROM {table} WHERE {id} > ",
                id = quoted.1,
                table = quoted.0,
                title = quote_ident(&columns.title.name),
                content = quote_ident(&columns.content.name),
                created = stamp(&columns.created_at),
                updated = stamp(&columns.updated_at),
            ),
            format!(" ORDER BY {} LIMIT ", quoted.1),
        ];
        Ok(Self {
            conn,
            role,
            path: path.to_owned(),
            table: table.clone(),
            quoted,
            page_sql,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_error(&self, source: diesel::result::Error) -> SourceError {
        SourceError::Read {
            role: self.role,
            path: self.path.clone(),
            source,
        }
    }

    /// Rows with `id > after` in id order: at most `max_rows`, and no more once `max_bytes` of
    /// text have been read (always at least one row).
    pub fn page(
        &mut self,
        after: i64,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<SourcePage, SourceError> {
        let mut page = SourcePage::default();
        let mut bytes = 0;
        let result = (|| -> QueryResult<()> {
            // A typed literal, not `sql_query`: rows decode by position, not by column name.
            let rows = diesel::dsl::sql::<RawArticleSql>(&self.page_sql[0])
                .bind::<BigInt, _>(after)
                .sql(&self.page_sql[1])
                .bind::<BigInt, _>(i64::try_from(max_rows).unwrap_or(i64::MAX))
                .load_iter::<RawArticleRow, DefaultLoadingMode>(&mut self.conn)?;
            for row in rows {
                let (id, title, content, created_at, updated_at) = row?;
                let row = RawArticle::from_bytes(id, [title, content, created_at, updated_at]);
                bytes += row.text_bytes();
                page.rows.push(row);
                if bytes >= max_bytes {
                    page.truncated = true;
                    break;
                }
            }
            Ok(())
        })();
        result.map_err(|e| self.read_error(e))?;
        if page.rows.len() >= max_rows {
            page.truncated = true;
        }
        Ok(page)
    }

    /// Smallest and largest id, `None` when the table is empty (cheap with an id key).
    pub fn id_bounds(&mut self) -> Result<Option<(i64, i64)>, SourceError> {
        let (table, id) = &self.quoted;
        let bounds = diesel::sql_query(format!(
            "SELECT (SELECT min({id}) FROM {table}) AS low, (SELECT max({id}) FROM {table}) AS high"
        ))
        .get_result::<IdBounds>(&mut self.conn)
        .map_err(|e| self.read_error(e))?;
        Ok(bounds.range())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_uri_escapes_uri_characters() {
        assert_eq!(
            read_only_uri(Path::new("/tmp/a?b#c%d.db")),
            "file:/tmp/a%3fb%23c%25d.db?mode=ro"
        );
    }
}
