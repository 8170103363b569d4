//! Which table and columns a sync source reads (`--source-table`, `--map`), and how each engine's
//! source finds them: the same rules for SQLite, PostgreSQL and MySQL.
//!
//! A legacy blog's table is rarely `articles(id, title, content, created_at, updated_at)`. The
//! user names the table and, field by field, the column that holds it; every other field keeps
//! its own name. Column names match case-insensitively (as SQL does for unquoted names). `id`,
//! `title` and `content` must exist; `created_at` and `updated_at` may be missing (sync then
//! treats each row's as unknown, as it always has), unless `--map` named them: a column the user
//! named and the table lacks is a mistake worth a clear error, not a silent `NULL`.

use std::fmt;

use super::error::SyncDbError;

/// The fields of an article a source provides, in the order sources select them.
pub const FIELDS: [&str; 5] = ["id", "title", "content", "created_at", "updated_at"];

/// The table a source reads and the column of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTable {
    /// The table (a bare name; on PostgreSQL it may be `schema.table`).
    pub table: String,
    /// Column per field of [`FIELDS`], and whether `--map` named it.
    columns: [(String, bool); 5],
}

impl Default for SourceTable {
    fn default() -> Self {
        Self {
            table: "articles".to_owned(),
            columns: FIELDS.map(|field| (field.to_owned(), false)),
        }
    }
}

/// A `--map` or `--source-table` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("--map {0:?}: expected FIELD=COLUMN, FIELD one of id, title, content, created_at, updated_at")]
    Syntax(String),
    #[error(
        "--map {field}: unknown field (expected one of id, title, content, created_at, updated_at)"
    )]
    UnknownField { field: String },
    #[error("--map names {field} twice")]
    Twice { field: String },
    #[error("--source-table must not be empty")]
    EmptyTable,
}

impl SourceTable {
    /// The table `table` with the columns `mappings` name (`FIELD=COLUMN`, each item possibly a
    /// comma-separated list of them).
    pub fn new(table: &str, mappings: &[String]) -> Result<Self, MapError> {
        let table = table.trim();
        if table.is_empty() {
            return Err(MapError::EmptyTable);
        }
        let mut this = Self {
            table: table.to_owned(),
            ..Self::default()
        };
        for item in mappings.iter().flat_map(|m| m.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((field, column)) = item.split_once('=') else {
                return Err(MapError::Syntax(item.to_owned()));
            };
            let (field, column) = (field.trim(), column.trim());
            if column.is_empty() {
                return Err(MapError::Syntax(item.to_owned()));
            }
            let Some(index) = FIELDS.iter().position(|f| f.eq_ignore_ascii_case(field)) else {
                return Err(MapError::UnknownField {
                    field: field.to_owned(),
                });
            };
            if this.columns[index].1 {
                return Err(MapError::Twice {
                    field: FIELDS[index].to_owned(),
                });
            }
            this.columns[index] = (column.to_owned(), true);
        }
        Ok(this)
    }

    /// Whether this is the default `articles` table with its own column names.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Finds each field's column among `present` (the table's columns with what the engine
    /// says of their types), matching names case-insensitively.
    pub fn resolve<T: Clone>(&self, present: &[(String, T)]) -> Result<Resolved<T>, Missing> {
        let find = |wanted: &str| {
            present
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(name, kind)| Column {
                    name: name.clone(),
                    kind: kind.clone(),
                })
        };
        let mut missing = Vec::new();
        let mut found: Vec<Option<Column<T>>> = Vec::with_capacity(FIELDS.len());
        for (index, (column, named)) in self.columns.iter().enumerate() {
            let column_found = find(column);
            // id, title and content are required; a timestamp only when --map named it.
            if column_found.is_none() && (index < 3 || *named) {
                missing.push(if *named {
                    format!("{column} (--map {}={column})", FIELDS[index])
                } else {
                    column.clone()
                });
            }
            found.push(column_found);
        }
        if !missing.is_empty() {
            return Err(Missing { columns: missing });
        }
        let mut found = found.into_iter();
        let mut next = || found.next().flatten();
        Ok(Resolved {
            id: next().expect("checked"),
            title: next().expect("checked"),
            content: next().expect("checked"),
            created_at: next(),
            updated_at: next(),
        })
    }

    /// [`Self::resolve`] for a database server's source, `present` empty when it has no such
    /// table: the one-line errors of sync and verify, naming `role` and the server's `name`.
    pub fn resolve_on_server<T: Clone>(
        &self,
        present: &[(String, T)],
        role: &'static str,
        name: &str,
    ) -> Result<Resolved<T>, SyncDbError> {
        if present.is_empty() {
            return Err(SyncDbError::NoTable {
                role,
                name: name.to_owned(),
                table: self.table.clone(),
            });
        }
        self.resolve(present)
            .map_err(|missing| SyncDbError::MissingColumns {
                role,
                name: name.to_owned(),
                table: self.table.clone(),
                missing,
            })
    }
}

