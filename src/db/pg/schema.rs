//! The Diesel tables of `migrations/postgres/`, written by hand: the store spells its statements
//! as SQL text (see diesel.toml for why this file is not printed). `tests/pg_store.rs` compares it
//! with a migrated database, column by column, so it cannot drift from the migrations.

diesel::table! {
    articles (id) {
        id -> BigInt,
        title -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// Rust's lower case of `title` (`super::fold_title`), what `q` searches.
        title_folded -> Text,
    }
}

diesel::table! {
    article_stats (only_row) {
        only_row -> Integer,
        articles -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (key) {
        key -> Text,
        request_hash -> Text,
        article_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sync_state (id) {
        id -> BigInt,
        digest -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    articles,
    article_stats,
    idempotency_keys,
    sync_state
);
