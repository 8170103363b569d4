//! [`StoreError`]: what a failed database call means, decided once, where the error is raised.
//!
//! A database error is one of four things, and each asks for a different answer: the row was
//! refused (the client's input: fix it, never retry), the database is busy (retry shortly), out
//! of space (an operator must act; retrying later may work), or it cannot be reached or read at
//! all (retry later). Anything else is a bug. Callers decide retry / skip / stop from
//! [`StoreError::is_retryable`] and the variant, never from message text; the HTTP mapping lives
//! in `crate::error`.
//!
//! SQLite reports busy, full and I/O failures with fixed messages (`sqlite3_errstr`) that Diesel
//! passes on as [`DatabaseErrorKind::Unknown`]; matching them here is the one place that reads
//! error text. The table's own rules are named CHECK constraints (`title_no_control`, …: the
//! `article_rules` migration), mapped here to the domain types' wording. Diesel does not tell a
//! trigger's `RAISE` apart from other failures, so an operator's own trigger that refuses rows
//! starts its message with `articles.<column> ` or `articles: `: then the refusal is the client's
//! error and names its field.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database refused the row (a constraint): the caller's input, not an outage.
    #[error("{field} {problem}")]
    Refused {
        /// The column the rule is about (`title`, `content`), or `article` when unknown.
        field: &'static str,
        problem: String,
    },
    /// Another connection held the lock past the busy timeout, or no pooled connection was free.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The disk (or the file-size limit) is full.
    #[error("the database is out of space: {0}")]
    Full(String),
    /// The database cannot be opened, read or written (I/O error, read-only file, damage).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected state.
    #[error("unexpected database error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the same call may succeed later unchanged. A refused row never will; an internal
    /// error is a bug, and repeating it helps nobody.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy(_) | Self::Full(_) | Self::Unavailable(_))
    }

    /// Classifies a Diesel error. [`DieselError::NotFound`] is not a failure of the store;
    /// callers that expect it handle it before converting (it becomes `Internal` here).
    pub fn classify(error: &DieselError) -> Self {
        match error {
            DieselError::DatabaseError(kind, info) => {
                let message = info.message();
                match kind {
                    DatabaseErrorKind::CheckViolation
                    | DatabaseErrorKind::NotNullViolation
                    | DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation => refused(message),
                    DatabaseErrorKind::SerializationFailure => Self::Busy(message.to_owned()),
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::ReadOnlyTransaction => {
                        Self::Unavailable(message.to_owned())
                    }
                    _ => classify_message(message),
                }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        Self::classify(&error)
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    /// No connection within the pool's timeout: all busy, or none could be opened (the pool
    /// names the last connection error then).
    fn from(error: diesel::r2d2::PoolError) -> Self {
        let message = error.to_string();
        if message.contains(": ") {
            Self::Unavailable(message)
        } else {
            Self::Busy(message)
        }
    }
}

/// The prefix of a refusal an operator's trigger names a column with (`articles.title …`).
const RULE_PREFIX: &str = "articles.";

/// The columns a refusal may name, most specific first.
pub(crate) const FIELDS: [&str; 5] = ["title", "content", "created_at", "updated_at", "id"];

/// The named CHECK constraints of the migrations (`article_rules` on SQLite, the same names on
/// PostgreSQL), as the domain types word them.
pub(crate) fn rule(name: &str) -> Option<(&'static str, String)> {
    use super::models::{ContentError, TitleError};
    Some(match name {
        "title_length" => ("title", TitleError::TooLong.to_string()),
        "title_no_control" => ("title", TitleError::ControlCharacter.to_string()),
        "title_not_blank" => ("title", TitleError::Blank.to_string()),
        "content_no_nul" => ("content", ContentError::Nul.to_string()),
        _ => return None,
    })
}

/// Whether `message` is an operator's trigger refusing a row (`RAISE(ABORT, 'articles.<column>
/// problem')` or `'articles: problem'`), which every backend reports as an unnamed failure.
pub(crate) fn is_trigger_refusal(message: &str) -> bool {
    message.starts_with(RULE_PREFIX) || message.starts_with("articles:")
}

/// A refusal of `field` that no named rule explains: a trigger's own words, else the database's
/// message quoted.
pub(crate) fn refusal(field: &'static str, message: &str) -> StoreError {
    let problem = match message
        .strip_prefix(RULE_PREFIX)
        .or_else(|| message.strip_prefix("articles:"))
    {
        Some(rule) => rule
            .strip_prefix(field)
            .unwrap_or(rule)
            .trim_start()
            .to_owned(),
        None => format!("is refused by the database ({message})"),
    };
    StoreError::Refused { field, problem }
}

fn refused(message: &str) -> StoreError {
    if let Some((field, problem)) = message
        .strip_prefix("CHECK constraint failed: ")
        .and_then(|name| rule(name.trim()))
    {
        return StoreError::Refused { field, problem };
    }
    let field = FIELDS
        .into_iter()
        .find(|column| message.contains(column))
        .unwrap_or("article");
    refusal(field, message)
}

/// SQLite's fixed messages (`sqlite3_errstr`) for the failures Diesel does not name.
fn classify_message(message: &str) -> StoreError {
    // Diesel reports an operator's trigger refusing a row as Unknown.
    if is_trigger_refusal(message) {
        return refused(message);
    }
    let owned = message.to_owned();
    match message {
        "database is locked" | "database table is locked" | "database schema is locked" => {
            StoreError::Busy(owned)
        }
        "database or disk is full" => StoreError::Full(owned),
        m if m.starts_with("disk I/O error")
            || m.starts_with("unable to open database file")
            || m.starts_with("attempt to write a readonly database")
            || m.starts_with("database disk image is malformed")
            || m.starts_with("file is not a database")
            || m.starts_with("locking protocol") =>
        {
            StoreError::Unavailable(owned)
        }
        _ => StoreError::Internal(owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn refusals_name_their_field() {
        let trigger = db_error(
            DatabaseErrorKind::Unknown,
            "articles.title is on the blocklist",
        );
        assert_eq!(
            StoreError::classify(&trigger),
            StoreError::Refused {
                field: "title",
                problem: "is on the blocklist".into()
            }
        );
        let check = db_error(
            DatabaseErrorKind::CheckViolation,
            "CHECK constraint failed: title_not_blank",
        );
        assert_eq!(
            StoreError::classify(&check),
            StoreError::Refused {
                field: "title",
                problem: "must not be empty or whitespace only".into()
            }
        );
        assert!(!StoreError::classify(&check).is_retryable());
    }

    #[test]
    fn outages_are_retryable_and_bugs_are_not() {
        let unknown = |m| StoreError::classify(&db_error(DatabaseErrorKind::Unknown, m));
        assert!(matches!(unknown("database is locked"), StoreError::Busy(_)));
        assert!(matches!(
            unknown("database or disk is full"),
            StoreError::Full(_)
        ));
        assert!(matches!(
            unknown("disk I/O error"),
            StoreError::Unavailable(_)
        ));
        assert!(unknown("database is locked").is_retryable());
        let bug = unknown("no such column: titel");
        assert!(matches!(bug, StoreError::Internal(_)));
        assert!(!bug.is_retryable());
        assert!(matches!(
            StoreError::classify(&DieselError::NotFound),
            StoreError::Internal(_)
        ));
    }
}

/// Why a database server (PostgreSQL, MySQL) could not be used by sync or verify: one line,
/// naming the role (`source`, `destination`) and the URL without its password.
#[derive(Debug, thiserror::Error)]
pub enum SyncDbError {
    #[error("cannot open {role} {name}: {reason}")]
    Open {
        role: &'static str,
        name: String,
        reason: String,
    },
    #[error("{role} {name} has no `{table}` table")]
    NoTable {
        role: &'static str,
        name: String,
        table: String,
    },
    #[error("{role} {name}: table `{table}` has {missing}; it needs id, title and content")]
    MissingColumns {
        role: &'static str,
        name: String,
        table: String,
        missing: super::source_table::Missing,
    },
    #[error("{role} {name}: column `{column}` of `{table}` is {kind}; sync needs an integer id")]
    IdNotInteger {
        role: &'static str,
        name: String,
        table: String,
        column: String,
        kind: String,
    },
    #[error("cannot read {role} {name}: {reason}")]
    Read {
        role: &'static str,
        name: String,
        reason: String,
    },
}
