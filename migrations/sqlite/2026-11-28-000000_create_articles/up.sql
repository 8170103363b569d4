-- Articles: the one table every role shares.
-- `id INTEGER PRIMARY KEY` is SQLite's rowid alias (no separate index); ids given by
-- sync or the bulk endpoint are kept as they are.
CREATE TABLE articles (
    id INTEGER PRIMARY KEY NOT NULL,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE INDEX articles_updated_at ON articles (updated_at);

-- Idempotency-Key records for POST /articles. The created article's title and content
-- are the request's own (request_hash proves it), so id + created_at rebuild the
-- original response exactly.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY NOT NULL,
    request_hash TEXT NOT NULL,
    article_id BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
