-- Lists, counts and search that cost the same at 100 articles and at millions (issue 11).
--
-- Sort by created_at: SQLite ends every index entry with the rowid (here the id), so this index
-- is (created_at, id), the keyset of `sort=created_at` cursors; `articles_updated_at` already is
-- (updated_at, id).
CREATE INDEX articles_created_at ON articles (created_at);

-- The exact number of articles, kept by every write in the same transaction as the rows
-- (src/db/articles.rs: insert, delete, write_new); `total` and /metrics read it instead of
-- counting the table.
CREATE TABLE article_stats (
    only_row INTEGER PRIMARY KEY NOT NULL CHECK (only_row = 1),
    articles BIGINT NOT NULL
);
INSERT INTO article_stats (only_row, articles) SELECT 1, count(*) FROM articles;

-- The title search index (`q`): every title folded to lower case exactly as Rust's
-- str::to_lowercase folds it (fold_title(), registered on every connection by
-- src/db/articles.rs), indexed by trigrams with no folding of their own, keyed by the article
-- id (rowid). A case-insensitive substring of the title is then a substring of the folded title:
-- for 3 characters or more an FTS5 phrase of trigrams, shorter ones a scan of these titles.
-- Kept in the same transaction as every write of a title.
-- columnsize=0: no per-row token counts (only ranking needs them), one B-tree write less per
-- row (building it for 1M titles: 2.3 s of CPU instead of 2.65 s).
CREATE VIRTUAL TABLE article_search USING fts5 (
    title_folded,
    tokenize = 'trigram case_sensitive 1',
    columnsize = 0
);
INSERT INTO article_search (rowid, title_folded) SELECT id, fold_title(title) FROM articles;
