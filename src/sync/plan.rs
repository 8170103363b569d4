//! Change detection: the merge-join of one id range of the source with the sync state of the
//! same range, giving the [`BatchPlan`] to apply. Pure: no I/O, so it is tested on its own.

use crate::db::models::ArticleId;
use crate::db::sqlite::sync_state::{RawArticle, StateEntry};
use crate::db::write::UpsertRow;

use super::record::{Rejected, SourceArticle};

/// What one id range needs: the rows to write (with their digests), the ids to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchPlan {
    /// Rows new to the destination (no state entry).
    pub insert: Vec<(UpsertRow, i64)>,
    /// Rows whose digest differs from the state's (or the state says "unknown").
    pub update: Vec<(UpsertRow, i64)>,
    /// Ids in the state that the source no longer has (empty with `--no-delete`).
    pub delete: Vec<ArticleId>,
    /// Rows whose digest matches the state: nothing to do.
    pub unchanged: u64,
    /// Source rows that cannot be copied; the destination keeps what it has for them.
    pub rejected: Vec<Rejected>,
}

impl BatchPlan {
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// Rows to write plus ids to delete.
    pub fn changes(&self) -> usize {
        self.insert.len() + self.update.len() + self.delete.len()
    }

    /// The id of the one change, when the plan holds exactly one.
    pub fn only_id(&self) -> Option<i64> {
        if self.changes() != 1 {
            return None;
        }
        self.insert
            .iter()
            .chain(&self.update)
            .map(|(row, _)| row.id.0)
            .chain(self.delete.iter().map(|id| id.0))
            .next()
    }

    /// Splits the changes into two plans of about half each, both non-empty when there are at
    /// least two. Counts (`unchanged`, `rejected`) stay with neither: they are the whole plan's.
    pub fn split(self) -> (BatchPlan, BatchPlan) {
        let mut take = self.changes() / 2;
        let mut first = BatchPlan::default();
        let mut second = BatchPlan::default();
        for (from, first_part, second_part) in [
            (self.insert, &mut first.insert, &mut second.insert),
            (self.update, &mut first.update, &mut second.update),
        ] {
            let n = take.min(from.len());
            take -= n;
            let mut from = from;
            *second_part = from.split_off(n);
            *first_part = from;
        }
        let mut delete = self.delete;
        let n = take.min(delete.len());
        second.delete = delete.split_off(n);
        first.delete = delete;
        (first, second)
    }

    /// Drops the changes of the rejected ids (they were not applied).
    pub fn remove_rejected(&mut self, rejected: &[Rejected]) {
        if rejected.is_empty() {
            return;
        }
        let ids: std::collections::HashSet<i64> = rejected.iter().map(|r| r.id).collect();
        self.insert.retain(|(row, _)| !ids.contains(&row.id.0));
        self.update.retain(|(row, _)| !ids.contains(&row.id.0));
        self.delete.retain(|id| !ids.contains(&id.0));
    }
}

/// Merges `source` (rows of one id range, in id order) with `state` (entries of the same range,
/// in id order). `delete`: whether ids missing from the source are deleted.
pub fn plan_batch(source: Vec<RawArticle>, state: &[StateEntry], delete: bool) -> BatchPlan {
    let mut plan = BatchPlan::default();
    let mut state = state.iter().peekable();
    for raw in source {
        let id = raw.id;
        // State entries before this row: gone from the source.
        while let Some(entry) = state.next_if(|e| e.id < id) {
            if delete {
                plan.delete.push(ArticleId(entry.id));
            }
        }
        let known = state.next_if(|e| e.id == id).map(|e| e.digest);
        match SourceArticle::try_from(raw) {
            Err(rejected) => plan.rejected.push(rejected),
            Ok(article) => match known {
                None => plan.insert.push((article.row, article.digest)),
                Some(digest) if digest == article.digest => plan.unchanged += 1,
                Some(_) => plan.update.push((article.row, article.digest)),
            },
        }
    }
    if delete {
        plan.delete.extend(state.map(|e| ArticleId(e.id)));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::record::digest;

    fn raw(id: i64, content: &str) -> RawArticle {
        RawArticle {
            id,
            title: Some(format!("t{id}")),
            content: Some(content.into()),
            created_at: None,
            updated_at: None,
            invalid_text: None,
            fingerprint: None,
        }
    }

    fn state(id: i64, content: &str) -> StateEntry {
        StateEntry {
            id,
            digest: digest(&format!("t{id}"), content, None, None),
        }
    }

    #[test]
    fn merge_finds_inserts_updates_deletes_and_unchanged() {
        let source = vec![
            raw(1, "same"),
            raw(3, "new"),
            raw(4, "changed"),
            raw(6, "x"),
        ];
        let known = [
            state(1, "same"),
            state(2, "gone"),
            state(4, "old"),
            state(9, "gone"),
        ];
        let plan = plan_batch(source, &known, true);
        let ids = |rows: &[(UpsertRow, i64)]| rows.iter().map(|r| r.0.id.0).collect::<Vec<_>>();
        assert_eq!(ids(&plan.insert), [3, 6]);
        assert_eq!(ids(&plan.update), [4]);
        assert_eq!(plan.delete, [ArticleId(2), ArticleId(9)]);
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn split_halves_down_to_single_changes() {
        let source: Vec<RawArticle> = (1..=5).map(|id| raw(id, "c")).collect();
        let known = [state(2, "old"), state(7, "gone")];
        let plan = plan_batch(source, &known, true);
        assert_eq!(plan.changes(), 6);
        let (a, b) = plan.split();
        assert_eq!((a.changes(), b.changes()), (3, 3));
        let (c, d) = b.split();
        assert_eq!((c.changes(), d.changes()), (1, 2));
        assert_eq!(c.only_id(), Some(5));
        let (e, f) = d.split();
        assert_eq!((e.only_id(), f.only_id()), (Some(2), Some(7)));
    }

    #[test]
    fn no_delete_keeps_vanished_ids_and_rejected_rows_touch_nothing() {
        let mut blank = raw(2, "c");
        blank.title = Some("  ".into());
        let plan = plan_batch(vec![blank], &[state(1, "a"), state(2, "b")], false);
        assert!(plan.is_empty());
        assert_eq!(plan.rejected.len(), 1);
        assert_eq!(plan.rejected[0].id, 2);
    }
}
