//! Queries on `articles` and `idempotency_keys`. Every function takes a connection and returns
//! `QueryResult`; transactions, batching and threads are the caller's business ([`super::writer`]).
//! This is the one place that spells SQL for articles; it knows nothing of HTTP.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::models::{Article, ArticleChanges, ArticleId, NewArticle, Timestamp};
use super::schema::{articles, idempotency_keys};
use super::DbConnection;

diesel::define_sql_function! {
    /// Unicode-aware case-insensitive substring test, registered on every connection
    /// (SQLite's own LIKE folds ASCII only).
    fn contains_ci(haystack: Text, needle: Text) -> Bool;
}

/// Registers the SQL functions the queries below rely on. Called for every new connection.
pub(crate) fn register_functions(conn: &mut DbConnection) -> QueryResult<()> {
    contains_ci_utils::register_impl(conn, |haystack: String, needle: String| {
        if haystack.is_ascii() && needle.is_ascii() {
            haystack
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase())
        } else {
            haystack.to_lowercase().contains(&needle.to_lowercase())
        }
    })
}

/// Which page of which articles to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub limit: i64,
    pub offset: i64,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    /// Only articles updated at or after this instant.
    pub updated_since: Option<Timestamp>,
}

/// One page of articles plus how many match the filter in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub articles: Vec<Article>,
    pub total: i64,
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

pub fn list(conn: &mut DbConnection, filter: &ListFilter) -> QueryResult<Page> {
    let filtered = || {
        let mut query = articles::table.into_boxed();
        if let Some(needle) = &filter.title_contains {
            query = query.filter(contains_ci(articles::title, needle.clone()));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(articles::updated_at.ge(since.naive()));
        }
        query
    };
    let articles = filtered()
        .select(Article::as_select())
        .order(articles::id.asc())
        .limit(filter.limit)
        .offset(filter.offset)
        .load(conn)?;
    let total = if filter.offset == 0 && (articles.len() as i64) < filter.limit {
        articles.len() as i64
    } else {
        filtered().count().get_result(conn)?
    };
    Ok(Page { articles, total })
}

/// Rows the `article_rules` migration set aside (written before the rules, breaking them).
pub fn set_aside_count(conn: &mut DbConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM articles_set_aside")
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    articles::table.count().get_result(conn)
}

pub fn insert(conn: &mut DbConnection, new: &NewArticle) -> QueryResult<Article> {
    diesel::insert_into(articles::table)
        .values(new)
        .returning(Article::as_returning())
        .get_result(conn)
}

/// Applies `changes`; `None` when the article does not exist.
pub fn update(
    conn: &mut DbConnection,
    id: ArticleId,
    changes: &ArticleChanges,
) -> QueryResult<Option<Article>> {
    diesel::update(articles::table.find(id.0))
        .set(changes)
        .returning(Article::as_returning())
        .get_result(conn)
        .optional()
}

/// Deletes one article; `false` when there was none.
pub fn delete(conn: &mut DbConnection, id: ArticleId) -> QueryResult<bool> {
    diesel::delete(articles::table.find(id.0))
        .execute(conn)
        .map(|n| n > 0)
}

/// Overwrites (or creates) the row with `row.id`, keeping its id and timestamps exactly.
pub fn put_row(conn: &mut DbConnection, row: &Article) -> QueryResult<()> {
    diesel::replace_into(articles::table)
        .values((
            articles::id.eq(row.id),
            articles::title.eq(&row.title),
            articles::content.eq(&row.content),
            articles::created_at.eq(row.created_at),
            articles::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(drop)
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
