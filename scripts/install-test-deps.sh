#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine (idempotent; needs root for
# apt-get): curl for the CLI tests, systemd-analyze for the unit files, and the browser test's
# Chromium and npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in curl:curl systemd-analyze:systemd; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ -x scripts/install-browser-test-deps.sh ]]; then
  scripts/install-browser-test-deps.sh
fi
