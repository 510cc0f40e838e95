#!/usr/bin/env bash
# Make sure what the test suite talks to is installed and running:
#   PostgreSQL on 127.0.0.1:5432, trust login as postgres, database "test";
#   Mosquitto on 127.0.0.1:1883;
#   Debian's Chromium at /usr/bin/chromium (Playwright never downloads a browser);
#   the PostgreSQL server binaries (initdb, pg_ctl) for private test instances;
#   nginx (the shipped TLS site is started in a test; never as a service) and debootstrap
#   (the provisioning converge test's Debian root, scripts/bookworm-rootfs.sh).
# A service that already works is left alone: never restarted, never reconfigured.
# Meant for development and test machines only; see allow_local_trust.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB="test"
PG_ETC=/etc/postgresql
MQTT_HOST=127.0.0.1
MQTT_PORT=1883
MQTT_CONF=/etc/mosquitto/mosquitto.conf
# Not on a normal user's PATH on Debian.
MOSQUITTO=/usr/sbin/mosquitto
CHROMIUM=/usr/bin/chromium
HBA_MARK="# Added by Tillbox scripts/ensure-services.sh: trust local TCP logins (test machine)"

# Run "$@" until it succeeds, for at most $1 seconds.
wait_for() {
    local seconds=$1 i
    shift
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# True when something accepts TCP connections on host $1, port $2.
port_open() {
    # The timeout guards against a firewall that drops instead of refusing.
    # $1 and $2 are expanded by the inner bash, from its own arguments.
    # shellcheck disable=SC2016
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

pg_ready() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3
}

# psql into database $1 as $PG_USER over TCP; -w fails instead of prompting for a password.
pg_sql() {
    local db=$1
    shift
    PGCONNECT_TIMEOUT=3 psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$db" -w -X -A -t -q "$@"
}

pg_trusts() {
    pg_sql postgres -c 'select 1' >/dev/null 2>&1
}

# Newest cluster version under /etc/postgresql (what Debian's apt-get install creates).
pg_cluster_version() {
    find "$PG_ETC" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null \
        | sort -V | tail -n1 || true
}

# start or reload the "main" cluster, through systemd when it runs the machine.
pg_cluster_ctl() {
    local action=$1 version
    version="$(pg_cluster_version)"
    [[ -n "$version" ]] \
        || die "PostgreSQL is installed but has no cluster; create one: pg_createcluster --start 15 main"
    if have_systemd; then
        as_root systemctl "$action" "postgresql@$version-main"
    else
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main "$action"
    fi
}

postgres_installed() {
    command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
        && command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n "$(pg_bindir)" ]]
}

mosquitto_installed() {
    [[ -x "$MOSQUITTO" ]] && command -v mosquitto_sub >/dev/null 2>&1
}

# Debian's default pg_hba.conf wants peer or scram-sha-256. Tests log in as postgres
# over TCP without a password, so trust goes first; this is for test machines only.
allow_local_trust() {
    local version hba tmp
    version="$(pg_cluster_version)"
    hba="$PG_ETC/$version/main/pg_hba.conf"
    if as_root grep -qxF "$HBA_MARK" "$hba"; then
        die "PostgreSQL refuses a password-less login as $PG_USER on $PG_HOST:$PG_PORT" \
            "although $hba already trusts it; is that the server on this port?"
    fi
    say "PostgreSQL: adding trust for 127.0.0.1 and ::1 at the top of $hba, then reloading"
    tmp="$(mktemp)"
    {
        printf '%s\n' "$HBA_MARK" \
            'host all all 127.0.0.1/32 trust' \
            'host all all ::1/128 trust' \
            ''
        as_root cat "$hba"
    } >"$tmp"
    # cp onto the existing file keeps its owner and mode.
    as_root cp "$tmp" "$hba"
    rm -f "$tmp"
    pg_cluster_ctl reload
    wait_for 5 pg_trusts \
        || die "PostgreSQL still refuses a trust login as $PG_USER on $PG_HOST:$PG_PORT after reload"
}

