#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs what the tests need on a
# fresh machine, then checks formatting and lints, runs schemathesis against the real servers
# (scripts/schemathesis.sh) and every cargo test.
#   --no-install   skip the dependency step (everything is already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--no-install" ]]; then
  scripts/install-test-deps.sh
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> scripts/schemathesis.sh all"
scripts/schemathesis.sh all
echo "==> cargo test"
cargo test --all-targets
