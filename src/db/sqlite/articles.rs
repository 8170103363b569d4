//! Queries on `articles` and `idempotency_keys`. Every function takes a connection and returns
//! `QueryResult`; transactions, batching and threads are the caller's business ([`super::writer`]).
//! This is the one place that spells SQL for articles; it knows nothing of HTTP.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;

use super::schema::{articles, idempotency_keys};
use super::DbConnection;
use crate::db::list::{ListFilter, Page, Position, SortKey};
use crate::db::models::{Article, ArticleChanges, ArticleId, NewArticle, Timestamp};

diesel::define_sql_function! {
    /// A title folded for the search index: Rust's `str::to_lowercase`, the folding `q` has
    /// always used (the migration that builds `article_search` calls it).
    fn fold_title(title: Text) -> Text;
}

// The title search index (FTS5, trigram tokens of the folded title, rowid = article id). Not in
// schema.rs: Diesel's schema printer knows nothing of virtual tables.
diesel::table! {
    article_search (rowid) {
        rowid -> BigInt,
        title_folded -> Text,
    }
}

/// Registers the SQL functions the queries below rely on. Called for every new connection.
pub(crate) fn register_functions(conn: &mut DbConnection) -> QueryResult<()> {
    fold_title_utils::register_impl(conn, |title: String| title.to_lowercase())
}

pub fn get(conn: &mut DbConnection, id: ArticleId) -> QueryResult<Option<Article>> {
    // No `.first()`: its bound `LIMIT ?` makes SQLite (built with STAT4) re-prepare the cached
    // statement whenever the bound values change; a primary-key lookup needs no limit.
    articles::table
        .find(id.0)
        .select(Article::as_select())
        .get_result(conn)
        .optional()
}

/// `q` as the index sees it.
enum Needle {
    /// No `q`.
    Absent,
    /// Cannot be in any title (a control character, which titles never hold).
    Impossible,
    /// Folded, 1 or 2 characters: too short for trigrams; a scan of the indexed titles.
    Short(String),
    /// Folded, 3 characters or more: an FTS5 phrase (quoted, quotes doubled).
    Phrase(String),
}

impl Needle {
    fn of(q: Option<&str>) -> Self {
        let Some(q) = q else {
            return Self::Absent;
        };
        let folded = q.to_lowercase();
        if folded.chars().any(char::is_control) {
            Self::Impossible
        } else if folded.chars().nth(2).is_none() {
            Self::Short(folded)
        } else {
            Self::Phrase(format!("\"{}\"", folded.replace('"', "\"\"")))
        }
    }
}

/// A value bound to a `?` of the SQL the list builds.
#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Time(NaiveDateTime),
    Text(String),
}

/// SQL text with its `?` values, in order.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.text.push('?');
        self.binds.push(value);
        self
    }

    fn query(&self) -> BoxedSqlQuery<'static, Sqlite, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.text.clone()).into_boxed::<Sqlite>();
        for bind in &self.binds {
            query = match bind.clone() {
                Bind::Int(v) => query.bind::<BigInt, _>(v),
                Bind::Time(v) => query.bind::<diesel::sql_types::Timestamp, _>(v),
                Bind::Text(v) => query.bind::<Text, _>(v),
            };
        }
        query
    }
}

