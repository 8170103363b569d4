//! PostgreSQL's errors as [`StoreError`]s: decided here, once, so that callers answer a
//! PostgreSQL-backed request exactly as a SQLite-backed one (refused row, busy, full, unavailable).
//!
//! Diesel reports the SQLSTATE classes it knows as a [`DatabaseErrorKind`] (constraint
//! violations, serialization failures, lost connections, read-only transactions) and names the
//! constraint and column of a violation; the table's rules are the named CHECK constraints of
//! `migrations/postgres/` (the names of SQLite's `article_rules`), worded as the domain types word
//! them. Diesel does not pass the SQLSTATE of other errors on, so deadlocks, lock and statement
//! timeouts, a full disk and a server shutting down are recognised by PostgreSQL's message text,
//! as the server writes it with `lc_messages` in English (the default, and managed services'):
//! under another language they are `Internal`. An operator's trigger that refuses rows raises
//! `articles.<column> <problem>` or `articles: <problem>`, as on SQLite.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};

use crate::db::error::{is_trigger_refusal, refusal, rule, StoreError, FIELDS};

/// Classifies a Diesel error raised on a PostgreSQL connection. [`DieselError::NotFound`] is not
/// a failure of the store (it becomes `Internal` here).
pub fn classify(error: &DieselError) -> StoreError {
    let DieselError::DatabaseError(kind, info) = error else {
        return StoreError::Internal(error.to_string());
    };
    let message = info.message();
    match kind {
        DatabaseErrorKind::CheckViolation
        | DatabaseErrorKind::NotNullViolation
        | DatabaseErrorKind::UniqueViolation
        | DatabaseErrorKind::ForeignKeyViolation
        | DatabaseErrorKind::RestrictViolation
        | DatabaseErrorKind::ExclusionViolation => refused(info.as_ref()),
        DatabaseErrorKind::SerializationFailure => StoreError::Busy(message.to_owned()),
        DatabaseErrorKind::ClosedConnection
        | DatabaseErrorKind::UnableToSendCommand
        | DatabaseErrorKind::ReadOnlyTransaction => StoreError::Unavailable(message.to_owned()),
        _ => classify_message(info.as_ref()),
    }
}

fn refused(info: &dyn DatabaseErrorInformation) -> StoreError {
    if let Some((field, problem)) = info.constraint_name().and_then(rule) {
        return StoreError::Refused { field, problem };
    }
    let message = info.message();
    let named = |text: &str| FIELDS.into_iter().find(|column| text.contains(column));
    let field = info
        .column_name()
        .and_then(named)
        .or_else(|| info.constraint_name().and_then(named))
        .or_else(|| named(message))
        .unwrap_or("article");
    refusal(field, message)
}

/// PostgreSQL's messages (English) for the failures Diesel does not name.
fn classify_message(info: &dyn DatabaseErrorInformation) -> StoreError {
    let message = info.message();
    if is_trigger_refusal(message) {
        return refused(info);
    }
    let owned = message.to_owned();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| message.starts_with(p));
    if starts(&[
        "deadlock detected",                            // 40P01
        "canceling statement due to statement timeout", // 57014
        "canceling statement due to lock timeout",      // 55P03
        "canceling statement due to user request",      // 57014, an operator's pg_cancel_backend
        "could not obtain lock",                        // 55P03, NOWAIT
        "could not serialize access",                   // 40001 without Diesel's kind
        "sorry, too many clients already",              // 53300
        "out of memory",                                // 53200
    ]) {
        StoreError::Busy(owned)
    } else if starts(&["could not extend file", "could not write to file"])
        || message.contains("No space left on device")
    {
        // 53100 disk_full and the I/O errors that report it.
        StoreError::Full(owned)
    } else if starts(&[
        "terminating connection", // 57P01 / 57P02 / 57P05, shutdown and crashes
        "the database system is", // 57P03: starting up, shutting down, in recovery
        "server closed the connection", // libpq: the server went away
        "no connection to the server", // libpq
        "could not receive data from", // libpq
        "could not send data to", // libpq
        "SSL connection has been closed", // libpq
        "connection to server",   // libpq, connecting
        "cannot execute",         // 25006 in a read-only transaction (a standby)
    ]) {
        StoreError::Unavailable(owned)
    } else {
        StoreError::Internal(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database error as Diesel reports it, with the fields PostgreSQL fills in.
    struct Info {
        message: &'static str,
        column: Option<&'static str>,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("articles")
        }
        fn column_name(&self) -> Option<&str> {
            self.column
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_error(
        kind: DatabaseErrorKind,
        message: &'static str,
        column: Option<&'static str>,
        constraint: Option<&'static str>,
    ) -> DieselError {
        DieselError::DatabaseError(
            kind,
            Box::new(Info {
                message,
                column,
                constraint,
            }),
        )
    }

    #[test]
    fn rules_and_columns_name_their_field() {
        let check = db_error(
            DatabaseErrorKind::CheckViolation,
            "new row for relation \"articles\" violates check constraint \"title_not_blank\"",
            None,
            Some("title_not_blank"),
        );
        assert_eq!(
            classify(&check),
            StoreError::Refused {
                field: "title",
                problem: "must not be empty or whitespace only".into()
            }
        );
        let not_null = db_error(
            DatabaseErrorKind::NotNullViolation,
            "null value in column \"content\" of relation \"articles\" violates not-null constraint",
            Some("content"),
            None,
        );
        assert!(matches!(
            classify(&not_null),
            StoreError::Refused {
                field: "content",
                ..
            }
        ));
        let trigger = db_error(
            DatabaseErrorKind::Unknown,
            "articles.title is on the blocklist",
            None,
            None,
        );
        assert_eq!(
            classify(&trigger),
            StoreError::Refused {
                field: "title",
                problem: "is on the blocklist".into()
            }
        );
        assert!(!classify(&check).is_retryable());
    }

    #[test]
    fn outages_are_retryable_and_bugs_are_not() {
        let unknown = |m| classify(&db_error(DatabaseErrorKind::Unknown, m, None, None));
        for busy in [
            "deadlock detected",
            "canceling statement due to statement timeout",
            "canceling statement due to lock timeout",
        ] {
            assert!(matches!(unknown(busy), StoreError::Busy(_)), "{busy}");
        }
        assert!(matches!(
            unknown("could not extend file \"base/16384/16385\": No space left on device"),
            StoreError::Full(_)
        ));
        assert!(matches!(
            unknown("terminating connection due to administrator command"),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&db_error(
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection unexpectedly",
                None,
                None
            )),
            StoreError::Unavailable(_)
        ));
        let bug = unknown("column \"titel\" does not exist");
        assert!(matches!(bug, StoreError::Internal(_)));
        assert!(!bug.is_retryable());
        assert!(matches!(
            classify(&DieselError::NotFound),
            StoreError::Internal(_)
        ));
    }
}
