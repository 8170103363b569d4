#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs what the tests need on a
# fresh machine, starts the development Kafka broker, PostgreSQL and MariaDB unless they run
# already (stopping at exit only what this script started), then checks formatting and lints, runs
# schemathesis against the real servers (scripts/schemathesis.sh) and every cargo test.
#   --no-install   skip the dependency step (everything is already installed)
# ARTICLES_TEST_KAFKA_BROKERS=host:port,... runs the Kafka tests against that cluster instead,
# ARTICLES_TEST_POSTGRES_URL=postgres://... the PostgreSQL tests against that server,
# ARTICLES_TEST_MYSQL_URL=mysql://... the MySQL tests (tests/sync_engines.rs) against that one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--no-install" ]]; then
  scripts/install-test-deps.sh
fi

# The services this script started (scripts/NAME.sh), stopped at exit, last started first.
started=()
stop_started() {
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    "scripts/${started[i]}.sh" stop || true
  done
}
trap stop_started EXIT
# Ctrl-C or a TERM becomes an exit, so the trap above stops them then too.
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${ARTICLES_TEST_KAFKA_BROKERS:-}" ]]; then
  missing=()
  command -v java >/dev/null || missing+=("java (17 or later)")
  command -v mvn >/dev/null || missing+=("mvn (Maven)")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "error: the Kafka tests run a local broker, which needs Java and Maven; missing: ${missing[*]}." >&2
    echo "       Install them with scripts/install-test-deps.sh (apt-get install default-jre-headless maven)," >&2
    echo "       or point the tests at an existing cluster: ARTICLES_TEST_KAFKA_BROKERS=host:9092" >&2
    exit 1
  fi
  if ! scripts/kafka.sh status >/dev/null; then
    echo "==> scripts/kafka.sh start"
    started+=(kafka)
    scripts/kafka.sh start
  fi
fi

if [[ -z "${ARTICLES_TEST_POSTGRES_URL:-}" ]] && ! scripts/postgres.sh status >/dev/null; then
  echo "==> scripts/postgres.sh start"
  started+=(postgres)
  scripts/postgres.sh start
fi

if [[ -z "${ARTICLES_TEST_MYSQL_URL:-}" ]] && ! scripts/mariadb.sh status >/dev/null; then
  echo "==> scripts/mariadb.sh start"
  started+=(mariadb)
  scripts/mariadb.sh start
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> scripts/schemathesis.sh all"
scripts/schemathesis.sh all
echo "==> cargo test"
cargo test --all-targets
# The REST API's HTTP behaviour once more over PostgreSQL (tests/common: a database per test):
# every test binary that only speaks HTTP to an in-process API.
echo "==> ARTICLES_TEST_STORE=postgres cargo test (the HTTP suites on PostgreSQL)"
ARTICLES_TEST_STORE=postgres cargo test --test rest_api --test rest_contract --test rest_errors \
  --test rest_compression --test graphql --test graphql_limits
# Lists and search on PostgreSQL too, but for the tests about SQLite's own file (its query plans,
# a migration of an old file, kill -9 of its writer), which the run above covered.
ARTICLES_TEST_STORE=postgres cargo test --test list_paging -- \
  --skip no_list_query_scans_the_articles_table --skip an_existing_database_migrates \
  --skip total_is_exact_after_kill_9_mid_bulk
# Sync into a PostgreSQL destination (and through a PostgreSQL-backed REST API), but for the tests
# about a SQLite destination file itself (its journal modes, kill -9, a full disk, its triggers and
# state table written by hand, the step API over a file).
ARTICLES_TEST_STORE=postgres cargo test --test sync -- \
  --skip first_load_into_a_served_database --skip foreign_rows_in_destination --skip killed_ \
  --skip full_destination_fails --skip rows_the_destination_refuses --skip steps_cover_the_source_range \
  --skip verify_names_differing_ids