/// The FROM and WHERE of a filtered list (shared by its page and its count). With `q` the search
/// index drives the join (`s`), so only matching rows are read; the article columns are `a`.
fn filtered(filter: &ListFilter, needle: &Needle, for_count: bool) -> (Sql, &'static str) {
    let mut sql = Sql::default();
    let mut id = "a.id";
    let mut conditions: Vec<Sql> = Vec::new();
    match needle {
        Needle::Absent => {
            // Pinned: the index that bounds the rows read, whatever SQLite's guess.
            match (filter.updated_since, filter.sort.key) {
                (Some(_), _) | (None, SortKey::UpdatedAt) => {
                    sql.push(" FROM articles a INDEXED BY articles_updated_at");
                }
                (None, SortKey::CreatedAt) if !for_count => {
                    sql.push(" FROM articles a INDEXED BY articles_created_at");
                }
                (None, _) => {
                    sql.push(" FROM articles a");
                }
            }
        }
        Needle::Short(_) | Needle::Phrase(_) | Needle::Impossible => {
            if for_count && filter.updated_since.is_none() {
                sql.push(" FROM article_search s");
            } else {
                sql.push(" FROM article_search s CROSS JOIN articles a ON a.id = s.rowid");
            }
            id = "s.rowid";
        }
    }
    match needle {
        Needle::Absent => {}
        Needle::Impossible => conditions.push(Sql {
            text: "0".into(),
            binds: vec![],
        }),
        Needle::Short(folded) => {
            let mut c = Sql::default();
            c.push("instr(s.title_folded, ")
                .bind(Bind::Text(folded.clone()))
                .push(") > 0");
            conditions.push(c);
        }
        Needle::Phrase(phrase) => {
            let mut c = Sql::default();
            c.push("s.title_folded MATCH ")
                .bind(Bind::Text(phrase.clone()));
            conditions.push(c);
        }
    }
    if let Some(since) = filter.updated_since {
        let mut c = Sql::default();
        c.push("a.updated_at >= ").bind(Bind::Time(since.naive()));
        conditions.push(c);
    }
    if let (Some(after), false) = (filter.after, for_count) {
        let (op, column) = (
            if filter.sort.descending { "<" } else { ">" },
            sort_column(filter.sort.key),
        );
        let mut c = Sql::default();
        match (column, after.at) {
            (Some(column), Some(at)) => {
                c.push(&format!("({column}, {id}) {op} ("))
                    .bind(Bind::Time(at))
                    .push(", ")
                    .bind(Bind::Int(after.id))
                    .push(")");
            }
            _ => {
                c.push(&format!("{id} {op} ")).bind(Bind::Int(after.id));
            }
        }
        conditions.push(c);
    }
    for (i, condition) in conditions.into_iter().enumerate() {
        sql.push(if i == 0 { " WHERE " } else { " AND " });
        sql.text.push_str(&condition.text);
        sql.binds.extend(condition.binds);
    }
    (sql, id)
}

fn sort_column(key: SortKey) -> Option<&'static str> {
    match key {
        SortKey::Id => None,
        SortKey::CreatedAt => Some("a.created_at"),
        SortKey::UpdatedAt => Some("a.updated_at"),
    }
}

/// The SQL of a page: `limit + 1` rows (the extra one says whether there is a next page).
fn page_sql(filter: &ListFilter, needle: &Needle) -> Sql {
    let (from, id) = filtered(filter, needle, false);
    let mut sql = Sql::default();
    sql.push(
        "SELECT a.id AS id, a.title AS title, a.content AS content, \
         a.created_at AS created_at, a.updated_at AS updated_at",
    );
    sql.text.push_str(&from.text);
    sql.binds.extend(from.binds);
    let direction = if filter.sort.descending {
        "DESC"
    } else {
        "ASC"
    };
    match sort_column(filter.sort.key) {
        Some(column) => sql.push(&format!(" ORDER BY {column} {direction}, {id} {direction}")),
        None => sql.push(&format!(" ORDER BY {id} {direction}")),
    };
    // Limit and offset are written into the text, not bound: SQLite (built with STAT4)
    // re-prepares a statement whose bound LIMIT changes.
    sql.push(&format!(
        " LIMIT {} OFFSET {}",
        filter.limit.saturating_add(1),
        filter.offset
    ));
    sql
}

