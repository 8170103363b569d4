#!/usr/bin/env bash
# Benchmark of lists, search and sync at millions of articles (issue 11; not a test). See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/scale.sh [--sizes "100 1000000 5000000"] [--duration 5s] [--connections 4]
                      [--dir DIR] [--keep]

Builds `articles` (release). For each size N (default: 100 and 1,000,000), in one run:

  1. generates a source database A of N articles of about 1 KB (sqlite3 CLI; titles
     "Article <id>", created_at in id order, updated_at in another order)
  2. SQLite's own copy: ATTACH A + INSERT INTO articles SELECT * FROM a.articles into a plain
     table with the same five columns (no index, no rules), in a new file
  3. `articles sync --from A --to B`, B new: the first load (rows, sync state, kept count,
     search index); then the same sync again, nothing changed (it reads every row of A)
  4. `articles serve-rest` on B, then with wrk -t1 (--connections, --duration, --latency):
     GET /articles?limit=20 for each sort (first page); the page reached through 50 `next`
     links, for each sort; q searches (p99); GET /articles/{N/2}
  5. single requests (best of 3): an offset page at 90% of N, a 1-character and a 2-character
     q, a q every title matches
  6. walking all N articles through `next` with limit=1000 (a Python client that reads each
     body and takes `next` from its end) against the no-change sync's reading of A

Then a table of every figure by size and the issue's targets: first page and cursor pages at
the largest size >= 0.5 of their rate at the smallest; q p99 < 20 ms at the largest; walking
all through `next` faster than sync reading them; first load <= 3x SQLite's copy.

Needs: cargo, sqlite3, wrk, curl, jq, python3, GNU time (/usr/bin/time), bc (Debian packages
sqlite3 wrk curl jq python3 time bc). Disk: about 4.5 GB per million articles in DIR (default:
a new directory under /tmp), removed after each size unless --keep. The machine's other load
shows in every figure; run it niced on a shared machine and read the figures as such.
EOF
}

SIZES="100 1000000"
DURATION=5s
CONNECTIONS=4
DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --dir) DIR="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in sqlite3 wrk curl jq python3 /usr/bin/time bc cargo; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see --help)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --bin articles --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/articles"

if [ -z "$DIR" ]; then DIR="$(mktemp -d /tmp/articles-scale-bench.XXXXXX)"; fi
mkdir -p "$DIR"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT

RESULTS="$DIR/results.tsv" # size <TAB> name <TAB> value
: > "$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; echo "  $2: $3" >&2; }

# seconds CMD...: wall seconds of CMD (GNU time), output to $DIR/last.log.
seconds() {
    /usr/bin/time -f "%e" -o "$DIR/time.out" "$@" > "$DIR/last.log" 2>&1 || {
        echo "failed: $*" >&2; cat "$DIR/last.log" >&2; exit 1; }
    cat "$DIR/time.out"
}

# wrk_run URL: "req/s p50_ms p99_ms" of wrk -t1 --latency on URL.
wrk_run() {
    local out
    out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1")
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers for $1" >&2; echo "$out" >&2; exit 1; fi
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print(f"{rps:.0f} {ms('50%'):.2f} {ms('99%'):.2f}")
PY
}

# one_request PATH: best of 3 wall times of one request, in ms.
one_request() {
    local best=""
    for _ in 1 2 3; do
        t=$(curl -sf -o /dev/null -w '%{time_total}' "$URL$1")
        best=$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:] if x]; print(min(a))" "$t" "$best")
    done
    python3 -c "print(f'{$best * 1000:.1f}')"
}

for N in $SIZES; do
    echo "== $N articles ==" >&2
    record "$N" "load_average_1min" "$(cut -d' ' -f1 /proc/loadavg)"
    A="$DIR/a.db"; B="$DIR/b.db"; REF="$DIR/ref.db"
    rm -f "$A" "$B" "$B-wal" "$B-shm" "$REF"
    sqlite3 "$A" <<EOF
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE articles (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL, content TEXT NOT NULL,
                       created_at DATETIME, updated_at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO articles
SELECT i, 'Article ' || i,
       'Lorem ipsum ' || i || ' ' || substr(hex(randomblob(500)), 1, 990),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + i, 'unixepoch'),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + (i * 7919) % $N, 'unixepoch')
