//! Reads: one article, pages of articles with their total, the kept count.
//!
//! A page is the SQLite store's page for the same rows (the same order, ties broken by id, the
//! same `total` and `next`), read from indexes: the primary key for `id` orders, `(created_at, id)`
//! and `(updated_at, id)` for the others (keyset cursors are row comparisons on them), the
//! trigram index of `title_folded` for `q` (a LIKE of the folded `q`, LIKE's own characters
//! escaped; 1–2 characters have no trigram, and scan the titles as on SQLite).

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};

use super::schema::articles;
use crate::db::list::{ListFilter, Page, Position, SortKey};
use crate::db::models::{Article, ArticleId};

/// An article as this store reads it, named by column (SQL text) or by position (the query
/// builder). Its own type rather than [`Article`]'s Diesel derives, which read SQLite's
/// timestamps.
#[derive(Queryable, QueryableByName)]
pub(super) struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    content: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    updated_at: NaiveDateTime,
}

impl From<Row> for Article {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            title: row.title,
            content: row.content,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(super) fn get(conn: &mut PgConnection, id: ArticleId) -> QueryResult<Option<Article>> {
    // The query builder rather than SQL text: Diesel prepares it once per connection.
    articles::table
        .find(id.0)
        .select((
            articles::id,
            articles::title,
            articles::content,
            articles::created_at,
            articles::updated_at,
        ))
        .get_result::<Row>(conn)
        .optional()
        .map(|row| row.map(Article::from))
}

#[derive(QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// The kept count: one row, kept by every write that adds or removes articles.
pub(super) fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT articles AS n FROM article_stats WHERE only_row = 1")
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

/// `q` as the query sees it.
enum Needle {
    /// No `q`.
    Absent,
    /// Cannot be in any title (a control character, which titles never hold; PostgreSQL could
    /// not even take a NUL as a parameter).
    Impossible,
    /// A LIKE pattern: `%`, the folded `q` with `\`, `%` and `_` escaped, `%`.
    Like(String),
}

impl Needle {
    fn of(q: Option<&str>) -> Self {
        let Some(q) = q else {
            return Self::Absent;
        };
        let folded = super::fold_title(q);
        if folded.chars().any(char::is_control) {
            return Self::Impossible;
        }
        let mut pattern = String::with_capacity(folded.len() + 2);
        pattern.push('%');
        for c in folded.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Self::Like(pattern)
    }
}

/// A value bound to a `$n` of the SQL a list builds.
#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Time(NaiveDateTime),
    Text(String),
}

/// SQL text with its `$n` values, in order.
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
        self.binds.push(value);
        self.text.push_str(&format!("${}", self.binds.len()));
        self
    }

    fn query(&self, prefix: &str) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let mut query = diesel::sql_query(format!("{prefix}{}", self.text)).into_boxed::<Pg>();
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

fn sort_column(key: SortKey) -> Option<&'static str> {
    match key {
        SortKey::Id => None,
        SortKey::CreatedAt => Some("created_at"),
        SortKey::UpdatedAt => Some("updated_at"),
    }
}

/// Appends the FROM and WHERE of a filtered list (shared by its page and its count).
fn push_filtered(sql: &mut Sql, filter: &ListFilter, needle: &Needle, for_count: bool) {
    sql.push(" FROM articles");
    let mut first = true;
    let mut and = |sql: &mut Sql| {
        sql.push(if first { " WHERE " } else { " AND " });
        first = false;
    };
    match needle {
        Needle::Absent => {}
        Needle::Impossible => {
            and(sql);
            sql.push("FALSE");
        }
        Needle::Like(pattern) => {
            and(sql);
            sql.push("title_folded LIKE ")
                .bind(Bind::Text(pattern.clone()));
        }
    }
    if let Some(since) = filter.updated_since {
        and(sql);
        sql.push("updated_at >= ").bind(Bind::Time(since.naive()));
    }
    if let (Some(after), false) = (filter.after, for_count) {
        and(sql);
        let op = if filter.sort.descending { "<" } else { ">" };
        match (sort_column(filter.sort.key), after.at) {
            (Some(column), Some(at)) => {
                sql.push(&format!("({column}, id) {op} ("))
                    .bind(Bind::Time(at))
                    .push(", ")
                    .bind(Bind::Int(after.id))
                    .push(")");
            }
            _ => {
                sql.push(&format!("id {op} ")).bind(Bind::Int(after.id));
            }
        }
    }
}

/// The SQL of a page: `limit + 1` rows (the extra one says whether there is a next page).
fn page_sql(filter: &ListFilter, needle: &Needle) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT id, title, content, created_at, updated_at");
    push_filtered(&mut sql, filter, needle, false);
    let direction = if filter.sort.descending {
        "DESC"
    } else {
        "ASC"
    };
    match sort_column(filter.sort.key) {
        Some(column) => sql.push(&format!(" ORDER BY {column} {direction}, id {direction}")),
        None => sql.push(&format!(" ORDER BY id {direction}")),
    };
    sql.push(&format!(
        " LIMIT {} OFFSET {}",
        filter.limit.saturating_add(1).max(0),
        filter.offset.max(0)
    ));
    sql
}

/// The SQL of a filtered count; `None` when the count is the kept total.
fn count_sql(filter: &ListFilter, needle: &Needle) -> Option<Sql> {
    if matches!(needle, Needle::Absent) && filter.updated_since.is_none() {
        return None;
    }
    let mut sql = Sql::default();
    sql.push("SELECT count(*) AS n");
    push_filtered(&mut sql, filter, needle, true);
    Some(sql)
}

/// One page of `filter`, and how many articles match it in all, read in one snapshot
/// (a read-only REPEATABLE READ transaction: the page and its count agree, as on SQLite).
pub(super) fn list(conn: &mut PgConnection, filter: &ListFilter) -> QueryResult<Page> {
    let needle = Needle::of(filter.title_contains.as_deref());
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| {
            let mut rows: Vec<Article> = page_sql(filter, &needle)
                .query("")
                .load::<Row>(conn)?
                .into_iter()
                .map(Article::from)
                .collect();
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
                    Some(sql) => sql.query("").get_result::<Count>(conn)?.n,
                }
            };
            Ok(Page {
                articles: rows,
                total,
                next,
            })
        })
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// `EXPLAIN (FORMAT JSON)` of the page and the count statements of `filter`.
pub(super) fn explain(conn: &mut PgConnection, filter: &ListFilter) -> QueryResult<Vec<String>> {
    let needle = Needle::of(filter.title_contains.as_deref());
    let mut plans = Vec::new();
    for sql in std::iter::once(page_sql(filter, &needle)).chain(count_sql(filter, &needle)) {
        let plan: Plan = sql.query("EXPLAIN (FORMAT JSON) ").get_result(conn)?;
        plans.push(plan.plan);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_is_folded_and_escaped_for_like() {
        let like = |q: &str| match Needle::of(Some(q)) {
            Needle::Like(pattern) => pattern,
            _ => panic!("{q:?} is not a pattern"),
        };
        assert_eq!(like("ÄbC"), "%äbc%");
        assert_eq!(like(r"50%_off\"), r"%50\%\_off\\%");
        assert_eq!(like("ΟΔΟΣ"), "%οδος%");
        assert!(matches!(Needle::of(Some("a\0b")), Needle::Impossible));
        assert!(matches!(Needle::of(Some("tab\t")), Needle::Impossible));
        assert!(matches!(Needle::of(None), Needle::Absent));
    }
}