/// The SQL of a filtered count; `None` when the count is the kept total.
fn count_sql(filter: &ListFilter, needle: &Needle) -> Option<Sql> {
    if matches!(needle, Needle::Absent) && filter.updated_since.is_none() {
        return None;
    }
    let (from, _) = filtered(filter, needle, true);
    let mut sql = Sql::default();
    sql.push("SELECT count(*) AS n");
    sql.text.push_str(&from.text);
    sql.binds.extend(from.binds);
    Some(sql)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One page of `filter`, and how many articles match it in all, read in one transaction.
///
/// What it costs (N articles in the table, M matching the filter, P the page size):
/// - the page: O(P + offset) by index for every sort without `q` or `updated_since`, with
///   `updated_since` ordered by `updated_at`, and with a `q` of 3 characters or more ordered by
///   id; otherwise O(M) (the matching rows are sorted), and O(N) for a 1–2 character `q` (a scan
///   of the indexed titles, not of the articles);
/// - the total: O(1) without a filter (the kept count), O(M) with one (an index-only count), and
///   O(N) for a 1–2 character `q`.
pub fn list(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Page> {
    let needle = Needle::of(filter.title_contains.as_deref());
    conn.transaction(|conn| {
        let mut rows: Vec<Article> = page_sql(filter, &needle).query().load(conn)?;
        let more = rows.len() as i64 > filter.limit;
        rows.truncate(filter.limit.max(0) as usize);
        let next = more
            .then(|| rows.last().map(|last| Position::after(filter.sort, last)))
            .flatten();
        let total = if filter.after.is_none() && filter.offset == 0 && !more {
            rows.len() as i64
        } else {
            match count_sql(filter, &needle) {
                None => count(conn)?,
                Some(sql) => sql.query().get_result::<Count>(conn)?.n,
            }
        };
        Ok(Page {
            articles: rows,
            total,
            next,
        })
    })
}

/// The SQL `list` runs for `filter` (page, then count when there is one), for tests that read
/// SQLite's query plans.
#[doc(hidden)]
pub fn list_sql(filter: &ListFilter) -> Vec<(String, usize)> {
    let needle = Needle::of(filter.title_contains.as_deref());
    let mut all = vec![page_sql(filter, &needle)];
    all.extend(count_sql(filter, &needle));
    all.push(Sql {
        text: COUNT_SQL.into(),
        binds: vec![],
    });
    all.into_iter()
        .map(|sql| (sql.text, sql.binds.len()))
        .collect()
}

/// Rows the `article_rules` migration set aside (written before the rules, breaking them).
pub fn set_aside_count(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT count(*) AS n FROM articles_set_aside")
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

const COUNT_SQL: &str = "SELECT articles AS n FROM article_stats WHERE only_row = 1";

/// How many articles there are: the count every write keeps (see [`adjust_count`]), one row read.
pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query(COUNT_SQL)
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

/// Moves the kept count by `delta`. Every write that adds or removes rows of `articles` calls it
/// in its own transaction, so the count is never ahead of or behind the rows.
pub(crate) fn adjust_count(conn: &mut DbConnection, delta: i64) -> QueryResult<()> {
    if delta != 0 {
        diesel::sql_query("UPDATE article_stats SET articles = articles + ? WHERE only_row = 1")
            .bind::<BigInt, _>(delta)
            .execute(conn)?;
    }
    Ok(())
}

/// Recounts the table into the kept count (after a first load wrote rows without counting).
pub fn recount(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query(
        "UPDATE article_stats SET articles = (SELECT count(*) FROM articles) WHERE only_row = 1",
    )
    .execute(conn)?;
    count(conn)
}

/// Ids per `IN (...)` list of a delete.
const DELETE_CHUNK: usize = 400;

/// Removes `ids` from the search index. Only the ids it holds are deleted: FTS5 writes its
/// pending inserts out as a new segment whenever it is asked to write a rowid at or below the
/// last one it wrote, so deleting absent ids made a segment per statement.
pub(crate) fn unindex_titles(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let indexed: Vec<i64> = diesel::sql_query(
        "SELECT s.rowid AS id FROM json_each(?) j CROSS JOIN article_search s ON s.rowid = j.value",
    )
    .bind::<Text, _>(id_list(ids))
    .load::<Id>(conn)?
    .into_iter()
    .map(|row| row.id)
    .collect();
    if !indexed.is_empty() {
        diesel::sql_query(
            "DELETE FROM article_search WHERE rowid IN (SELECT value FROM json_each(?))",
        )
        .bind::<Text, _>(id_list(&indexed))
        .execute(conn)?;
    }
    Ok(())
}

/// Indexes the current titles of the articles `ids`, replacing what the index held for them
/// (`INSERT OR REPLACE`: FTS5 looks the rowid up itself and, when it holds it, removes the old
/// title's trigrams first; an id it does not hold costs one failed look-up, no segment). One
/// statement, because FTS5 writes out its pending entries as a segment of their own at the start
/// of every later statement of the transaction (its savepoint): indexed a chunk at a time beside
/// the rows, a 1M-row first load spent a fifth of its time writing and merging those segments.
/// Ids that are not articles are left out.
pub(crate) fn index_articles(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT OR REPLACE INTO article_search (rowid, title_folded) \
         SELECT a.id, fold_title(a.title) FROM json_each(?) j \
         CROSS JOIN articles a ON a.id = j.value",
    )
    .bind::<Text, _>(id_list(ids))
    .execute(conn)
    .map(drop)
}

/// How many of `ids` are articles now.
pub(crate) fn count_present(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT count(*) AS n FROM articles WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind::<Text, _>(id_list(ids))
    .get_result::<Count>(conn)
    .map(|c| c.n)
}

/// `ids` as a JSON array, one bind for any number of ids (`json_each`).
fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).expect("integers serialize")
}

/// Rebuilds the search index from `articles` (after a first load wrote rows without it). FTS5
/// keeps up to `hashsize` bytes of new entries in memory before it writes them out as a segment
/// (and merges segments); for the rebuild that is 32 MiB instead of 1 MiB, then back to the
/// default (building it for 1M titles: 1.8 s instead of 2.5 s).
pub fn rebuild_search(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM article_search").execute(conn)?;
    set_search_hashsize(conn, REBUILD_HASHSIZE)?;
    diesel::sql_query(
        "INSERT INTO article_search (rowid, title_folded) SELECT id, fold_title(title) FROM articles",
    )
    .execute(conn)?;
    set_search_hashsize(conn, DEFAULT_HASHSIZE)
}

