-- pg_trgm stays: other databases made from this one's template may use it.
DROP TABLE sync_state;
DROP TABLE idempotency_keys;
DROP TABLE article_stats;
DROP TABLE articles;
