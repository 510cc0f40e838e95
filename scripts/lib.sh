# shellcheck shell=bash
# Shared helpers for the Tillbox scripts. Sourced, never executed.

# The repository root, whatever directory the caller started in. Used by the sourcing scripts.
# shellcheck disable=SC2034
TILLBOX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Empty for root, "sudo" otherwise; everything that needs root goes through as_root.
if ((EUID == 0)); then
    SUDO=""
else
    SUDO="sudo"
fi

say() {
    printf '==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    $SUDO "$@"
}

# Fail early, with the package names, when this machine cannot install packages for us.
need_apt() {
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found; install these packages by hand: $*"
    if [[ -n "$SUDO" ]] && ! command -v sudo >/dev/null 2>&1; then
        die "need root or sudo to install: $*"
    fi
}

# apt-get update runs at most once per script run, and only when something is installed.
_tillbox_apt_updated=""

apt_install() {
    need_apt "$@"
    say "installing with apt-get: $*"
    if [[ -z "$_tillbox_apt_updated" ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        _tillbox_apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# True when systemd is PID 1, so services are started through it instead of behind its back.
have_systemd() {
    [[ -d /run/systemd/system ]]
}

# Newest PostgreSQL server bin directory (initdb, pg_ctl, postgres), or nothing.
pg_bindir() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
        | sort -V | tail -n1)" || true
    if [[ -n "$dir" ]]; then
        dirname "$dir"
    fi
}
