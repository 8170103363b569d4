#!/usr/bin/env bash
# Schemathesis against a real `articles serve-rest` (and `serve-graphql` in front of one), each on a
# fresh database and a port the OS picks; fails on any finding. scripts/test.sh runs it.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/schemathesis.sh [rest|graphql|all] [--help]

Property-based tests of the running servers with schemathesis (pinned in
scripts/schemathesis-requirements.txt, installed into target/schemathesis-venv on first use;
needs Python 3.9+ with venv, and PyPI):
  rest     `articles serve-rest` against its own /openapi.json: every phase (examples,
           coverage, fuzzing, stateful), checks not_a_server_error, response_schema_conformance
           and negative_data_rejection.
  graphql  `articles serve-graphql` (over a serve-rest) in schemathesis' GraphQL mode, check
           not_a_server_error.
  all      both (the default).
Each run is bounded (--max-examples, and a hard time limit) and seeded, so a run is repeatable;
the whole takes about a minute on 2 cores. Exit status 1 on any finding; schemathesis prints
each one with a curl command that reproduces it, and the server's warnings and errors follow.

Environment:
  SCHEMATHESIS_SEED          seed (default 12, the issue that brought this in)
  SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 100)
  ARTICLES_BIN               the binary to test (default: target/debug/articles, built first)
  PYTHON                     interpreter for the venv (default: python3.11, else python3)
USAGE
}

TARGET=all
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  rest|graphql|all) TARGET="$1" ;;
  "") ;;
  *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEED="${SCHEMATHESIS_SEED:-12}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
TIME_LIMIT=150 # seconds per run: a hang fails the run instead of CI

# --- schemathesis, pinned, in a git-ignored venv --------------------------------------------------
VENV="$ROOT/target/schemathesis-venv"
REQUIREMENTS="$ROOT/scripts/schemathesis-requirements.txt"
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
  PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  echo "==> installing schemathesis into $VENV ($("$PYTHON" --version))"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
ST="$VENV/bin/schemathesis"

# --- the binary, and servers on fresh databases ---------------------------------------------------
if [[ -z "${ARTICLES_BIN:-}" ]]; then
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml"
  ARTICLES_BIN="$ROOT/target/debug/articles"
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME ARGS...: runs `articles ARGS... --bind 127.0.0.1:0`, waits for its "listening ...
# port=N" log line and sets PORT. The access log is off; warnings and errors go to NAME.log.
start() {
  local name="$1"; shift
  local log="$WORK/$name.log"
  RUST_LOG="info,articles::access=off" "$ARTICLES_BIN" "$@" --bind 127.0.0.1:0 2>"$log" &
  PIDS+=($!)
  local pid=$!
  PORT=""
  for _ in $(seq 300); do
    PORT="$(sed -n 's/.*listening.* port=\([0-9][0-9]*\).*/\1/p' "$log" | head -n1)"
    [[ -n "$PORT" ]] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before listening:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "$name did not log its port within 30 s:" >&2; cat "$log" >&2; return 1
}

# report NAME STATUS: the server's warnings and errors (the cause of any 5xx is logged there).
report() {
  local name="$1" status="$2"
  if [[ "$status" != 0 ]] && grep -qE ' (WARN|ERROR) ' "$WORK/$name.log"; then
    echo "--- $name: warnings and errors logged during the run"
    # Less the start-up notice, and actix's note on the malformed header schemathesis sends to
    # probe what the server accepts.
    grep -E ' (WARN|ERROR) ' "$WORK/$name.log" \
      | grep -vE 'no --api-token set|request parse error' | tail -n 40 || true
  fi
}

# schemathesis runs in $WORK: the failure cache it keeps in .schemathesis/ goes with it, so every
# run is the same run.
ST_RUN=(env -C "$WORK" timeout "$TIME_LIMIT" "$ST" run)
COMMON=(--seed "$SEED" --max-examples "$MAX_EXAMPLES" --generation-database none --no-color)
FAILED=()

run_rest() {
  start rest serve-rest --database "$WORK/rest.db"
  local url="http://127.0.0.1:$PORT"
  echo "==> schemathesis: REST API at $url (seed $SEED, $MAX_EXAMPLES examples)"
  local status=0
  "${ST_RUN[@]}" "$url/openapi.json" "${COMMON[@]}" \
    --phases examples,coverage,fuzzing,stateful \
    --checks not_a_server_error,response_schema_conformance,negative_data_rejection \
    || status=$?
  report rest "$status"
  [[ "$status" == 0 ]] || FAILED+=(rest)
}

run_graphql() {
  start graphql-rest serve-rest --database "$WORK/graphql.db"
  local rest="http://127.0.0.1:$PORT"
  start graphql serve-graphql --rest-url "$rest"
  local url="http://127.0.0.1:$PORT/graphql"
  echo "==> schemathesis: GraphQL at $url over $rest (seed $SEED, $MAX_EXAMPLES examples)"
  local status=0
  "${ST_RUN[@]}" "$url" "${COMMON[@]}" --checks not_a_server_error || status=$?
  report graphql "$status"
  report graphql-rest "$status"
  [[ "$status" == 0 ]] || FAILED+=(graphql)
}

case "$TARGET" in
  rest) run_rest ;;
  graphql) run_graphql ;;
  all) run_rest; run_graphql ;;
esac

if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "schemathesis: findings in ${FAILED[*]} (see above; rerun with scripts/schemathesis.sh ${FAILED[0]})" >&2
  exit 1
fi
echo "schemathesis: no findings ($TARGET, seed $SEED)"