impl fmt::Display for SourceTable {
    /// `articles`, or `posts (title=headline, content=body)`: how messages name the table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table)?;
        let mapped: Vec<String> = self
            .columns
            .iter()
            .zip(FIELDS)
            .filter(|((_, named), _)| *named)
            .map(|((column, _), field)| format!("{field}={column}"))
            .collect();
        if !mapped.is_empty() {
            write!(f, " ({})", mapped.join(", "))?;
        }
        Ok(())
    }
}

/// A timestamp a server rendered as `YYYY-MM-DD HH:MM:SS.ffffff` in the form SQLite stores ours
/// (`.500`, no fraction when it is zero), so that every engine gives the same text for the same
/// instant; any other text is kept as it is (sync parses it later, or says why it cannot).
pub fn stored_time_text(raw: String) -> String {
    match crate::db::models::parse_stored_time(&raw) {
        Some(at) => crate::db::models::Timestamp::from_naive_utc(at).to_sqlite_text(),
        None => raw,
    }
}

/// The rows a server source asks for in its next page (`LIMIT`), the last one having brought
/// `fitted` rows with `hint` asked: after a page its byte limit cut, about as many as fitted (the
/// rows past a cut crossed the network for nothing); else twice as many as last time.
pub fn next_rows_hint(cut: bool, fitted: usize, hint: usize) -> usize {
    if cut {
        fitted + fitted / 16 + 1
    } else {
        hint.saturating_mul(2)
    }
}

/// `SELECT min(id) AS low, max(id) AS high`, read by the sources of every engine Diesel drives.
#[derive(diesel::QueryableByName)]
pub struct IdBounds {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    low: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    high: Option<i64>,
}

impl IdBounds {
    /// Smallest and largest id, `None` when the table is empty.
    pub fn range(self) -> Option<(i64, i64)> {
        self.low.zip(self.high)
    }
}

/// A column found: its name as the table spells it and what the engine says of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column<T> {
    pub name: String,
    pub kind: T,
}

/// The column of every field; the timestamps `None` when the table has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<T> {
    pub id: Column<T>,
    pub title: Column<T>,
    pub content: Column<T>,
    pub created_at: Option<Column<T>>,
    pub updated_at: Option<Column<T>>,
}

/// The columns a table lacks, as the user would name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub columns: Vec<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.columns.len() == 1 { "" } else { "s" };
        write!(f, "no column{s} {}", self.columns.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<(String, ())> {
        names.iter().map(|n| ((*n).to_owned(), ())).collect()
    }

    #[test]
    fn default_table_finds_its_columns_in_any_case() {
        let table = SourceTable::default();
        assert!(table.is_default());
        let found = table
            .resolve(&columns(&["ID", "Title", "content", "updated_at"]))
            .unwrap();
        assert_eq!(found.id.name, "ID");
        assert_eq!(found.title.name, "Title");
        assert!(found.created_at.is_none());
        assert_eq!(found.updated_at.unwrap().name, "updated_at");
    }

    #[test]
    fn map_renames_fields_and_requires_what_it_names() {
        let table = SourceTable::new(
            "posts",
            &[
                "title=headline, content=body".into(),
                "created_at=posted".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            table.to_string(),
            "posts (title=headline, content=body, created_at=posted)"
        );
        let found = table
            .resolve(&columns(&["id", "headline", "body", "posted"]))
            .unwrap();
        assert_eq!(found.content.name, "body");
        assert_eq!(found.created_at.unwrap().name, "posted");
        let missing = table
            .resolve(&columns(&["id", "headline", "text"]))
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "no columns body (--map content=body), posted (--map created_at=posted)"
        );
    }

    #[test]
    fn bad_maps_are_refused() {
        let table = |m: &str| SourceTable::new("t", &[m.to_owned()]);
        assert!(matches!(table("title"), Err(MapError::Syntax(_))));
        assert!(matches!(table("title="), Err(MapError::Syntax(_))));
        assert!(matches!(
            table("body=x"),
            Err(MapError::UnknownField { .. })
        ));
        assert!(matches!(
            table("title=a,title=b"),
            Err(MapError::Twice { .. })
        ));
        assert_eq!(SourceTable::new(" ", &[]), Err(MapError::EmptyTable));
    }
}
