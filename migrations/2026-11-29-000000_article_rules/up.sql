-- The rules of a valid article, enforced by the database exactly as by the code
-- (src/db/models.rs: Title::parse and Content::parse), so that no write path (the API, bulk,
-- sync, another tool writing to this file) can store what the API refuses, and a refusal by the
-- database is always about the row, never an outage:
--   title:   no control character (U+0000-U+001F, U+007F-U+009F), not blank (Unicode White_Space,
--            as Rust's str::trim), 1 to 200 characters (the CHECK of the first migration; with no
--            NUL allowed, SQLite's length() counts exactly what Rust's chars().count() counts);
--   content: no NUL (U+0000).
-- Triggers rather than a rebuilt table with new CHECKs: they need no copy of a large table, and
-- rows written before this rule stay readable. Only built-in functions, so any SQLite tool can
-- still write here. Each message starts with 'articles.<column> ' so that src/db/error.rs can
-- name the field to the client.
CREATE TRIGGER articles_valid_insert BEFORE INSERT ON articles
BEGIN
    SELECT RAISE(ABORT, 'articles.title must not contain control characters (U+0000 to U+001F, U+007F to U+009F)')
    WHERE instr(NEW.title, char(0)) > 0
       OR NEW.title GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*');
    SELECT RAISE(ABORT, 'articles.title must not be empty or whitespace only')
    WHERE trim(NEW.title, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195,
                                8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287,
                                12288)) = '';
    SELECT RAISE(ABORT, 'articles.content must not contain NUL characters (U+0000)')
    WHERE instr(NEW.content, char(0)) > 0;
END;

CREATE TRIGGER articles_valid_update BEFORE UPDATE OF title, content ON articles
BEGIN
    SELECT RAISE(ABORT, 'articles.title must not contain control characters (U+0000 to U+001F, U+007F to U+009F)')
    WHERE instr(NEW.title, char(0)) > 0
       OR NEW.title GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*');
    SELECT RAISE(ABORT, 'articles.title must not be empty or whitespace only')
    WHERE trim(NEW.title, char(9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195,
                                8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287,
                                12288)) = '';
    SELECT RAISE(ABORT, 'articles.content must not contain NUL characters (U+0000)')
    WHERE instr(NEW.content, char(0)) > 0;
END;
