//! Applying a batch of upserts and deletes that keep ids and timestamps: the replication
//! primitive behind `POST /articles/bulk` and `articles sync` into a SQLite file.

use std::collections::HashSet;

use diesel::prelude::*;

use super::articles;
use super::models::{Article, ArticleId, Timestamp, Title};
use super::schema::articles as articles_table;
use super::DbConnection;

/// One article to create or overwrite. Missing timestamps are filled so that applying the same
/// row twice changes nothing the second time (see [`apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertRow {
    pub id: ArticleId,
    pub title: Title,
    /// Replicated verbatim; may be empty, unlike content written through `POST /articles`.
    pub content: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// A validated batch: no id appears twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkChanges {
    upsert: Vec<UpsertRow>,
    delete: Vec<ArticleId>,
}

/// Why a batch was refused before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    #[error("id {0} appears more than once in upsert")]
    DuplicateUpsert(ArticleId),
    #[error("id {0} appears more than once in delete")]
    DuplicateDelete(ArticleId),
    #[error("id {0} appears in both upsert and delete")]
    UpsertAndDelete(ArticleId),
}

impl BulkChanges {
    pub fn new(upsert: Vec<UpsertRow>, delete: Vec<ArticleId>) -> Result<Self, BulkError> {
        let mut seen = HashSet::with_capacity(upsert.len());
        for row in &upsert {
            if !seen.insert(row.id) {
                return Err(BulkError::DuplicateUpsert(row.id));
            }
        }
        let mut deleted = HashSet::with_capacity(delete.len());
        for &id in &delete {
            if seen.contains(&id) {
                return Err(BulkError::UpsertAndDelete(id));
            }
            if !deleted.insert(id) {
                return Err(BulkError::DuplicateDelete(id));
            }
        }
        Ok(Self { upsert, delete })
    }

    pub fn upsert(&self) -> &[UpsertRow] {
        &self.upsert
    }

    pub fn delete(&self) -> &[ArticleId] {
        &self.delete
    }

    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.delete.is_empty()
    }
}

/// What a batch did, row by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// Applies `changes` on `conn`. Run it inside a transaction: it is all or nothing only then.
///
/// Timestamps: given ones are kept exactly. A new row without them gets `created_at` =
/// `updated_at` = the one given, else `now`. An existing row keeps its `created_at` unless one is
/// given, and its `updated_at` unless one is given or the title or content changes (then `now`).
/// So the same batch applied twice leaves the same state and reports it unchanged.
pub fn apply(
    conn: &mut DbConnection,
    changes: &BulkChanges,
    now: Timestamp,
) -> QueryResult<BulkOutcome> {
    let mut outcome = BulkOutcome::default();
    for row in &changes.upsert {
        match articles::get(conn, row.id)? {
            None => {
                let created = row.created_at.or(row.updated_at).unwrap_or(now);
                let updated = row.updated_at.or(row.created_at).unwrap_or(now);
                diesel::insert_into(articles_table::table)
                    .values((
                        articles_table::id.eq(row.id.0),
                        articles_table::title.eq(row.title.as_str()),
                        articles_table::content.eq(&row.content),
                        articles_table::created_at.eq(created.naive()),
                        articles_table::updated_at.eq(updated.naive()),
                    ))
                    .execute(conn)?;
                outcome.inserted += 1;
            }
            Some(current) => {
                let text_changed =
                    current.title != row.title.as_str() || current.content != row.content;
                let target = Article {
                    id: current.id,
                    title: row.title.as_str().to_owned(),
                    content: row.content.clone(),
                    created_at: row.created_at.map_or(current.created_at, Timestamp::naive),
                    updated_at: match row.updated_at {
                        Some(at) => at.naive(),
                        None if text_changed => now.naive(),
                        None => current.updated_at,
                    },
                };
                if target == current {
                    outcome.unchanged += 1;
                } else {
                    diesel::update(articles_table::table.find(current.id))
                        .set((
                            articles_table::title.eq(&target.title),
                            articles_table::content.eq(&target.content),
                            articles_table::created_at.eq(target.created_at),
                            articles_table::updated_at.eq(target.updated_at),
                        ))
                        .execute(conn)?;
                    outcome.updated += 1;
                }
            }
        }
    }
    for &id in &changes.delete {
        if articles::delete(conn, id)? {
            outcome.deleted += 1;
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> UpsertRow {
        UpsertRow {
            id: ArticleId(id),
            title: Title::parse(format!("t{id}")).unwrap(),
            content: String::new(),
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn refuses_ambiguous_batches() {
        assert_eq!(
            BulkChanges::new(vec![row(1), row(1)], vec![]),
            Err(BulkError::DuplicateUpsert(ArticleId(1)))
        );
        assert_eq!(
            BulkChanges::new(vec![row(1)], vec![ArticleId(1)]),
            Err(BulkError::UpsertAndDelete(ArticleId(1)))
        );
        assert_eq!(
            BulkChanges::new(vec![], vec![ArticleId(2), ArticleId(2)]),
            Err(BulkError::DuplicateDelete(ArticleId(2)))
        );
        assert!(BulkChanges::new(vec![row(1), row(2)], vec![ArticleId(3)]).is_ok());
    }
}
