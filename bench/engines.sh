#!/usr/bin/env bash
# Benchmark of `articles sync` between engines (not a test). See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/engines.sh [--rows N] [--dir DIR] [--keep]

Builds `articles` (release), starts the development PostgreSQL and MariaDB (scripts/postgres.sh,
scripts/mariadb.sh) unless they run (stopping at the end only what it started), generates a
SQLite database A with N articles (~1 KB of content each, default 1,000,000), loads it into a
MySQL and a PostgreSQL source database with `articles sync`, then measures side by side in one
run, for each pair, the engine's own bulk path and `articles sync`:

  MySQL -> SQLite        mariadb --batch --raw (SELECT of the five columns) | sqlite3 .import
                         into an empty table of the destination's first migration, against
                         articles sync --from mysql://... --to b.db (empty)
  PostgreSQL -> SQLite   psql COPY (SELECT ...) TO STDOUT | sqlite3 .import, the same table,
                         against articles sync --from postgres://... --to c.db (empty)
  SQLite -> PostgreSQL   sqlite3 (tab-separated SELECT) | psql COPY ... FROM STDIN into an empty
                         table of the same five columns and primary key, against articles sync
                         --from a.db --to postgres://... (a new database, migrated by sync: its
                         count, title index and trigram index are part of the cost)

and each sync once more with nothing changed. For each: wall seconds, rows/s, peak RSS and CPU
(GNU time; of the client side only: the servers' own work shows in the wall time). Targets:
each sync within 3x of its engine's bulk path; a no-change rerun within 25% of its full run.

Needs: cargo, sqlite3, psql, the mariadb client, GNU time (/usr/bin/time), bc (Debian packages
sqlite3, postgresql-client, mariadb-client, time, bc; scripts/install-test-deps.sh installs the
servers). Uses about 10 GB of disk: DIR (default a new directory under /tmp, removed at the end
unless --keep) and the servers' data directories (its databases are dropped at the end).
EOF
}

ROWS=1000000
DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS="$2"; shift 2 ;;
        --dir) DIR="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in sqlite3 psql mariadb /usr/bin/time cargo bc; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see --help)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/measure.sh
source "$ROOT/bench/lib/measure.sh"
cargo build --release --bin articles --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/articles"

if [ -z "$DIR" ]; then DIR="$(mktemp -d /tmp/articles-engines-bench.XXXXXX)"; fi
mkdir -p "$DIR"

