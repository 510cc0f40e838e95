#!/usr/bin/env bash
# Make a checkout runnable: .venv with Tillbox and its dev tools, and a built PWA.
# Idempotent: with nothing changed, a run only compares a few timestamps.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TILLBOX_ROOT"

VENV=.venv
VENV_STAMP="$VENV/.tillbox-installed"
NPM_STAMP=pwa/node_modules/.tillbox-installed

# Python >= 3.11 that can create a venv with pip in it.
ensure_python() {
    command -v python3 >/dev/null 2>&1 || die "python3 not found; install it first"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Tillbox needs Python >= 3.11, python3 is $(python3 -V 2>&1)"
    # Debian keeps venv in the stdlib but moves ensurepip to python3-venv, so
    # "python3 -m venv --help" succeeds there while creating a venv fails.
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
}

ensure_venv() {
    # No pip means a half-made venv (e.g. ensurepip was missing): start it again.
    if [[ -x "$VENV/bin/python" && -x "$VENV/bin/pip" ]]; then
        return 0
    fi
    ensure_python
    say "creating $VENV"
    python3 -m venv --clear "$VENV"
    say "upgrading pip in the new $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

install_python_packages() {
    if [[ -f "$VENV_STAMP" && ! pyproject.toml -nt "$VENV_STAMP" \
        && ! requirements.lock -nt "$VENV_STAMP" ]]; then
        say "$VENV is up to date"
        return 0
    fi
    say "installing Tillbox and dev tools into $VENV (pinned by requirements.lock)"
    # Stamp with the start time, so an edit made during the install triggers the next one.
    local started
    started="$(date +%s.%N)"
    "$VENV/bin/pip" install --quiet -c requirements.lock -e '.[dev]'
    touch -d "@$started" "$VENV_STAMP"
}

# Node.js >= 20 with npm, for the PWA build.
ensure_node() {
    local missing=()
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if ((major < 20)); then
        die "the PWA needs Node.js >= 20, found $(node --version). Debian 12's nodejs is 18:" \
            "install Node.js 20+ (e.g. from deb.nodesource.com) and run this again"
    fi
}

install_pwa_packages() {
    [[ -f pwa/package-lock.json ]] \
        || die "pwa/package-lock.json is missing; run 'npm install' in pwa/ and commit the lock file"
    if [[ -f "$NPM_STAMP" && ! pwa/package-lock.json -nt "$NPM_STAMP" \
        && ! pwa/package.json -nt "$NPM_STAMP" ]]; then
        say "pwa/node_modules is up to date"
        return 0
    fi
    say "installing PWA packages (npm ci)"
    local started
    started="$(date +%s.%N)"
    # Tests drive Debian's /usr/bin/chromium; no npm package may fetch its own browser.
    (cd pwa && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    # A lock file without dependencies leaves no node_modules behind.
    mkdir -p pwa/node_modules
    touch -d "@$started" "$NPM_STAMP"
}

build_pwa() {
    local index=pwa/dist/index.html
    if [[ -f "$index" && ! "$NPM_STAMP" -nt "$index" ]]; then
        # Directories count too: deleting a source file changes its directory's mtime.
        local changed
        changed="$(find pwa \( -path pwa/node_modules -o -path pwa/dist \) -prune -o \
            \( -path pwa/src -o -path 'pwa/src/*' -o -path pwa/public -o -path 'pwa/public/*' \
            -o -path pwa/index.html -o -path 'pwa/vite.config.*' -o -path 'pwa/package*.json' \
            -o -path 'pwa/tsconfig*.json' \) -newer "$index" -print -quit)"
        if [[ -z "$changed" ]]; then
            say "pwa/dist is up to date"
            return 0
        fi
    fi
    say "building the PWA (npm run build)"
    (cd pwa && npm run build)
    [[ -f "$index" ]] || die "npm run build did not produce $index"
}

ensure_venv
install_python_packages
# The Ansible collections the provisioning tests and playbooks use (.ansible/collections).
"$TILLBOX_ROOT/scripts/ansible-collections.sh"
if [[ -f pwa/package.json ]]; then
    ensure_node
    install_pwa_packages
    build_pwa
fi
