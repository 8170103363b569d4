#!/usr/bin/env bash
# Benchmark of the REST API: throughput of each endpoint measured side by side in one run.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bench/rest.sh [--duration 10s] [--connections 32] [--access-log]

Builds the release binary, starts `articles serve-rest` on a fresh database in a temp dir,
seeds 100 articles of ~1 KB of prose-like text (bulk_load.py --prose), then runs wrk (-t1 -cN
-dD, same settings for every endpoint):
  GET /                      the in-process ceiling (static JSON)
  GET /articles/{id}         point read (random id among the 100)
  GET /articles?limit=20     a page
  POST /articles             create (~1 KB body)
  PUT /articles/{id}         partial update
compression, side by side (issue 12), with a second server that compresses every answer and
offers br (--compress-min-size 0 --compress gzip,zstd,br) beside the default one (gzip and zstd;
answers under 2 KiB go uncompressed):
  bytes of GET /articles?limit=100 (~100 KB) as identity, gzip, zstd and br (curl);
  GET /articles?limit=100    without Accept-Encoding, and with gzip, zstd; br on 2 connections
                             beside identity on 2 (at most 2 br answers are made at once)
  GET /articles/{id}         with gzip: skipped by the default server, compressed by the other;
                             zstd compressed
and a bulk upsert of 100,000 articles (~1 KB) in requests of 1,000 (bench/bulk_load.py).
Prints requests/s, the ratio GET /articles/{id} : GET /, the cost of each compression, bulk
articles/s and the server's peak RSS (VmHWM). Targets (issue 2): ratio >= 50%,
POST >= 10,000 req/s, bulk >= 100,000 articles/s, RSS < 64 MB.

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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
ALL_PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
ALL_URL="http://127.0.0.1:$ALL_PORT" # compresses every answer, however small, and offers br
RUST_LOG=$RUST_LOG_LEVEL "$BIN" serve-rest --database "$WORK/bench.db" --bind "127.0.0.1:$PORT" \
  2>"$WORK/server.log" &
PID=$!
RUST_LOG=$RUST_LOG_LEVEL "$BIN" serve-rest --database "$WORK/all.db" --bind "127.0.0.1:$ALL_PORT" \
  --compress-min-size 0 --compress gzip,zstd,br 2>"$WORK/server-all.log" &
ALL_PID=$!
trap 'kill $PID $ALL_PID 2>/dev/null; wait $PID $ALL_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for url in "$URL" "$ALL_URL"; do
  for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
  python3 "$BENCH/bulk_load.py" --url "$url" --articles 100 --batch 100 --prose --quiet
done

declare -A RPS
run() { # name, wrk args...
  local name="$1"; shift
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@") # a later -cN wins
  RPS[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-32s %12s req/s%s\n' "$name" "${RPS[$name]}" "${non2xx:+  (non-2xx: $non2xx)}"
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION against $URL"
run "GET /" "$URL/"
run "GET /articles/{id}" -s "$BENCH/wrk/get_article.lua" "$URL"
run "GET /articles?limit=20" "$URL/articles?limit=20"

PAGE="/articles?limit=100"
declare -A BYTES
for coding in identity gzip br zstd; do
  BYTES[$coding]=$(curl -s -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $coding" "$ALL_URL$PAGE")
done
echo
echo "GET $PAGE transfers ${BYTES[identity]} bytes; gzip ${BYTES[gzip]}, br ${BYTES[br]}, zstd ${BYTES[zstd]}"
run "GET $PAGE" "$ALL_URL$PAGE"
for coding in gzip zstd; do
  run "  with $coding" -H "Accept-Encoding: $coding" "$ALL_URL$PAGE"
done
# br, when offered, is made for at most 2 answers at once (the rest fall back to identity): br on
# 2 connections, beside identity on 2 connections.
run "GET $PAGE, 2 connections" -c2 "$ALL_URL$PAGE"
run "  with br, 2 connections" -c2 -H "Accept-Encoding: br" "$ALL_URL$PAGE"
run "GET /articles/{id} gzip, skipped" -H "Accept-Encoding: gzip" -s "$BENCH/wrk/get_article.lua" "$URL"
for coding in gzip zstd; do
  run "  $coding, compressed" -H "Accept-Encoding: $coding" -s "$BENCH/wrk/get_article.lua" "$ALL_URL"
done
echo
# Writes last: PUT rewrites the seeded articles, which the compression figures read.
run "POST /articles" -s "$BENCH/wrk/post_article.lua" "$URL"
run "PUT /articles/{id}" -s "$BENCH/wrk/put_article.lua" "$URL"
BULK=$(python3 "$BENCH/bulk_load.py" --url "$URL" --articles 100000 --batch 1000 --first-id 1000001)
echo "$BULK"
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
ALL_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$ALL_PID/status")

echo
python3 - "${RPS["GET /"]}" "${RPS["GET /articles/{id}"]}" "${RPS["POST /articles"]}" "$BULK" "$RSS_KB" \
  "${RPS["GET $PAGE"]}" "${RPS["  with gzip"]}" "${RPS["  with zstd"]}" \
  "${RPS["GET $PAGE, 2 connections"]}" "${RPS["  with br, 2 connections"]}" \
  "${RPS["GET /articles/{id} gzip, skipped"]}" "${RPS["  gzip, compressed"]}" "${RPS["  zstd, compressed"]}" \
  "${BYTES[identity]}" "${BYTES[gzip]}" "${BYTES[br]}" "${BYTES[zstd]}" "$ALL_RSS_KB" <<'PY'
import sys
ceiling, point, post, bulk, rss_kb = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
page, page_gzip, page_zstd, page_2, page_br, one_skipped, one_gzip, one_zstd = map(float, sys.argv[6:14])
size, size_gzip, size_br, size_zstd, all_rss_kb = map(int, sys.argv[14:19])
def cost(rate, base): return f"{rate/base - 1:+.0%} req/s"
print(f"page of 100, bytes           = identity {size:,}; gzip {size_gzip:,} ({size_gzip/size:.0%}), "
      f"zstd {size_zstd:,} ({size_zstd/size:.0%}), br {size_br:,} ({size_br/size:.0%})")
print(f"page of 100, compressed      = gzip {cost(page_gzip, page)}, zstd {cost(page_zstd, page)}, "
      f"br {cost(page_br, page_2)} (2 connections)")
print(f"one article, compressed      = gzip {cost(one_gzip, point)}, zstd {cost(one_zstd, point)}"
      f"; skipped (< 2 KiB) {cost(one_skipped, point)}")
print(f"compressing server peak RSS  = {all_rss_kb/1024:.1f} MB (the pages above: gzip and zstd, br on 2 connections)")
bulk_rate = float(bulk.split("articles/s")[0].split()[-1].replace(",", ""))
def verdict(ok): return "ok" if ok else "MISSED"
print(f"GET /articles/{{id}} : GET /   = {point/ceiling:.0%}  (target >= 50%)   {verdict(point/ceiling >= 0.5)}")
print(f"POST /articles             = {post:,.0f} req/s (target >= 10,000)   {verdict(post >= 10000)}")
print(f"bulk upsert                = {bulk_rate:,.0f} articles/s (target >= 100,000)   {verdict(bulk_rate >= 100000)}")
print(f"server peak RSS            = {rss_kb/1024:.1f} MB (target < 64 MB)   {verdict(rss_kb < 64*1024)}")
PY