STARTED=()
PG_ADMIN=""
MY_ADMIN=""
cleanup() {
    if [ -n "$PG_ADMIN" ]; then
        for db in bench_src bench_dst bench_ref; do
            psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
        done
    fi
    if [ -n "$MY_ADMIN" ]; then
        "${MY_ADMIN[@]}" -e "DROP DATABASE IF EXISTS bench_src" >/dev/null 2>&1 || true
    fi
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        "$ROOT/scripts/${STARTED[i]}.sh" stop >&2 || true
    done
    if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT

for service in postgres mariadb; do
    if ! "$ROOT/scripts/$service.sh" status >/dev/null; then
        STARTED+=("$service")
        "$ROOT/scripts/$service.sh" start >&2
    fi
done
PG_ADMIN="$(cat "$ROOT/target/services/postgres/url")"
MY_URL="$(cat "$ROOT/target/services/mariadb/url")"
# mysql://USER:PASSWORD@HOST:PORT/DB for the mariadb client.
my_rest="${MY_URL#mysql://}"
my_user="${my_rest%%:*}"; my_rest="${my_rest#*:}"
my_password="${my_rest%%@*}"; my_rest="${my_rest#*@}"
my_host="${my_rest%%:*}"; my_rest="${my_rest#*:}"
my_port="${my_rest%%/*}"
MY_ADMIN=(mariadb --no-defaults --protocol=tcp -h "$my_host" -P "$my_port" -u "$my_user"
    "-p$my_password" --default-character-set=utf8mb4)
pg_url() { echo "${PG_ADMIN%/*}/$1"; }
my_url() { echo "${MY_URL%/*}/$1"; }

A="$DIR/a.db"
echo "generating $ROWS articles in $A ..." >&2
generate_articles "$A" "$ROWS"

for db in bench_src bench_dst bench_ref; do
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done
"${MY_ADMIN[@]}" -e "DROP DATABASE IF EXISTS bench_src; CREATE DATABASE bench_src"
echo "loading the MySQL and PostgreSQL sources (with articles sync) ..." >&2
"$BIN" sync --from "$A" --to "$(my_url bench_src)" >&2
"$BIN" sync --from "$A" --to "$(pg_url bench_src)" >&2
psql -q "$(pg_url bench_src)" -c "VACUUM ANALYZE" >/dev/null

RESULTS="$DIR/results"
: > "$RESULTS"

# The SQLite destination's first migration: the table the bulk paths load.
REF_SCHEMA="$(ls -d "$ROOT"/migrations/sqlite/*_create_articles)/up.sql"
SELECT="SELECT id, title, content, created_at, updated_at FROM articles ORDER BY id"

# MySQL -> SQLite.
rm -f "$DIR/ref_my.db"; sqlite3 "$DIR/ref_my.db" < "$REF_SCHEMA"
measure mysql_bulk "$ROWS" bash -c "$(printf '%q ' "${MY_ADMIN[@]}") --batch --raw \
    --skip-column-names --quick bench_src -e '$SELECT' \
    | sqlite3 '$DIR/ref_my.db' '.mode tabs' '.import /dev/stdin articles'"
measure mysql_sync "$ROWS" "$BIN" sync --from "$(my_url bench_src)" --to "$DIR/b.db"
measure mysql_rerun "$ROWS" "$BIN" sync --from "$(my_url bench_src)" --to "$DIR/b.db"

# PostgreSQL -> SQLite.
rm -f "$DIR/ref_pg.db"; sqlite3 "$DIR/ref_pg.db" < "$REF_SCHEMA"
measure postgres_bulk "$ROWS" bash -c "psql -q '$(pg_url bench_src)' \
    -c 'COPY ($SELECT) TO STDOUT' | sqlite3 '$DIR/ref_pg.db' '.mode tabs' '.import /dev/stdin articles'"
measure postgres_sync "$ROWS" "$BIN" sync --from "$(pg_url bench_src)" --to "$DIR/c.db"
measure postgres_rerun "$ROWS" "$BIN" sync --from "$(pg_url bench_src)" --to "$DIR/c.db"

# SQLite -> PostgreSQL.
psql -q "$(pg_url bench_ref)" -c "CREATE TABLE articles (id bigint PRIMARY KEY, title text NOT NULL,
    content text NOT NULL, created_at timestamp, updated_at timestamp)" >/dev/null
measure sqlite_bulk "$ROWS" bash -c "sqlite3 -separator \$'\\t' '$A' '$SELECT' \
    | psql -q '$(pg_url bench_ref)' -c 'COPY articles FROM STDIN'"
measure sqlite_sync "$ROWS" "$BIN" sync --from "$A" --to "$(pg_url bench_dst)"
measure sqlite_rerun "$ROWS" "$BIN" sync --from "$A" --to "$(pg_url bench_dst)"

"$BIN" verify --from "$(my_url bench_src)" --to "$DIR/b.db" >&2
"$BIN" verify --from "$(pg_url bench_src)" --to "$DIR/c.db" >&2
"$BIN" verify --from "$A" --to "$(pg_url bench_dst)" >&2

# Report.
awk '
    { rows[$1] = $2; secs[$1] = $3; rss[$1] = $4; cpu[$1] = $5; order[NR] = $1 }
    END {
        printf "\n%-16s %10s %9s %12s %10s %9s\n", "step", "rows", "seconds", "rows/s", "peak RSS", "CPU s"
        for (i = 1; i <= NR; i++) {
            n = order[i]; s = secs[n] > 0 ? secs[n] : 0.001
            printf "%-16s %10d %9.2f %12.0f %7.1f MB %9.2f\n", n, rows[n], secs[n], rows[n] / s, rss[n] / 1024, cpu[n]
        }
        printf "\n%-48s %8s  %s\n", "target", "measured", "met"
        split("mysql postgres sqlite", from, " ")
        split("MySQL -> SQLite|PostgreSQL -> SQLite|SQLite -> PostgreSQL", label, "|")
        for (i = 1; i <= 3; i++) {
            f = from[i]; bulk = secs[f "_bulk"] > 0 ? secs[f "_bulk"] : 0.001; full = secs[f "_sync"]
            printf "%-48s %7.2fx  %s\n", label[i] ": sync <= 3x bulk path", full / bulk, (full / bulk <= 3 ? "yes" : "NO")
            printf "%-48s %7.1f%%  %s\n", label[i] ": no-change rerun < 25% of sync", 100 * secs[f "_rerun"] / full, (secs[f "_rerun"] / full < 0.25 ? "yes" : "NO")
        }
    }' "$RESULTS"
