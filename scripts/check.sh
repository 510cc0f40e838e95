#!/usr/bin/env bash
# Everything CI checks, in order, stopping at the first failure:
# ruff lint, ruff format, mypy, shellcheck, the PWA's tsc and Vitest, then pytest.
# Usage: scripts/check.sh [--lint-only] [pytest args...]   e.g. scripts/check.sh -k sales -x
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TILLBOX_ROOT"

lint_only=""
pytest_args=()
for arg in "$@"; do
    if [[ "$arg" == --lint-only ]]; then
        lint_only=1
    else
        pytest_args+=("$arg")
    fi
done

[[ -x .venv/bin/ruff ]] || die ".venv is missing or incomplete; run scripts/bootstrap.sh first"

# Run one named step; say which one failed (set -e alone exits silently) and keep its exit code.
step() {
    local name=$1 rc=0
    shift
    say "$name"
    "$@" || rc=$?
    if ((rc != 0)); then
        printf 'error: %s failed (exit code %d)\n' "$name" "$rc" >&2
        exit "$rc"
    fi
}

step "ruff check" .venv/bin/ruff check .
step "ruff format --check" .venv/bin/ruff format --check .
step "mypy" .venv/bin/mypy
if ! command -v shellcheck >/dev/null 2>&1; then
    apt_install shellcheck
fi
# -x follows the "source lib.sh" lines.
step "shellcheck" shellcheck -x scripts/*.sh .ci/run

if [[ -f pwa/package.json ]]; then
    [[ -d pwa/node_modules ]] || die "pwa/node_modules is missing; run scripts/bootstrap.sh first"
    step "tsc (pwa)" npm --prefix pwa run --silent typecheck
fi

if [[ -n "$lint_only" ]]; then
    exit 0
fi

if [[ -f pwa/package.json ]]; then
    step "vitest (pwa)" npm --prefix pwa run --silent test
fi

# The browser tests use Debian's Chromium; Playwright must never download its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export TILLBOX_CHROMIUM="${TILLBOX_CHROMIUM:-/usr/bin/chromium}"
# Where initdb and pg_ctl live, for tests that start private PostgreSQL instances.
if [[ -z "${TILLBOX_PG_BIN:-}" ]]; then
    TILLBOX_PG_BIN="$(pg_bindir)"
    export TILLBOX_PG_BIN
fi
step "pytest" .venv/bin/pytest "${pytest_args[@]}"