/// FTS5's own default `hashsize`, and the one a rebuild uses (see [`rebuild_search`]).
const DEFAULT_HASHSIZE: i64 = 1 << 20;
const REBUILD_HASHSIZE: i64 = 32 << 20;

fn set_search_hashsize(conn: &mut DbConnection, bytes: i64) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO article_search (article_search, rank) VALUES ('hashsize', ?)")
        .bind::<BigInt, _>(bytes)
        .execute(conn)
        .map(drop)
}

/// Inserts one article. The kept count and the search index are the caller's to update, in
/// the same transaction: see [`IndexChanges`] (the writer does it once per group commit).
pub fn insert(conn: &mut DbConnection, new: &NewArticle) -> QueryResult<Article> {
    diesel::insert_into(articles::table)
        .values(new)
        .returning(Article::as_returning())
        .get_result(conn)
}

/// Applies `changes`; `None` when the article does not exist. A changed title must be
/// reindexed by the caller ([`IndexChanges`]).
pub fn update(
    conn: &mut DbConnection,
    id: ArticleId,
    changes: &ArticleChanges,
) -> QueryResult<Option<Article>> {
    diesel::update(articles::table.find(id.0))
        .set(changes)
        .returning(Article::as_returning())
        .get_result::<Article>(conn)
        .optional()
}

/// Deletes one article; `false` when there was none. The count and the index are the
/// caller's ([`IndexChanges`]).
pub fn delete(conn: &mut DbConnection, id: ArticleId) -> QueryResult<bool> {
    diesel::delete(articles::table.find(id.0))
        .execute(conn)
        .map(|n| n > 0)
}

/// What single-article writes did to the rows, for the kept count and the search index: applied
/// once for many writes, in their transaction ([`IndexChanges::apply`]). Once rather than per
/// write, because FTS5 writes its pending entries out as a segment at the end of every savepoint
/// (the writer runs each op in one): per write, POST /articles ran at about half its rate.
#[derive(Debug, Default)]
pub struct IndexChanges {
    /// Articles created, or whose title changed.
    indexed: Vec<i64>,
    /// Articles deleted.
    removed: Vec<i64>,
    /// Rows added minus rows removed.
    delta: i64,
}

impl IndexChanges {
    pub fn created(&mut self, id: i64) {
        self.indexed.push(id);
        self.delta += 1;
    }

    pub fn retitled(&mut self, id: i64) {
        self.indexed.push(id);
    }

    pub fn deleted(&mut self, id: i64) {
        self.removed.push(id);
        self.delta -= 1;
    }

    pub fn is_empty(&self) -> bool {
        self.indexed.is_empty() && self.removed.is_empty()
    }

    /// Brings the count and the index in line with the rows: deleted ids are removed from the
    /// index, and those created or retitled that are still articles are (re)indexed from their
    /// current title.
    pub fn apply(self, conn: &mut DbConnection) -> QueryResult<()> {
        let mut removed = self.removed;
        removed.sort_unstable();
        removed.dedup();
        unindex_titles(conn, &removed)?;
        let mut indexed = self.indexed;
        indexed.sort_unstable();
        indexed.dedup();
        index_articles(conn, &indexed)?;
        adjust_count(conn, self.delta)
    }
}

/// Deletes the articles with these ids, with their index entries and the kept count; returns
/// how many there were.
pub fn delete_many(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<usize> {
    let mut deleted = 0;
    for chunk in ids.chunks(DELETE_CHUNK) {
        deleted +=
            diesel::delete(articles::table.filter(articles::id.eq_any(chunk))).execute(conn)?;
        unindex_titles(conn, chunk)?;
    }
    adjust_count(conn, -(deleted as i64))?;
    Ok(deleted)
}

/// What an Idempotency-Key was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    pub key: String,
    pub request_hash: String,
    pub article_id: i64,
    pub created_at: chrono::NaiveDateTime,
}

pub fn find_idempotency_key(
    conn: &mut DbConnection,
    key: &str,
) -> QueryResult<Option<IdempotencyRecord>> {
    idempotency_keys::table.find(key).first(conn).optional()
}

pub fn insert_idempotency_key(
    conn: &mut DbConnection,
    record: &IdempotencyRecord,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(record)
        .execute(conn)
        .map(drop)
}

/// Forgets keys first used before `before`; returns how many.
pub fn purge_idempotency_keys(conn: &mut DbConnection, before: Timestamp) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before.naive())))
        .execute(conn)
}
