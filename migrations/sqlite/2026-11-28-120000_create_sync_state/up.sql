-- What `articles sync` last wrote into this database: one row per article id it manages, with
-- the digest of the source row it applied (see src/sync/record.rs). Written in the same
-- transaction as the articles themselves, so it is never ahead of or behind them.
-- digest 0 means "unknown: compare with the source and rewrite".
CREATE TABLE sync_state (
    id INTEGER PRIMARY KEY NOT NULL,
    digest BIGINT NOT NULL
);
