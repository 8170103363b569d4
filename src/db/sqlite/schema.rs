// @generated automatically by Diesel CLI.

diesel::table! {
    articles (id) {
        id -> BigInt,
        title -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
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

diesel::allow_tables_to_appear_in_same_query!(articles, idempotency_keys, sync_state,);
