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
and prints requests/s for each and the ratio getArticle / REST (target: >= 40%). Then compression:
the bytes sent for the GraphiQL bundle and for that 100-article answer, as they are and with gzip,
br and zstd; and the throughput of getArticles(limit: 10) (an 11 KB answer; answers under 2 KiB
are not compressed) as it is and with Accept-Encoding gzip and br, interleaved in three rounds
(the best of each is printed). Article text is random words from a small vocabulary (about as
compressible as prose).

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
vocabulary=(the of and a to in is you that it he was for on are as with his they at be this from
    have or by one had not but what all were when we there can an your which their said if "do" will
    each about how up out them "then" she many some so these would other into has more her two like
    him see time could no make than first been its who now people my made over did down only way
    find use may water long little very after words called just where most know get through back
    much go good new write our used me man too any day same right look think also around another
    came come work three word must because does part even place well such here take why things
    help put years different away again off went old number great tell men say small every found
    still between name should home big give air line set own under read last never us left end
    along while might next sound below saw something thought both few those always looked show
    large often together asked house world going want school important until form food keep
    children feet land side without boy once animals life enough took sometimes four head above
    kind began almost live page got earth need far hand high year mother light parts country
    father let night following picture being study second eyes soon times story boys since white
    days ever paper hard near sentence better best across during today others however sure means)
words() { # n: n random words
    local out="" i
    for ((i = 0; i < $1; i++)); do out+="${vocabulary[RANDOM % ${#vocabulary[@]}]} "; done
    printf '%s' "${out% }"
}
RANDOM=12 # the same text every run
for i in $(seq "$articles"); do
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"title\":\"$(words 6)\",\"content\":\"$(words 200 | head -c 1000)\"}" \
        "http://127.0.0.1:$rest_port/articles"
done

run() { # name url script [more wrk arguments, e.g. -H 'Accept-Encoding: gzip']
    local name="$1" url="$2" script="$3"
    shift 3
    wrk -t"$threads" -c"$connections" -d"$warmup" "$@" -s "$root/bench/$script" "$url" -- "$articles" >/dev/null
    wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" -s "$root/bench/$script" "$url" -- "$articles" \
        | tee "$out/$name.txt" >/dev/null
    awk '/^Requests\/sec:/ {print $2}' "$out/$name.txt"
}

echo "== wrk -t$threads -c$connections -d$duration (after a $warmup warm-up each)"
rest=$(run rest_get "http://127.0.0.1:$rest_port" wrk/get_article.lua)
one=$(run graphql_get_article "http://127.0.0.1:$graphql_port" wrk/graphql_get_article.lua)
page=$(run graphql_get_articles "http://127.0.0.1:$graphql_port" wrk/graphql_get_articles.lua)

latency() { awk '/ 50% / {p50=$2} / 99% / {p99=$2} END {print p50 " / " p99}' "$out/$1.txt"; }

printf '\n%-36s %12s %18s\n' "target" "req/s" "p50 / p99"
printf '%-36s %12s %18s\n' "REST GET /articles/{id}" "$rest" "$(latency rest_get)"
printf '%-36s %12s %18s\n' "GraphQL getArticle(id)" "$one" "$(latency graphql_get_article)"
printf '%-36s %12s %18s\n' "GraphQL getArticles (100 articles)" "$page" "$(latency graphql_get_articles)"
awk -v a="$one" -v b="$rest" 'BEGIN { printf "\ngetArticle / REST = %.1f%% (target >= 40%%)\n", 100 * a / b }'

echo
echo "== compression: bytes sent (what the client downloads)"
graphql="http://127.0.0.1:$graphql_port"
bundle="$(curl -fsS "$graphql/graphql" | grep -o '/graphiql/graphiql-[0-9.]*min\.[0-9a-f]*\.js')"
page_query='{"query":"{ getArticles { success count data { id title content createdAt updatedAt } } }"}'
printf '%-44s %10s %10s %10s %10s\n' "" identity gzip br zstd
sizes() { # curl arguments...
    for encoding in identity gzip br zstd; do
        printf ' %10s' "$(curl -fsS -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $encoding" "$@")"
    done
    echo
}
printf '%-44s' "GraphiQL bundle (graphiql-3.8.3.min.js)"
sizes "$graphql$bundle"
printf '%-44s' "getArticles, 100 articles, every field"
sizes -H 'Content-Type: application/json' -d "$page_query" "$graphql/graphql"

echo
echo "== compression: throughput of getArticles(limit: 10) (an 11 KB answer), compressed per request"
echo "   (identity, gzip and br interleaved, three rounds; the best of each, the machine being shared)"
best() { printf '%s\n' "$@" | sort -g | tail -1; }
plain=() gzipped=() brotli=()
for round in 1 2 3; do
    # (wrk takes a header only as "Name: value", with the space)
    plain+=("$(run "graphql_page_identity_$round" "$graphql" wrk/graphql_get_articles_10.lua)")
    gzipped+=("$(run "graphql_page_gzip_$round" "$graphql" wrk/graphql_get_articles_10.lua -H 'Accept-Encoding: gzip')")
    brotli+=("$(run "graphql_page_br_$round" "$graphql" wrk/graphql_get_articles_10.lua -H 'Accept-Encoding: br')")
done
plain_rps=$(best "${plain[@]}") gzip_rps=$(best "${gzipped[@]}") br_rps=$(best "${brotli[@]}")
printf '%-36s %12s   %s\n' "getArticles(limit: 10)" "best req/s" "rounds"
printf '%-36s %12s   %s\n' "identity" "$plain_rps" "${plain[*]}"
printf '%-36s %12s   %s\n' "gzip" "$gzip_rps" "${gzipped[*]}"
printf '%-36s %12s   %s\n' "br" "$br_rps" "${brotli[*]}"
awk -v a="$gzip_rps" -v b="$br_rps" -v c="$plain_rps" \
    'BEGIN { printf "\ngzip / identity = %.1f%%, br / identity = %.1f%%\n", 100 * a / c, 100 * b / c }'
per_answer() { # name: bytes per answer (wrk's transfer over its requests)
    awk '/^Requests\/sec:/ {r=$2} /^Transfer\/sec:/ {t=$2; u=substr(t, length(t)-1); t+=0;
         t *= (u=="GB" ? 2^30 : u=="MB" ? 2^20 : u=="KB" ? 2^10 : 1)} END {printf "%.0f", t / r}' "$out/$1.txt"
}
echo "bytes per answer as wrk read them: identity $(per_answer graphql_page_identity_1)," \
    "gzip $(per_answer graphql_page_gzip_1), br $(per_answer graphql_page_br_1)"

errors=$(grep -h "Non-2xx\|Socket errors" "$out"/*.txt || true)
outcomes=$(curl -fsS "http://127.0.0.1:$graphql_port/metrics" |
    awk '/^articles_graphql_operations_total/ { split($0, a, "outcome=\""); split(a[2], b, "\""); n[b[1]] += $NF }
         END { for (k in n) printf "%s=%d ", k, n[k] }')
echo "GraphQL operations by outcome (warm-ups included): $outcomes"
if [[ -n "$errors" || "$outcomes" == *failed=* || "$outcomes" == *error=* ]]; then
    echo "INVALID RUN: some requests failed (see bench/out/*.txt):" >&2
    echo "$errors" >&2
    exit 1
fi
