#!/usr/bin/env bash
# Benchmark of the Kafka pipeline (not a test). See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/kafka.sh [--rows N] [--size BYTES] [--steady-seconds S] [--dir DIR] [--keep]

Builds `articles` (release), starts the development broker (scripts/kafka.sh), generates a
source A of N articles (default 200,000) of about BYTES of content (default 1000), then measures
in one run, side by side:

  1. broker limit   Kafka's own org.apache.kafka.tools.ProducerPerformance: N records of BYTES,
                    acks=all, into a 3-partition topic (what the broker takes on this machine)
  2. end to end     `articles sync --from A --to kafka://…` with one `consume-kafka` already
                    running in front of `serve-rest` on an empty B: seconds from the start of the
                    sync until `articles verify` says B equals A
  3. drain          a topic already holding A's N changes, drained by a fresh consumer into a
                    fresh REST API: seconds from the consumer's start until it applied N
  4. steady latency ProducerPerformance at 1,000 messages/s for S seconds (default 30) into a
                    running consumer: p50 / p99 of articles_kafka_pipeline_latency_seconds
                    (publish to applied), from the consumer's histogram

Prints rows/s for each, the ratios the issue asks for (end to end >= 0.4 x broker limit, drain
>= 40,000 articles/s) and the consumer's peak RSS (target < 64 MB). Needs cargo, Java 17 + Maven
(for the broker), sqlite3, curl, python3. Uses DIR (default a new directory under /tmp, removed
at the end unless --keep).
EOF
}

ROWS=200000
SIZE=1000
STEADY=30
DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS="$2"; shift 2 ;;
        --size) SIZE="$2"; shift 2 ;;
        --steady-seconds) STEADY="$2"; shift 2 ;;
        --dir) DIR="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for tool in sqlite3 curl cargo python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see --help)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --bin articles --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/articles"
"$ROOT/scripts/kafka.sh" start >&2
BROKERS="$(cat "$ROOT/target/services/kafka/address")"
kafka_tool() { "$ROOT/scripts/kafka.sh" tool "$@"; }

if [ -z "$DIR" ]; then DIR="$(mktemp -d /tmp/articles-kafka-bench.XXXXXX)"; fi
mkdir -p "$DIR"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT
RUN="$$-$(date +%s)"

now() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import time; print(time.time() - $1)"; }
rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }

# Starts `articles <args>` in the background with its log in $DIR/$1.log; sets LAST_PID.
start_bg() {
    local name="$1"; shift
    RUST_LOG=warn "$BIN" "$@" >"$DIR/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# Waits until `url` answers 200.
wait_http() {
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; then return 0; fi
        sleep 0.1
    done
    echo "$1 did not come up" >&2; exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A metric sample of a consumer (`name{labels}` as exported); 0 when absent.
metric() { curl -s "$1/metrics" | awk -v s="$2" '$1 == s { print $2; found=1 } END { if (!found) print 0 }'; }

create_topic() {
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create \
        --topic "$1" --partitions 3 --replication-factor 1 >/dev/null
}

A="$DIR/a.db"
echo "generating $ROWS articles of ~$SIZE bytes in $A ..." >&2
sqlite3 "$A" <<EOF
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL,
                       created_at DATETIME, updated_at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO articles
SELECT i, 'Article number ' || i, substr(hex(randomblob($SIZE / 2 + 1)), 1, $SIZE),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + i, 'unixepoch'),
       strftime('%Y-%m-%d %H:%M:%f', 1600000000 + 2 * i, 'unixepoch')
FROM n;
EOF

# 1. The broker's own limit.
echo "1/4 broker limit (ProducerPerformance, acks=all) ..." >&2
PERF_TOPIC="bench-perf-$RUN"
create_topic "$PERF_TOPIC"
PERF_LINE="$(kafka_tool org.apache.kafka.tools.ProducerPerformance --topic "$PERF_TOPIC" \
    --num-records "$ROWS" --record-size "$SIZE" --throughput -1 \
    --producer-props "bootstrap.servers=$BROKERS" acks=all 2>/dev/null | tail -n 1)"
BROKER_RATE="$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$PERF_LINE")"

# 2. End to end: sync -> topic -> consumer -> REST -> B, one consumer already running.
echo "2/4 end to end ..." >&2
E2E_TOPIC="bench-e2e-$RUN"
REST_PORT="$(free_port)"
start_bg rest-e2e serve-rest --database "$DIR/b.db" --bind "127.0.0.1:$REST_PORT"
wait_http "http://127.0.0.1:$REST_PORT/health"
create_topic "$E2E_TOPIC"
METRICS_PORT="$(free_port)"
start_bg consumer-e2e consume-kafka --brokers "$BROKERS" --topic "$E2E_TOPIC" \
    --group "bench-e2e-$RUN" --rest-url "http://127.0.0.1:$REST_PORT" \
    --metrics-bind "127.0.0.1:$METRICS_PORT"
E2E_PID="$LAST_PID"
E2E_CONSUMER="http://127.0.0.1:$METRICS_PORT"
wait_http "$E2E_CONSUMER/health"
START="$(now)"
"$BIN" sync --from "$A" --to "kafka://$BROKERS/$E2E_TOPIC" --state "$DIR/e2e-state.db" >"$DIR/sync-e2e.out" 2>&1
SYNC_SECONDS="$(since "$START")"
until [ "$(metric "$E2E_CONSUMER" articles_kafka_messages_applied_total)" -ge "$ROWS" ] 2>/dev/null; do sleep 0.05; done
"$BIN" verify --from "$A" --to "$DIR/b.db" >"$DIR/verify-e2e.out" 2>&1 || { cat "$DIR/verify-e2e.out" >&2; exit 1; }
E2E_SECONDS="$(since "$START")"

