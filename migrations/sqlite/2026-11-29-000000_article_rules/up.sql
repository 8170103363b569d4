-- The rules of a valid article, enforced by the database exactly as by the code
-- (src/db/models.rs: Title::parse and Content::parse), so that no write path (the API, bulk,
-- sync, another tool writing to this file) can store what the API refuses, and a refusal by the
-- database is always about the row, never an outage:
--   title:   1 to 200 characters; no control character (U+0000-U+001F, U+007F-U+009F); not blank
--            (Unicode White_Space, as Rust's str::trim). With no NUL allowed, SQLite's length()
--            counts exactly what Rust's chars().count() counts.
--   content: no NUL (U+0000).
-- CHECK constraints, named so that src/db/error.rs can name the field and the rule to the client.
-- They cost about 2.5 us per inserted row of 1 KB (most of it the NUL scan of the content);
-- triggers with the same tests cost twice that, most of it the trigger call itself.
--
-- SQLite adds CHECK constraints only by rebuilding the table. Rows written before these rules
-- (the API used to accept control characters in titles and NUL in content) cannot move into the
-- new table; they are kept, with the rule they break, in `articles_set_aside`, and every start
-- logs how many wait there (src/db/mod.rs), so nothing is lost and nothing is changed silently.
CREATE TABLE articles_checked (
    id INTEGER PRIMARY KEY NOT NULL,
    title TEXT NOT NULL
        CONSTRAINT title_length CHECK (length(title) BETWEEN 1 AND 200)
        CONSTRAINT title_no_control CHECK (
            instr(title, char(0)) = 0
            AND title NOT GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*'))
        CONSTRAINT title_not_blank CHECK (
            trim(title, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196,
                              8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) <> ''),
    content TEXT NOT NULL
        CONSTRAINT content_no_nul CHECK (instr(content, char(0)) = 0),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Rows that break a rule, and which: the first rule broken, in the order above.
CREATE TABLE articles_set_aside AS
SELECT *, CASE
        WHEN instr(title, char(0)) > 0
          OR title GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*')
            THEN 'title has control characters'
        WHEN trim(title, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196,
                               8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) = ''
            THEN 'title is blank'
        ELSE 'content has NUL characters'
    END AS broken_rule
FROM articles
WHERE instr(title, char(0)) > 0
   OR title GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*')
   OR trim(title, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196,
                       8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) = ''
   OR instr(content, char(0)) > 0;

INSERT INTO articles_checked (id, title, content, created_at, updated_at)
SELECT id, title, content, created_at, updated_at FROM articles
WHERE id NOT IN (SELECT id FROM articles_set_aside);

DROP TABLE articles;
ALTER TABLE articles_checked RENAME TO articles;
CREATE INDEX articles_updated_at ON articles (updated_at);
