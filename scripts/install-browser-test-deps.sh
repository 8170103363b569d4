#!/usr/bin/env bash
# Installs what the GraphiQL browser test (tests/graphql_browser.rs) needs: Debian's chromium and
# the pinned playwright-core from tests/browser/package-lock.json. Idempotent; safe to rerun.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/install-browser-test-deps.sh [--help]

Installs the dependencies of the GraphiQL browser test:
  - Debian's `chromium` package (/usr/bin/chromium), with apt-get (as root, or through sudo);
  - tests/browser/node_modules, with `npm ci` (playwright-core only; no browser download).
Both steps are skipped when already done. Then run: cargo test --test graphql_browser
USAGE
}

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -x /usr/bin/chromium ]]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
else
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        sudo="sudo"
    fi
    echo "chromium: installing Debian's package"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "error: node and npm are needed for tests/browser (install Node.js 18 or later)" >&2
    exit 1
fi

cd "$root/tests/browser"
locked="$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")"
installed="$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [[ "$installed" == "$locked" ]]; then
    echo "tests/browser/node_modules: up to date (playwright-core $installed)"
else
    echo "tests/browser/node_modules: npm ci"
    # playwright-core never downloads a browser; the test uses /usr/bin/chromium.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
echo "browser test dependencies ready"
