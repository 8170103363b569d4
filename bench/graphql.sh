#!/usr/bin/env bash
# Throughput of the GraphQL server against the REST API it calls, in one run (see --help).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: bench/graphql.sh [--duration 10s] [--connections 32] [--help]

Builds the release binary, starts `articles serve-rest` on a fresh database holding 100 articles
of about 1 KB and `articles serve-graphql` in front of it, then runs wrk with the same settings
against, in turn:
  1. REST     GET /articles/{id}              (direct, random id 1..100)
  2. GraphQL  getArticle(id)                  (one REST GET per request, random id 1..100)
  3. GraphQL  getArticles                     (one REST GET of the default 100-article page)
and prints requests/s for each and the ratio getArticle / REST (target: >= 40%).

Settings (flags win over the environment):
  --duration / WRK_DURATION (10s)   --connections / WRK_CONNECTIONS (32)   WRK_THREADS (1)
  WARMUP (2s)   REST_PORT (15500)   GRAPHQL_PORT (18500)
  WORKERS (worker threads of each server; default one per CPU)
The access logs are off (RUST_LOG=warn). Needs wrk (Debian: apt-get install wrk) and curl.
wrk's full output goes to bench/out/graphql/. The run is refused (exit 1) if any request got a
non-2xx answer or any GraphQL operation did not answer success.
It is a benchmark, not a test: numbers depend on the machine and on what else runs on it.
USAGE
}

while [[ $# -gt 0 ]]; do
    case "$1" in
    --help | -h)
        usage
        exit 0
        ;;
    --duration)
        WRK_DURATION="${2:?--duration needs a value}"
        shift 2
        ;;
    --connections)
        WRK_CONNECTIONS="${2:?--connections needs a value}"
        shift 2
        ;;
    *)
        echo "error: unknown argument $1 (see --help)" >&2
        exit 2
        ;;
    esac
done

for tool in wrk curl cargo; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (see --help)" >&2; exit 1; }
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="${WRK_THREADS:-1}"
connections="${WRK_CONNECTIONS:-32}"
duration="${WRK_DURATION:-10s}"
warmup="${WARMUP:-2s}"
rest_port="${REST_PORT:-15500}"
graphql_port="${GRAPHQL_PORT:-18500}"
articles=100
out="$root/bench/out/graphql"
mkdir -p "$out"

echo "== building release binary"
(cd "$root" && cargo build --release --quiet)
bin="$root/target/release/articles"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

worker_args=()
if [[ -n "${WORKERS:-}" ]]; then
    worker_args=(--workers "$WORKERS")
fi

wait_for() {
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "$1"; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: $1 did not come up" >&2
    exit 1
}

echo "== starting REST on :$rest_port and GraphQL on :$graphql_port"
RUST_LOG=warn "$bin" serve-rest --database "$work/bench.db" --bind "127.0.0.1:$rest_port" \
    "${worker_args[@]}" 2>"$out/rest.log" &
pids+=($!)
wait_for "http://127.0.0.1:$rest_port/health"
RUST_LOG=warn "$bin" serve-graphql --bind "127.0.0.1:$graphql_port" \
    --rest-url "http://127.0.0.1:$rest_port" "${worker_args[@]}" 2>"$out/graphql.log" &
pids+=($!)
wait_for "http://127.0.0.1:$graphql_port/health"

echo "== seeding $articles articles of ~1 KB"
content="$(head -c 1000 /dev/zero | tr '\0' 'x')"
for i in $(seq "$articles"); do
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"title\":\"Article $i\",\"content\":\"$content\"}" \
        "http://127.0.0.1:$rest_port/articles"
done

run() { # name url script
    local name="$1" url="$2" script="$3"
    wrk -t"$threads" -c"$connections" -d"$warmup" -s "$root/bench/$script" "$url" -- "$articles" >/dev/null
    wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$root/bench/$script" "$url" -- "$articles" \
        | tee "$out/$name.txt" >/dev/null
    awk '/^Requests\/sec:/ {print $2}' "$out/$name.txt"
}

echo "== wrk -t$threads -c$connections -d$duration (after a $warmup warm-up each)"
rest=$(run rest_get "http://127.0.0.1:$rest_port" wrk/get_article.lua)
one=$(run graphql_get_article "http://127.0.0.1:$graphql_port" wrk/graphql_get_article.lua)
page=$(run graphql_get_articles "http://127.0.0.1:$graphql_port" wrk/graphql_get_articles.lua)

errors=$(grep -h "Non-2xx\|Socket errors" "$out"/rest_get.txt "$out"/graphql_get_article.txt "$out"/graphql_get_articles.txt || true)
latency() { awk '/ 50% / {p50=$2} / 99% / {p99=$2} END {print p50 " / " p99}' "$out/$1.txt"; }

printf '\n%-36s %12s %18s\n' "target" "req/s" "p50 / p99"
printf '%-36s %12s %18s\n' "REST GET /articles/{id}" "$rest" "$(latency rest_get)"
printf '%-36s %12s %18s\n' "GraphQL getArticle(id)" "$one" "$(latency graphql_get_article)"
printf '%-36s %12s %18s\n' "GraphQL getArticles (100 articles)" "$page" "$(latency graphql_get_articles)"
awk -v a="$one" -v b="$rest" 'BEGIN { printf "\ngetArticle / REST = %.1f%% (target >= 40%%)\n", 100 * a / b }'
outcomes=$(curl -fsS "http://127.0.0.1:$graphql_port/metrics" |
    awk '/^articles_graphql_operations_total/ { split($0, a, "outcome=\""); split(a[2], b, "\""); n[b[1]] += $NF }
         END { for (k in n) printf "%s=%d ", k, n[k] }')
echo "GraphQL operations by outcome (warm-ups included): $outcomes"
if [[ -n "$errors" || "$outcomes" == *failed=* || "$outcomes" == *error=* ]]; then
    echo "INVALID RUN: some requests failed (see bench/out/*.txt):" >&2
    echo "$errors" >&2
    exit 1
fi
