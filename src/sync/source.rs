//! What a sync or verify reads: a SQLite file ([`SourceDb`]) or a PostgreSQL database
//! ([`PgSource`]), both read-only, both giving the same pages of [`RawArticle`]s in id order.
//!
//! [`RawArticle`]: crate::db::sqlite::sync_state::RawArticle

use crate::db::pg::sync::PgSource;
use crate::db::sqlite::sync_state::{SourceDb, SourcePage};
use crate::db::Location;

/// A database read in id order, one keyset page at a time, never written.
pub enum Source {
    Sqlite(SourceDb),
    Postgres(PgSource),
}

impl From<SourceDb> for Source {
    fn from(db: SourceDb) -> Self {
        Self::Sqlite(db)
    }
}

impl Source {
    /// Opens `raw` (a SQLite path or `sqlite:` URL, or a `postgres://` URL) read-only; `role`
    /// names it in errors (`source`, `destination`).
    pub fn open(raw: &str, role: &'static str) -> anyhow::Result<Self> {
        Ok(match Location::parse(raw) {
            Location::Sqlite(path) => Self::Sqlite(SourceDb::open_as(&path, role)?),
            Location::Postgres(url) => Self::Postgres(PgSource::open(&url, role)?),
        })
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> anyhow::Result<Self> {
        Ok(match self {
            Self::Sqlite(db) => Self::Sqlite(db.reopen()?),
            Self::Postgres(db) => Self::Postgres(db.reopen()?),
        })
    }

    /// Rows with `id > after` in id order: at most `max_rows`, and no more once `max_bytes` of
    /// text have been read (always at least one row).
    pub fn page(
        &mut self,
        after: i64,
        max_rows: usize,
        max_bytes: usize,
    ) -> anyhow::Result<SourcePage> {
        Ok(match self {
            Self::Sqlite(db) => db.page(after, max_rows, max_bytes)?,
            Self::Postgres(db) => db.page(after, max_rows, max_bytes)?,
        })
    }

    /// Smallest and largest id, `None` when there are no articles.
    pub fn id_bounds(&mut self) -> anyhow::Result<Option<(i64, i64)>> {
        Ok(match self {
            Self::Sqlite(db) => db.id_bounds()?,
            Self::Postgres(db) => db.id_bounds()?,
        })
    }

    /// How messages name it: a path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(db) => db.path().display().to_string(),
            Self::Postgres(db) => db.name().to_owned(),
        }
    }
}
