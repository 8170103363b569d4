#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine (idempotent; needs root for
# apt-get): curl for the CLI tests, systemd-analyze for the unit files, openssl for the MariaDB
# test server's TLS certificate, Java and Maven for the development Kafka broker
# (scripts/kafka.sh), Prometheus and promtool for the monitoring tests
# (through scripts/prometheus.sh, which also keeps Debian's own prometheus.service from holding
# :9090), Debian's PostgreSQL with pg_trgm for the PostgreSQL store's tests (scripts/postgres.sh),
# Debian's MariaDB for the cross-engine sync tests (scripts/mariadb.sh), and the browser test's
# Chromium and npm packages.
# Building the project itself needs no package beyond Rust, a C compiler, make and perl.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in curl:curl systemd-analyze:systemd java:default-jre-headless mvn:maven openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "==> apt-get install --no-install-recommends prometheus"
  scripts/prometheus.sh install
fi

echo "==> scripts/postgres.sh install"
scripts/postgres.sh install

echo "==> scripts/mariadb.sh install"
scripts/mariadb.sh install

if [[ -x scripts/install-browser-test-deps.sh ]]; then
  scripts/install-browser-test-deps.sh
fi
