#!/usr/bin/env bash
# Benchmark of the REST API: throughput of each endpoint measured side by side in one run.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bench/rest.sh [--duration 10s] [--connections 32] [--access-log]

Builds the release binary, starts `articles serve-rest` on a fresh database in a temp dir,
seeds 100 articles of ~1 KB, then runs wrk (-t1 -cN -dD, same settings for every endpoint):
  GET /                      the in-process ceiling (static JSON)
  GET /articles/{id}         point read (random id among the 100)
  GET /articles?limit=20     a page
  POST /articles             create (~1 KB body)
  PUT /articles/{id}         partial update
and a bulk upsert of 100,000 articles (~1 KB) in requests of 1,000 (bench/bulk_load.py).
Prints requests/s, the ratio GET /articles/{id} : GET /, bulk articles/s and the server's
peak RSS (VmHWM). Targets (issue 2): ratio >= 50%, POST >= 10,000 req/s,
bulk >= 100,000 articles/s, RSS < 64 MB.

Needs wrk and python3 (apt-get install wrk). The access log is off (RUST_LOG=warn) unless
--access-log is given, so the figures measure the server, not the terminal.
USAGE
}

DURATION=10s
CONNECTIONS=32
RUST_LOG_LEVEL=warn
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --access-log) RUST_LOG_LEVEL=info; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/articles"

WORK="$(mktemp -d)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
RUST_LOG=$RUST_LOG_LEVEL "$BIN" serve-rest --database "$WORK/bench.db" --bind "127.0.0.1:$PORT" \
  2>"$WORK/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$URL/health" >/dev/null && break; sleep 0.1; done

python3 "$BENCH/bulk_load.py" --url "$URL" --articles 100 --batch 100 --quiet

declare -A RPS
run() { # name, wrk args...
  local name="$1"; shift
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@")
  RPS[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-24s %12s req/s%s\n' "$name" "${RPS[$name]}" "${non2xx:+  (non-2xx: $non2xx)}"
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION against $URL"
run "GET /" "$URL/"
run "GET /articles/{id}" -s "$BENCH/wrk/get_article.lua" "$URL"
run "GET /articles?limit=20" "$URL/articles?limit=20"
run "POST /articles" -s "$BENCH/wrk/post_article.lua" "$URL"
run "PUT /articles/{id}" -s "$BENCH/wrk/put_article.lua" "$URL"
BULK=$(python3 "$BENCH/bulk_load.py" --url "$URL" --articles 100000 --batch 1000 --first-id 1000001)
echo "$BULK"
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")

echo
python3 - "${RPS["GET /"]}" "${RPS["GET /articles/{id}"]}" "${RPS["POST /articles"]}" "$BULK" "$RSS_KB" <<'PY'
import sys
ceiling, point, post, bulk, rss_kb = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
bulk_rate = float(bulk.split("articles/s")[0].split()[-1].replace(",", ""))
def verdict(ok): return "ok" if ok else "MISSED"
print(f"GET /articles/{{id}} : GET /   = {point/ceiling:.0%}  (target >= 50%)   {verdict(point/ceiling >= 0.5)}")
print(f"POST /articles             = {post:,.0f} req/s (target >= 10,000)   {verdict(post >= 10000)}")
print(f"bulk upsert                = {bulk_rate:,.0f} articles/s (target >= 100,000)   {verdict(bulk_rate >= 100000)}")
print(f"server peak RSS            = {rss_kb/1024:.1f} MB (target < 64 MB)   {verdict(rss_kb < 64*1024)}")
PY
