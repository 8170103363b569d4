//! What `articles sync` needs of a database server it writes into (PostgreSQL, MySQL): the
//! per-id sync state, and batches applied with their state in one transaction. A SQLite
//! destination is a file sync opens itself (`db::sqlite::sync_state`), not one of these.

use super::models::Timestamp;
use super::sqlite::sync_state::StateEntry;
use super::write::{BulkChanges, BulkOutcome};
use super::StoreError;

/// A database server written by sync: rows and `sync_state` in one transaction per batch.
pub trait SyncDestination {
    /// The URL without its password.
    fn name(&self) -> &str;

    /// Whether the table `name` exists (a database sync never set up has none).
    fn has_table(&mut self, name: &str) -> Result<bool, StoreError>;

    /// Number of ids sync manages.
    fn state_count(&mut self) -> Result<i64, StoreError>;

    /// Whether `sync_state` exists and holds entries (read-only check, for dry runs).
    fn state_present(&mut self) -> Result<bool, StoreError> {
        if !self.has_table("sync_state")? {
            return Ok(false);
        }
        Ok(self.state_count()? > 0)
    }

    /// Forgets every digest and marks every article present as unknown (digest 0), in one
    /// transaction; returns how many were marked.
    fn state_reset_from_articles(&mut self) -> Result<usize, StoreError>;

    /// Up to `limit` state entries with `id > after`, in id order.
    fn state_page(&mut self, after: i64, limit: i64) -> Result<Vec<StateEntry>, StoreError>;

    /// Every article with `id > after` (at most `limit`) as an unknown entry (digest 0): the
    /// state of a destination sync did not create, for dry runs.
    fn unknown_state_page(&mut self, after: i64, limit: i64)
        -> Result<Vec<StateEntry>, StoreError>;

    /// Applies `changes` (without `keep_newer`), records `put` and forgets `forget` in
    /// `sync_state`, all in one transaction.
    fn apply(
        &mut self,
        changes: &BulkChanges,
        put: &[StateEntry],
        forget: &[i64],
        now: Timestamp,
    ) -> Result<BulkOutcome, StoreError>;
}
