# Shared by the benchmark scripts (sourced): the source database they generate and the way
# they time a step. Needs DIR (a scratch directory) and RESULTS (a file) set by the caller.

# generate_articles DB ROWS: a SQLite database with ROWS articles of about 1 KB of content in
# the original apps' shape (`articles(id, title, content, created_at, updated_at)`).
generate_articles() {
    local db="$1" rows="$2"
    rm -f "$db"
    sqlite3 "$db" <<SQL >/dev/null
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE articles (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL,
    content TEXT NOT NULL, created_at DATETIME, updated_at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO articles
SELECT i, 'Article number ' || i,
       'Lorem ipsum ' || i || ' ' || substr(hex(randomblob(500)), 1, 990),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + i, 'unixepoch'),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + 2 * i, 'unixepoch')
FROM n;
SQL
}

# measure NAME ROWS CMD...: runs CMD under GNU time; appends "name rows seconds rss_kb cpu_s"
# to RESULTS and prints the step's time and the last line of its output.
measure() {
    local name="$1" rows="$2"; shift 2
    sync  # start each measurement with a clean page-cache writeback state
    /usr/bin/time -f "%e %M %U %S" -o "$DIR/time.out" "$@" > "$DIR/$name.log" 2>&1 || {
        echo "$name failed:" >&2; cat "$DIR/$name.log" >&2; exit 1; }
    read -r seconds rss user sys < "$DIR/time.out"
    echo "$name $rows $seconds $rss $(echo "$user + $sys" | bc -l)" >> "$RESULTS"
    echo "$name: ${seconds}s ($(tail -1 "$DIR/$name.log"))" >&2
}