# 3. Drain: the same changes already in a topic, a fresh consumer and REST API.
echo "3/4 drain a pre-filled topic ..." >&2
DRAIN_TOPIC="bench-drain-$RUN"
create_topic "$DRAIN_TOPIC"
"$BIN" sync --from "$A" --to "kafka://$BROKERS/$DRAIN_TOPIC" --state "$DIR/drain-state.db" >/dev/null 2>&1
REST2_PORT="$(free_port)"
start_bg rest-drain serve-rest --database "$DIR/c.db" --bind "127.0.0.1:$REST2_PORT"
wait_http "http://127.0.0.1:$REST2_PORT/health"
METRICS2_PORT="$(free_port)"
START="$(now)"
start_bg consumer-drain consume-kafka --brokers "$BROKERS" --topic "$DRAIN_TOPIC" \
    --group "bench-drain-$RUN" --rest-url "http://127.0.0.1:$REST2_PORT" \
    --metrics-bind "127.0.0.1:$METRICS2_PORT"
DRAIN_PID="$LAST_PID"
DRAIN_CONSUMER="http://127.0.0.1:$METRICS2_PORT"
until [ "$(metric "$DRAIN_CONSUMER" articles_kafka_messages_applied_total 2>/dev/null)" -ge "$ROWS" ] 2>/dev/null; do sleep 0.05; done
DRAIN_SECONDS="$(since "$START")"
"$BIN" verify --from "$A" --to "$DIR/c.db" >/dev/null 2>&1 || { echo "drain: C differs from A" >&2; exit 1; }
DRAIN_RSS_KB="$(awk '/VmHWM/ { print $2 }' "/proc/$DRAIN_PID/status")"

# 4. Steady 1,000 messages/s into the end-to-end consumer (original bare shape, ~SIZE bytes).
echo "4/4 steady 1,000 changes/s for ${STEADY}s ..." >&2
python3 - "$DIR/payloads.txt" "$SIZE" <<'PY'
import json, sys, random
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "w") as out:
    for i in range(1, 5001):
        body = "".join(random.choice("abcdef0123456789") for _ in range(size))
        out.write(json.dumps({"id": 10_000_000 + i, "title": f"steady {i}", "content": body}) + "\n")
PY
buckets() { curl -s "$1/metrics" | grep '^articles_kafka_pipeline_latency_seconds_bucket'; }
buckets "$E2E_CONSUMER" >"$DIR/latency-before.txt"
BEFORE_APPLIED="$(metric "$E2E_CONSUMER" articles_kafka_messages_applied_total)"
STEADY_RECORDS=$((STEADY * 1000))
kafka_tool org.apache.kafka.tools.ProducerPerformance --topic "$E2E_TOPIC" \
    --num-records "$STEADY_RECORDS" --payload-file "$DIR/payloads.txt" --throughput 1000 \
    --producer-props "bootstrap.servers=$BROKERS" acks=all linger.ms=0 >"$DIR/steady.out" 2>&1
until [ "$(metric "$E2E_CONSUMER" articles_kafka_messages_applied_total)" -ge $((BEFORE_APPLIED + STEADY_RECORDS)) ]; do sleep 0.1; done
buckets "$E2E_CONSUMER" >"$DIR/latency-after.txt"
read -r P50 P99 < <(python3 - "$DIR/latency-before.txt" "$DIR/latency-after.txt" <<'PY'
import re, sys
def load(path):
    out = {}
    for line in open(path):
        m = re.search(r'le="([^"]+)"\} (\S+)', line)
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out
before, after = load(sys.argv[1]), load(sys.argv[2])
les = sorted(after)
counts = [after[le] - before.get(le, 0) for le in les]
total = counts[-1]
def quantile(q):
    # As Prometheus' histogram_quantile: linear within the bucket.
    rank, prev_le, prev_count = q * total, 0.0, 0.0
    for le, count in zip(les, counts):
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return float("nan")
print(f"{quantile(0.5) * 1000:.1f} {quantile(0.99) * 1000:.1f}")
PY
)
E2E_RSS_KB="$(awk '/VmHWM/ { print $2 }' "/proc/$E2E_PID/status")"

E2E_RATE="$(rate "$ROWS" "$E2E_SECONDS")"
DRAIN_RATE="$(rate "$ROWS" "$DRAIN_SECONDS")"
SYNC_RATE="$(rate "$ROWS" "$SYNC_SECONDS")"
cat <<EOF

Kafka pipeline, $ROWS articles of ~$SIZE bytes, broker $BROKERS (one broker, this machine)

| measurement | seconds | articles/s |
|---|---|---|
| broker limit (ProducerPerformance, acks=all) | | $(printf "%'.0f" "$BROKER_RATE") |
| sync --to kafka alone (publishing) | $(printf '%.2f' "$SYNC_SECONDS") | $SYNC_RATE |
| end to end (sync start until B verifies equal) | $(printf '%.2f' "$E2E_SECONDS") | $E2E_RATE |
| drain of a pre-filled topic (one consumer) | $(printf '%.2f' "$DRAIN_SECONDS") | $DRAIN_RATE |

end to end / broker limit: $(python3 -c "print(f'{$ROWS / $E2E_SECONDS / $BROKER_RATE:.2f}')") (target >= 0.4)
drain: $DRAIN_RATE articles/s (target >= 40,000)
steady 1,000 changes/s for ${STEADY}s: pipeline latency p50 ${P50} ms, p99 ${P99} ms
consumer peak RSS: drain $((DRAIN_RSS_KB / 1024)) MB, end-to-end consumer $((E2E_RSS_KB / 1024)) MB (target < 64 MB)
EOF
