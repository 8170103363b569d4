#!/usr/bin/env bash
# Benchmark of `articles sync` (not a test). See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/sync.sh [--rows N] [--rest-rows N] [--dir DIR] [--keep]

Builds `articles` (release), generates a source database A with N articles (~1 KB of content
each, default 1,000,000) with the sqlite3 CLI, then measures in one run:

  1. sqlite3 copy      SQLite's own copy: ATTACH A, INSERT INTO articles SELECT ... into an
                       empty database with the same schema (the physical reference)
  2. full sync         articles sync --from A --to B, B empty
  3. no-change sync    the same again, nothing changed
  4. 1% changed sync   after updating the content of 1% of A's rows
  5. REST sync         articles sync of the first --rest-rows articles (default 100,000) into
                       `articles serve-rest` on a fresh database, through POST /articles/bulk

For each: wall seconds, rows/s and peak RSS (GNU time), then the ratios against the targets:
full sync <= 3x sqlite copy; no-change < 25% of full sync; REST >= 50,000 rows/s;
peak RSS < 200 MB.

Needs: cargo, sqlite3 and GNU time (/usr/bin/time; Debian packages `sqlite3` and `time`),
curl, bc. The machine's other load shows in the wall times; the CPU column (user + sys) does
not depend on it. Uses about 4 GB of disk in DIR (default: a new directory under /tmp, removed at the end
unless --keep).
EOF
}

ROWS=1000000
REST_ROWS=100000
DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS="$2"; shift 2 ;;
        --rest-rows) REST_ROWS="$2"; shift 2 ;;
        --dir) DIR="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in sqlite3 /usr/bin/time curl cargo bc; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see --help)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/measure.sh
source "$ROOT/bench/lib/measure.sh"
cargo build --release --bin articles --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/articles"

if [ -z "$DIR" ]; then DIR="$(mktemp -d /tmp/articles-sync-bench.XXXXXX)"; fi
mkdir -p "$DIR"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT

A="$DIR/a.db"
A_REST="$DIR/a_rest.db"
SCHEMA="CREATE TABLE articles (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL,
    content TEXT NOT NULL, created_at DATETIME, updated_at DATETIME);"

echo "generating $ROWS articles in $A ..." >&2
rm -f "$A_REST"
generate_articles "$A" "$ROWS"
sqlite3 "$A_REST" <<EOF
$SCHEMA
ATTACH '$A' AS a;
INSERT INTO articles SELECT * FROM a.articles WHERE id <= $REST_ROWS;
EOF
echo "A: $(du -h "$A" | cut -f1)" >&2

RESULTS="$DIR/results"
: > "$RESULTS"

# 1. SQLite's own copy into a database with the destination's schema.
REF="$DIR/ref.db"
rm -f "$REF"
sqlite3 "$REF" < "$(ls -d "$ROOT"/migrations/sqlite/*_create_articles)/up.sql"
measure sqlite_copy "$ROWS" sqlite3 "$REF" \
    "ATTACH '$A' AS a; INSERT INTO articles SELECT id, title, content, created_at, updated_at FROM a.articles;"

# 2-4. articles sync into B.
B="$DIR/b.db"
rm -f "$B" "$B-wal" "$B-shm"
measure full_sync "$ROWS" "$BIN" sync --from "$A" --to "$B"
measure nochange_sync "$ROWS" "$BIN" sync --from "$A" --to "$B"
sqlite3 "$A" "UPDATE articles SET content = content || ' (edited)' WHERE id % 100 = 0;"
measure changed_sync "$ROWS" "$BIN" sync --from "$A" --to "$B"
"$BIN" verify --from "$A" --to "$B" >&2

# 5. Through the REST API.
PORT=$((20000 + RANDOM % 20000))
REST_DB="$DIR/rest.db"
rm -f "$REST_DB"* "$DIR/state.db"*
/usr/bin/time -f "%e %M %U %S" -o "$DIR/server.time" \
    "$BIN" serve-rest --database "$REST_DB" --bind "127.0.0.1:$PORT" --api-token bench \
    > "$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
done
measure rest_sync "$REST_ROWS" "$BIN" sync --from "$A_REST" --to "http://127.0.0.1:$PORT" \
    --state "$DIR/state.db" --api-token bench
# Stop the server itself (the child of GNU time), so that time reports it.
kill -TERM "$(pgrep -P "$SERVER_PID")"; wait "$SERVER_PID" || true; SERVER_PID=""
read -r _ server_rss server_user server_sys < "$DIR/server.time"
server_cpu="$(echo "$server_user + $server_sys" | bc -l)"
"$BIN" verify --from "$A_REST" --to "$REST_DB" >&2

# Report.
awk -v server_rss="$server_rss" -v server_cpu="$server_cpu" '
    { rows[$1] = $2; secs[$1] = $3; rss[$1] = $4; cpu[$1] = $5; order[NR] = $1 }
    END {
        printf "\n%-16s %10s %9s %12s %10s %9s\n", "step", "rows", "seconds", "rows/s", "peak RSS", "CPU s"
        for (i = 1; i <= NR; i++) {
            n = order[i]; s = secs[n] > 0 ? secs[n] : 0.001
            printf "%-16s %10d %9.2f %12.0f %7.1f MB %9.2f\n", n, rows[n], secs[n], rows[n] / s, rss[n] / 1024, cpu[n]
        }
        printf "%-16s %10s %9s %12s %7.1f MB %9.2f\n", "(REST server)", "", "", "", server_rss / 1024, server_cpu
        full = secs["full_sync"]; copy = secs["sqlite_copy"] > 0 ? secs["sqlite_copy"] : 0.001
        rest = rows["rest_sync"] / (secs["rest_sync"] > 0 ? secs["rest_sync"] : 0.001)
        maxrss = 0; for (n in rss) if (n != "sqlite_copy" && rss[n] > maxrss) maxrss = rss[n]
        printf "\n%-44s %8s  %s\n", "target", "measured", "met"
        printf "%-44s %7.2fx  %s\n", "full sync / sqlite copy <= 3x", full / copy, (full / copy <= 3 ? "yes" : "NO")
        printf "%-44s %7.1f%%  %s\n", "no-change sync / full sync < 25%", 100 * secs["nochange_sync"] / full, (secs["nochange_sync"] / full < 0.25 ? "yes" : "NO")
        printf "%-44s %7.1f%%  %s\n", "1% changed sync / full sync (no target)", 100 * secs["changed_sync"] / full, "-"
        printf "%-44s %8.0f  %s\n", "REST rows/s >= 50,000", rest, (rest >= 50000 ? "yes" : "NO")
        printf "%-44s %5.1f MB  %s\n", "peak RSS of articles sync < 200 MB", maxrss / 1024, (maxrss < 200 * 1024 ? "yes" : "NO")
    }' "$RESULTS"
