//! What a write asks and answers, for every store: single-article ops with their preconditions
//! and Idempotency-Key claims, batches of upserts and deletes that keep ids and timestamps (the
//! replication primitive behind `POST /articles/bulk` and `articles sync`), outcomes and errors.
//! Backend-free: each store carries them out in its own SQL.

use std::collections::HashSet;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::result::Error as DieselError;

use super::error::StoreError;
use super::models::{Article, ArticleId, Content, Timestamp, Title};

/// Which current versions of a row a write accepts (from an HTTP `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// No condition.
    #[default]
    None,
    /// `If-Match: *`: the row must exist.
    Exists,
    /// The row's [`Article::version_tag`] must be one of these.
    VersionIn(Vec<u64>),
}

impl Precondition {
    pub fn holds(&self, current: &Article) -> bool {
        match self {
            Self::None | Self::Exists => true,
            Self::VersionIn(tags) => tags.contains(&current.version_tag()),
        }
    }
}

/// An Idempotency-Key claimed by a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    /// Fingerprint of the request body; a reuse with another body is refused.
    pub request_hash: String,
    /// How long the key is remembered.
    pub ttl: Duration,
}

/// A write, as queued to the writer.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Create {
        title: Title,
        content: Content,
        idempotency: Option<IdempotencyClaim>,
    },
    Update {
        id: ArticleId,
        title: Option<Title>,
        content: Option<Content>,
        precondition: Precondition,
    },
    Delete {
        id: ArticleId,
        precondition: Precondition,
    },
    Bulk(BulkChanges),
    /// Changes nothing; succeeds once the writer holds SQLite's write lock (a health check).
    Probe,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// `replayed`: the Idempotency-Key was seen before and nothing new was created.
    Created {
        article: Article,
        replayed: bool,
    },
    Updated(Article),
    Deleted,
    Bulk(BulkOutcome),
    Probed,
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("article not found")]
    NotFound,
    #[error("the article has changed since it was read (If-Match does not match)")]
    PreconditionFailed,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// The database refused the write or could not do it; classified where it happened.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database writer has stopped")]
    WriterGone,
}

impl WriteError {
    /// Whether the same write may succeed later unchanged (see [`StoreError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotFound | Self::PreconditionFailed | Self::IdempotencyKeyReused => false,
            Self::Store(error) => error.is_retryable(),
            Self::WriterGone => true,
        }
    }
}

impl From<DieselError> for WriteError {
    fn from(error: DieselError) -> Self {
        Self::Store(StoreError::classify(&error))
    }
}

/// One article to create or overwrite. Missing timestamps are filled so that applying the same
/// row twice changes nothing the second time (see [`apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertRow {
    pub id: ArticleId,
    pub title: Title,
    /// Replicated verbatim; may be empty, unlike content written through `POST /articles`.
    pub content: Content,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// A validated batch: no id appears twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkChanges {
    upsert: Vec<UpsertRow>,
    delete: Vec<ArticleId>,
    /// The stale-update guard (see [`apply`]).
    keep_newer: bool,
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
        Ok(Self {
            upsert,
            delete,
            keep_newer: false,
        })
    }

    /// With `true`, an upsert whose `updated_at` is older than the stored row's is left out.
    pub fn keep_newer(mut self, keep_newer: bool) -> Self {
        self.keep_newer = keep_newer;
        self
    }

    /// Whether upserts older than the stored row are left out (see [`Self::keep_newer`]).
    pub fn keeps_newer(&self) -> bool {
        self.keep_newer
    }

    pub fn upsert(&self) -> &[UpsertRow] {
        &self.upsert
    }

    pub fn delete(&self) -> &[ArticleId] {
        &self.delete
    }

    /// Every id the batch upserts or deletes, in ascending order (the order rows are locked in,
    /// so that two batches never wait for each other's ids in opposite orders).
    pub fn named_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .upsert
            .iter()
            .map(|row| row.id.0)
            .chain(self.delete.iter().map(|id| id.0))
            .collect();
        ids.sort_unstable();
        ids
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
    /// Upserts left out because the stored row is newer (only with `keep_newer`).
    pub stale: u64,
}

/// A row of a batch as it will be written, its timestamps decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided<'a> {
    pub row: &'a UpsertRow,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a batch's upserts do against the rows they name as they are stored: the rules every
/// store applies (the SQLite store's `bulk::apply`, the server stores' batches).
#[derive(Debug, Default)]
pub struct Decision<'a> {
    /// Rows present and changed (text or a timestamp).
    pub changed: Vec<Decided<'a>>,
    /// Rows not present, in id order.
    pub fresh: Vec<Decided<'a>>,
    /// `updated`, `unchanged` and `stale` counted; `inserted` and `deleted` are the writer's.
    pub outcome: BulkOutcome,
}

impl BulkChanges {
    /// Decides each upsert against `current` (the stored rows among the batch's ids) at `now`:
    /// - a present row is `stale` when `keep_newer` and the stored one is newer; else `changed`
    ///   (given timestamps kept, `updated_at` moved to `now` when the text changed without one)
    ///   or `unchanged`;
    /// - an absent row is `fresh`: given timestamps kept, one standing in for a missing other,
    ///   else `now`.
    pub fn decide(
        &self,
        mut current: std::collections::HashMap<i64, Article>,
        now: Timestamp,
    ) -> Decision<'_> {
        let mut decision = Decision::default();
        for row in &self.upsert {
            let Some(current) = current.remove(&row.id.0) else {
                let created_at = row.created_at.or(row.updated_at).unwrap_or(now).naive();
                let updated_at = row.updated_at.or(row.created_at).unwrap_or(now).naive();
                decision.fresh.push(Decided {
                    row,
                    created_at,
                    updated_at,
                });
                continue;
            };
            if self.keep_newer
                && row
                    .updated_at
                    .is_some_and(|at| at.naive() < current.updated_at)
            {
                decision.outcome.stale += 1;
                continue;
            }
            let text_changed =
                current.title != row.title.as_str() || current.content != row.content.as_str();
            let created_at = row.created_at.map_or(current.created_at, Timestamp::naive);
            let updated_at = match row.updated_at {
                Some(at) => at.naive(),
                None if text_changed => now.naive(),
                None => current.updated_at,
            };
            if !text_changed && created_at == current.created_at && updated_at == current.updated_at
            {
                decision.outcome.unchanged += 1;
            } else {
                decision.changed.push(Decided {
                    row,
                    created_at,
                    updated_at,
                });
                decision.outcome.updated += 1;
            }
        }
        // In id order, as every batch locks and inserts: two batches never wait for each other's
        // ids in opposite orders.
        decision.fresh.sort_unstable_by_key(|d| d.row.id);
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> UpsertRow {
        UpsertRow {
            id: ArticleId(id),
            title: Title::parse(format!("t{id}")).unwrap(),
            content: Content::default(),
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
