-- Back to the table without the rules; set-aside rows return to it.
CREATE TABLE articles_unchecked (
    id INTEGER PRIMARY KEY NOT NULL,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO articles_unchecked SELECT id, title, content, created_at, updated_at FROM articles;
INSERT INTO articles_unchecked SELECT id, title, content, created_at, updated_at FROM articles_set_aside;
DROP TABLE articles_set_aside;
DROP TABLE articles;
ALTER TABLE articles_unchecked RENAME TO articles;
CREATE INDEX articles_updated_at ON articles (updated_at);
