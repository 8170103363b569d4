//! Lists as every store answers them: the sort orders, the keyset position where a page starts
//! (the REST API's opaque cursor), the filter and the page. Backend-free.

use chrono::NaiveDateTime;

use super::models::{Article, Timestamp};

/// The column a list is ordered by; ties (and `Id` itself) are broken by the id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortKey {
    #[default]
    Id,
    CreatedAt,
    UpdatedAt,
}

/// The order of a list: a key, ascending or descending (then by id the same way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    /// Every order, as the API spells them.
    pub const ALL: [Sort; 6] = [
        Sort::asc(SortKey::Id),
        Sort::desc(SortKey::Id),
        Sort::asc(SortKey::CreatedAt),
        Sort::desc(SortKey::CreatedAt),
        Sort::asc(SortKey::UpdatedAt),
        Sort::desc(SortKey::UpdatedAt),
    ];

    pub const fn asc(key: SortKey) -> Self {
        Self {
            key,
            descending: false,
        }
    }

    pub const fn desc(key: SortKey) -> Self {
        Self {
            key,
            descending: true,
        }
    }

    /// `id`, `-id`, `created_at`, `-created_at`, `updated_at`, `-updated_at`.
    pub fn name(self) -> &'static str {
        match (self.key, self.descending) {
            (SortKey::Id, false) => "id",
            (SortKey::Id, true) => "-id",
            (SortKey::CreatedAt, false) => "created_at",
            (SortKey::CreatedAt, true) => "-created_at",
            (SortKey::UpdatedAt, false) => "updated_at",
            (SortKey::UpdatedAt, true) => "-updated_at",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.name() == raw)
    }

    /// A small number naming this order (cursors carry it).
    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|sort| *sort == self)
            .expect("ALL holds every order") as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// Where a page starts: right after the row with this sort key and id (a keyset cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub sort: Sort,
    /// The row's `created_at` or `updated_at` (as `sort` says); `None` for `id` orders.
    pub at: Option<NaiveDateTime>,
    pub id: i64,
}

impl Position {
    /// The position of `article` in `sort`: the next page starts after it.
    pub fn after(sort: Sort, article: &Article) -> Self {
        let at = match sort.key {
            SortKey::Id => None,
            SortKey::CreatedAt => Some(article.created_at),
            SortKey::UpdatedAt => Some(article.updated_at),
        };
        Self {
            sort,
            at,
            id: article.id,
        }
    }
}

/// Which page of which articles to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub limit: i64,
    /// Rows of the order to skip (after `after`, if given). Costs a step per skipped row.
    pub offset: i64,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    /// Only articles updated at or after this instant.
    pub updated_since: Option<Timestamp>,
    pub sort: Sort,
    /// Start after this row (`after.sort` must be `sort`; the caller checks).
    pub after: Option<Position>,
}

/// One page of articles plus how many match the filter in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub articles: Vec<Article>,
    pub total: i64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
}