FROM n;
EOF
    echo "A: $(du -h "$A" | cut -f1)" >&2

    # SQLite's own copy into a plain five-column table, just before the sync.
    sqlite3 "$REF" "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, content TEXT,
                                           created_at TIMESTAMP, updated_at TIMESTAMP);"
    sync
    record "$N" "copy_s" "$(seconds sqlite3 "$REF" "ATTACH '$A' AS a; INSERT INTO articles SELECT * FROM a.articles;")"
    rm -f "$REF"
    sync
    record "$N" "first_load_s" "$(seconds "$BIN" sync --from "$A" --to "$B")"
    record "$N" "nochange_sync_s" "$(seconds "$BIN" sync --from "$A" --to "$B")"
    echo "B: $(du -h "$B" | cut -f1)" >&2

    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    URL="http://127.0.0.1:$PORT"
    RUST_LOG=warn "$BIN" serve-rest --database "$B" --bind "127.0.0.1:$PORT" 2>"$DIR/server.log" &
    SERVER_PID=$!
    for _ in $(seq 300); do curl -sf "$URL/health" >/dev/null && break; sleep 0.1; done
    total=$(curl -sf "$URL/articles?limit=1&sort=-id" | jq .total)
    [ "$total" = "$N" ] || { echo "total $total, expected $N" >&2; exit 1; }

    for sort in id -id created_at -created_at updated_at -updated_at; do
        read -r rps p50 p99 <<<"$(wrk_run "$URL/articles?limit=20&sort=$sort")"
        record "$N" "first_page_${sort}_rps" "$rps"
        record "$N" "first_page_${sort}_p50_ms" "$p50"
        record "$N" "first_page_${sort}_p99_ms" "$p99"
        path="/articles?limit=20&sort=$sort"
        for _ in $(seq 50); do
            next=$(curl -sf "$URL$path" | jq -r .next)
            [ "$next" != null ] || break
            path="$next"
        done
        read -r rps p50 p99 <<<"$(wrk_run "$URL$path")"
        record "$N" "page_51_${sort}_rps" "$rps"
    done
    for q in "article%2099999" "article%20421" "cle%2012345"; do
        read -r rps p50 p99 <<<"$(wrk_run "$URL/articles?limit=20&q=$q")"
        record "$N" "q=${q//%20/ }_rps" "$rps"
        record "$N" "q=${q//%20/ }_p50_ms" "$p50"
        record "$N" "q=${q//%20/ }_p99_ms" "$p99"
    done
    read -r rps p50 p99 <<<"$(wrk_run "$URL/articles?limit=20&q=article%2099999&sort=-created_at")"
    record "$N" "q=article 99999,-created_at_p99_ms" "$p99"
    read -r rps p50 p99 <<<"$(wrk_run "$URL/articles/$(( (N + 1) / 2 ))")"
    record "$N" "get_by_id_rps" "$rps"
    record "$N" "offset_90pct_ms" "$(one_request "/articles?limit=20&offset=$((N * 9 / 10))")"
    record "$N" "q=7_ms" "$(one_request "/articles?limit=20&q=7")"
    record "$N" "q=99_ms" "$(one_request "/articles?limit=20&q=99")"
    record "$N" "q=article_ms" "$(one_request "/articles?limit=20&q=article")"

    # Every article through `next`, 1000 a page; the body's `next` is its last field.
    walk=$(python3 - "$PORT" "$N" <<'PY'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
path, rows, start = "/articles?limit=1000", 0, time.monotonic()
while path:
    conn.request("GET", path)
    body = conn.getresponse().read()
    tail = body[body.rindex(b'"count":'):]
    rows += int(tail[8:tail.index(b",")])
    nxt = json.loads(b"{" + body[body.rindex(b'"next":'):])["next"]
    path = nxt
elapsed = time.monotonic() - start
assert rows == n, (rows, n)
print(f"{elapsed:.2f}")
PY
)
    record "$N" "walk_all_next_1000_s" "$walk"

    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    if [ "$KEEP" = 0 ]; then rm -f "$A" "$B" "$B-wal" "$B-shm"; fi
done

python3 - "$RESULTS" <<'PY'
import sys
from collections import OrderedDict
rows = OrderedDict()
sizes = []
for line in open(sys.argv[1]):
    size, name, value = line.rstrip("\n").split("\t")
    size = int(size)
    if size not in sizes:
        sizes.append(size)
    rows.setdefault(name, {})[size] = float(value)
print()
print("| measure | " + " | ".join(f"{s:,} articles" for s in sizes) + " |")
print("|---|" + "---|" * len(sizes))
for name, values in rows.items():
    print(f"| {name} | " + " | ".join(f"{values[s]:,.2f}" if s in values else "" for s in sizes) + " |")
small, large = sizes[0], sizes[-1]
print()
print(f"targets ({large:,} against {small:,}):")
def ok(flag):
    return "met" if flag else "MISSED"
for name, values in rows.items():
    if (name.startswith("first_page_") or name.startswith("page_51_")) and name.endswith("_rps"):
        ratio = values[large] / values[small]
        print(f"  {name}: {ratio:.2f} of the rate at {small:,} (>= 0.5) {ok(ratio >= 0.5)}")
for name, values in rows.items():
    if name.startswith("q=") and name.endswith("_p99_ms"):
        print(f"  {name} at {large:,}: {values[large]:.2f} ms (< 20 ms) {ok(values[large] < 20)}")
# Whole-table timings of a small table are a few milliseconds of noise: judged from 100,000 on.
for size in (s for s in sizes if s >= 100_000):
    walk, read = rows["walk_all_next_1000_s"][size], rows["nochange_sync_s"][size]
    load, copy = rows["first_load_s"][size], rows["copy_s"][size]
    print(f"  {size:,}: walk through next {walk:.2f} s vs sync reading them {read:.2f} s {ok(walk < read)}; "
          f"first load {load:.2f} s = {load / max(copy, 0.001):.2f}x the copy ({copy:.2f} s; <= 3x) {ok(load <= 3 * max(copy, 0.001))}")
PY