ensure_postgres() {
    # Fast path: the shared server already does everything the tests need.
    if pg_ready && pg_sql "$PG_DB" -c 'select 1' >/dev/null 2>&1; then
        say "PostgreSQL: $PG_HOST:$PG_PORT trusts $PG_USER, database $PG_DB is there"
        return 0
    fi
    if ! pg_ready; then
        say "PostgreSQL: not answering on $PG_HOST:$PG_PORT, starting the cluster"
        pg_cluster_ctl start
        wait_for 15 pg_ready \
            || die "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT; see /var/log/postgresql/"
    fi
    if ! pg_trusts; then
        allow_local_trust
    fi
    if [[ "$(pg_sql postgres -c "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]]; then
        say "PostgreSQL: creating database $PG_DB"
        pg_sql postgres -c "create database $PG_DB"
    fi
    pg_sql "$PG_DB" -c 'select 1' >/dev/null \
        || die "cannot run 'select 1' in database $PG_DB on $PG_HOST:$PG_PORT as $PG_USER"
    say "PostgreSQL: $PG_HOST:$PG_PORT trusts $PG_USER, database $PG_DB is there"
}

ensure_mosquitto() {
    if port_open "$MQTT_HOST" "$MQTT_PORT"; then
        say "Mosquitto: listening on $MQTT_HOST:$MQTT_PORT"
        return 0
    fi
    say "Mosquitto: nothing on $MQTT_HOST:$MQTT_PORT, starting it"
    if have_systemd; then
        as_root systemctl start mosquitto
    else
        # What the package's systemd unit prepares before it starts the broker:
        # without /run/mosquitto the pid file cannot be written and the broker exits.
        local dir
        for dir in /run/mosquitto /var/log/mosquitto; do
            if [[ ! -d "$dir" ]]; then
                as_root mkdir -m 740 -p "$dir"
                as_root chown mosquitto "$dir"
            fi
        done
        # Debian's mosquitto.conf has no listener line; Mosquitto 2 then listens on
        # localhost:1883 only, which is what the tests use.
        as_root "$MOSQUITTO" -d -c "$MQTT_CONF"
    fi
    wait_for 5 port_open "$MQTT_HOST" "$MQTT_PORT" \
        || die "Mosquitto is still not listening on $MQTT_HOST:$MQTT_PORT after starting it;" \
            "see /var/log/mosquitto/mosquitto.log and $MQTT_CONF"
    say "Mosquitto: listening on $MQTT_HOST:$MQTT_PORT"
}

ensure_chromium() {
    [[ -x "$CHROMIUM" ]] || die "$CHROMIUM is missing; install Debian's chromium package"
    local version
    # Debian's wrapper script prints noise on stderr.
    version="$("$CHROMIUM" --version 2>/dev/null)" || version="version unknown"
    say "Chromium: $CHROMIUM ($version)"
}

report_pg_binaries() {
    local dir
    dir="$(pg_bindir)"
    [[ -n "$dir" ]] || die "initdb and pg_ctl not found under /usr/lib/postgresql/*/bin"
    say "PostgreSQL server binaries for private test instances: $dir (initdb, pg_ctl)"
}

main() {
    # One apt-get run for everything missing, then start and check each service.
    local packages=()
    postgres_installed || packages+=(postgresql)
    mosquitto_installed || packages+=(mosquitto mosquitto-clients)
    [[ -x "$CHROMIUM" ]] || packages+=(chromium)
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || packages+=(nginx-light)
    command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || packages+=(debootstrap)
    if ((${#packages[@]} > 0)); then
        apt_install "${packages[@]}"
    fi
    ensure_postgres
    ensure_mosquitto
    ensure_chromium
    report_pg_binaries
}

# Sourcing the file (to try one function) defines everything and runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
