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
if ((${#pytest_args[@]} == 0)); then
    # The whole suite: the provisioning tests (real Ansible converges into a debootstrap
    # chroot, mostly waiting on pip and apt) run in a second pytest beside the rest, with a
    # base temp of their own, so the suite stays well under 30 minutes on two cores.
    prov_log="$(mktemp)"
    say "pytest (tests/provisioning, in the background; its output follows the rest)"
    .venv/bin/pytest tests/provisioning --basetemp="$(mktemp -d)/prov" -p no:cacheprovider \
        >"$prov_log" 2>&1 &
    prov_pid=$!
    rc=0
    .venv/bin/pytest --ignore=tests/provisioning || rc=$?
    prov_rc=0
    wait "$prov_pid" || prov_rc=$?
    say "pytest tests/provisioning"
    cat "$prov_log"
    rm -f "$prov_log"
    if ((rc != 0)); then
        printf 'error: pytest failed (exit code %d)\n' "$rc" >&2
        exit "$rc"
    fi
    if ((prov_rc != 0)); then
        printf 'error: pytest tests/provisioning failed (exit code %d)\n' "$prov_rc" >&2
        exit "$prov_rc"
    fi
else
    step "pytest" .venv/bin/pytest "${pytest_args[@]}"
fi
