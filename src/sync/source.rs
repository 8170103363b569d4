//! What a sync or verify reads: a SQLite file ([`SourceDb`]), a PostgreSQL database
//! ([`PgSource`]) or a MySQL/MariaDB one ([`MysqlSource`]), all read-only, all giving the same
//! pages of [`RawArticle`]s in id order from the table a [`SourceTable`] names.
//!
//! [`RawArticle`]: crate::db::sqlite::sync_state::RawArticle

use crate::db::mysql::MysqlSource;
use crate::db::pg::sync::PgSource;
use crate::db::source_table::SourceTable;
use crate::db::sqlite::sync_state::{LightRow, RawArticle, SourceDb, SourcePage};
use crate::db::Location;

/// The source's table and columns, when they are not `articles(id, title, content, created_at,
/// updated_at)`: a legacy blog's table as it is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceTableArgs {
    /// The source's table of articles: `posts`, or `schema.posts` (PostgreSQL) or
    /// `database.posts` (MySQL) outside the URL's default.
    #[arg(long, default_value = "articles", value_name = "TABLE")]
    pub source_table: String,

    /// A source column named otherwise than its field: FIELD=COLUMN, comma-separated or
    /// repeated, FIELD one of id, title, content, created_at, updated_at (e.g. `--map
    /// title=headline,content=body`). A column named here must exist; created_at and updated_at
    /// not named and absent are read as unknown (the destination fills them in). Timestamps may
    /// be DATETIME/TIMESTAMP (with or without time zone; without one they are read as UTC), ISO
    /// 8601 text, or Unix seconds.
    #[arg(long, value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
}

impl SourceTableArgs {
    pub fn table(&self) -> anyhow::Result<SourceTable> {
        Ok(SourceTable::new(&self.source_table, &self.map)?)
    }
}

/// A database read in id order, one keyset page at a time, never written.
pub enum Source {
    Sqlite(SourceDb),
    Postgres(PgSource),
    Mysql(MysqlSource),
}

impl From<SourceDb> for Source {
    fn from(db: SourceDb) -> Self {
        Self::Sqlite(db)
    }
}

impl Source {
    /// Opens `raw` (a SQLite path or `sqlite:` URL, a `postgres://` or a `mysql://` URL)
    /// read-only, reading the `articles` table; `role` names it in errors (`source`,
    /// `destination`).
    pub fn open(raw: &str, role: &'static str) -> anyhow::Result<Self> {
        Self::open_table(raw, role, &SourceTable::default())
    }

    /// [`Self::open`], reading `table` (`--source-table`, `--map`).
    pub fn open_table(raw: &str, role: &'static str, table: &SourceTable) -> anyhow::Result<Self> {
        Ok(match Location::parse(raw) {
            Location::Sqlite(path) => Self::Sqlite(SourceDb::open_table(&path, role, table)?),
            Location::Postgres(url) => Self::Postgres(PgSource::open_table(&url, role, table)?),
            Location::Mysql(url) => Self::Mysql(MysqlSource::open(&url, role, table)?),
        })
    }

    /// A second, independent reader of the same database (for reading ahead on another thread).
    pub fn reopen(&self) -> anyhow::Result<Self> {
        Ok(match self {
            Self::Sqlite(db) => Self::Sqlite(db.reopen()?),
            Self::Postgres(db) => Self::Postgres(db.reopen()?),
            Self::Mysql(db) => Self::Mysql(db.reopen()?),
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
            Self::Mysql(db) => db.page(after, max_rows, max_bytes)?,
        })
    }

    /// Whether a rerun can compare this source's rows without reading their text
    /// ([`Self::light_page`]): a PostgreSQL source, or a MariaDB one (10.8+), whose server
    /// fingerprints the text.
    pub fn has_light_pages(&self) -> bool {
        match self {
            Self::Postgres(_) => true,
            Self::Mysql(db) => db.has_light_pages(),
            Self::Sqlite(_) => false,
        }
    }

    /// Up to `limit` rows with `id > after` without their text, and whether more may follow;
    /// `None` when this source cannot ([`Self::has_light_pages`]).
    pub fn light_page(
        &mut self,
        after: i64,
        limit: usize,
    ) -> anyhow::Result<Option<(Vec<LightRow>, bool)>> {
        Ok(match self {
            Self::Postgres(db) => Some(db.light_page(after, limit)?),
            Self::Mysql(db) if db.has_light_pages() => Some(db.light_page(after, limit)?),
            Self::Sqlite(_) | Self::Mysql(_) => None,
        })
    }

    /// The rows of `ids` (sorted) that exist, in full; only for a source with light pages.
    pub fn rows_by_id(&mut self, ids: &[i64]) -> anyhow::Result<Vec<RawArticle>> {
        match self {
            Self::Postgres(db) => Ok(db.rows_by_id(ids)?),
            Self::Mysql(db) if db.has_light_pages() => Ok(db.rows_by_id(ids)?),
            Self::Sqlite(_) | Self::Mysql(_) => {
                anyhow::bail!("{} is read a page at a time, not by id", self.describe())
            }
        }
    }

    /// Smallest and largest id, `None` when there are no articles.
    pub fn id_bounds(&mut self) -> anyhow::Result<Option<(i64, i64)>> {
        Ok(match self {
            Self::Sqlite(db) => db.id_bounds()?,
            Self::Postgres(db) => db.id_bounds()?,
            Self::Mysql(db) => db.id_bounds()?,
        })
    }

    /// How messages name it: a path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(db) => db.path().display().to_string(),
            Self::Postgres(db) => db.name().to_owned(),
            Self::Mysql(db) => db.name().to_owned(),
        }
    }
}
