"""The cloud play of site.yml (base, cloud_db, cloud_broker, cloud_app) converged in a Debian
bookworm chroot that has PostgreSQL and Mosquitto (scripts/bookworm-rootfs.sh --cloud): the
chroot's own PostgreSQL runs during the play (on its Unix socket only), so the database, its
role, the migrations, the stores' rows and the first HQ admin are made for real; then the
broker is started from the rendered files as its own user, and a store publishes its own topics
and is refused another's; HQ (tillbox cloud serve from the installed release, with the rendered
environment) runs behind the chroot's nginx with the rendered site, and the HQ admin signs in
over HTTPS; a store the vault does not know (s02) is issued an enrolment code with `tillbox cloud
store enrol-code`, trades it at POST /hq/enrol through that nginx, and the broker, reloaded,
lets it in with the password HQ wrote into its password file. A second run changes nothing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cloud.stores import check_mosquitto_hash
from tests.appliance.sync.mqtt_fakes import _listening, free_port, wait_for
from tests.cloud.shipped_broker import Client, ShippedBroker
from tests.provisioning.ansible_run import (
    CONVERGE,
    NOT_AUTHORIZED,
    build_bundle,
    chroot,
    converge_twice,
    fresh_root,
    make_inventory,
    recap,
)

pytestmark = CONVERGE

PG = "/usr/lib/postgresql/15"
UNITS = (
    "tillbox-ingest@.service",
    "tillbox-catalog.service",
    "tillbox-hq.service",
    "tillbox-receipts.service",
    "tillbox-broker-passwd.path",
    "tillbox-broker-passwd.service",
)
PASSWD = "etc/mosquitto/users/tillbox.passwd"


def pg_ctl(root: Path, action: str) -> subprocess.CompletedProcess[str]:
    return chroot(
        root,
        "runuser",
        "-u",
        "postgres",
        "--",
        f"{PG}/bin/pg_ctl",
        action,
        "-w",
        "-m",
        "fast",
        "-D",
        "/var/lib/postgresql/15/main",
        "-l",
        "/var/log/postgresql/test.log",
        "-o",
        "-c config_file=/etc/postgresql/15/main/postgresql.conf",
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    bundle = build_bundle()
    work = tmp_path_factory.mktemp("cloud-converge")
    root = fresh_root(work, cloud=True)
    # The chroot's PostgreSQL beside the machine's: no TCP (the socket in the chroot's /run
    # only) and no POSIX shared memory (the chroot has no /dev/shm). Its cluster was made
    # while the machine's PostgreSQL had 5432, so it took 5433: the cloud expects 5432.
    with (root / "etc/postgresql/15/main/postgresql.conf").open("a") as conf:
        conf.write("listen_addresses = ''\nport = 5432\ndynamic_shared_memory_type = mmap\n")
    (root / "run/postgresql").mkdir(parents=True, exist_ok=True)
    shutil.chown(root / "run/postgresql", "root", "root")
    chroot(root, "chown", "postgres:postgres", "/run/postgresql")
    started = pg_ctl(root, "start")
    assert started.returncode == 0, started.stdout + started.stderr
    tls_port, service_port = free_port(), free_port()
    hq_port, https_port, http_port = free_port(), free_port(), free_port()
    # Broker users, group names and the broker's TLS (a private CA, a certificate for
    # 127.0.0.1) from a vault made as IT makes one, which the play decrypts.
    inventory = make_inventory(
        work / "inventory",
        {
            "cloud": {
                "hosts": {
                    str(root): {
                        "ansible_connection": "community.general.chroot",
                        "ansible_python_interpreter": "/usr/bin/python3",
                    }
                }
            },
            # s02 is registered but has no password in the vault: it enrols with a code.
            "appliances": {
                "hosts": {
                    "s01": {"tillbox_store_id": "s01", "tillbox_store_name": "One Street"},
                    "s02": {"tillbox_store_id": "s02", "tillbox_store_name": "Two Street"},
                }
            },
            "all": {
                "vars": {
                    "tillbox_version": "0.1.0",
                    "cloud_app_bundle": str(bundle),
                    "base_offline": True,
                    "cloud_broker_offline": True,
                    "cloud_app_offline": True,
                    "cloud_broker_tls_address": "127.0.0.1",
                    "cloud_broker_tls_port": tls_port,
                    "cloud_broker_service_port": service_port,
                    "cloud_app_hq_port": hq_port,
                    "cloud_app_hq_https_port": https_port,
                    "cloud_app_hq_http_port": http_port,
                    # Where the stores reach the broker, as an enrolment answer tells them.
                    "tillbox_mqtt_host": "127.0.0.1",
                    "tillbox_mqtt_port": tls_port,
                    "tillbox_mqtt_ca_pem": "{{ tillbox_broker_ca_pem }}",
                    # Email set up, so the receipts worker is one of the services.
                    "cloud_app_smtp_host": "smtp.test.example",
                    "cloud_app_smtp_username": "receipts",
                    "cloud_app_smtp_from": "receipts@test.example",
                }
            },
        },
        stores="s01",
        broker_host="127.0.0.1",
        manager="Cloud Converge",
    )
    ca = work / "ca.pem"
    ca.write_text(inventory.secrets["tillbox_broker_ca_pem"])
    broker: subprocess.Popen[bytes] | None = None
    broker_log = (work / "mosquitto.log").open("wb")
    try:
        runs = converge_twice(inventory, "site.yml", "--limit", "cloud")
        print(f"cloud converge: first run {runs.first_s:.0f} s, second {runs.second_s:.0f} s")
        broker = subprocess.Popen(
            ["chroot", str(root), "mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"],
            stdout=subprocess.DEVNULL,
            stderr=broker_log,
        )
        wait_for(
            lambda: _listening(tls_port) and _listening(service_port), what="the chroot's broker"
        )
        yield {
            "root": root,
            "first": runs.first,
            "second": runs.second,
            "ca": ca,
            "tls_port": tls_port,
            "service_port": service_port,
            "passwords": {
                name: user["password"]
                for name, user in inventory.secrets["tillbox_broker_users"].items()
            },
            "ingest_group": inventory.secrets["tillbox_ingest_group"],
            "hq_admin": inventory.secrets["tillbox_hq_admin"],
            "hq_ports": (hq_port, https_port, http_port),
            "broker": broker,
        }
    finally:
        if broker is not None:
            broker.send_signal(signal.SIGTERM)
            broker.wait(10)
        broker_log.close()
        pg_ctl(root, "stop")
        shutil.rmtree(work, ignore_errors=True)


def test_a_second_cloud_run_changes_nothing(cloud: dict[str, object]) -> None:
    assert recap(str(cloud["first"]))["changed"] > 0
    assert recap(str(cloud["second"]))["changed"] == 0, str(cloud["second"])[-4000:]


def test_the_database_is_migrated_and_the_inventory_stores_registered(
    cloud: dict[str, object],
) -> None:
    root = Path(str(cloud["root"]))
    stores = chroot(
        root,
        "runuser",
        "-u",
        "tillbox-cloud",
        "--",
        "psql",
        "-X",
        "-A",
        "-t",
        "-d",
        "tillbox",
        "-c",
        "SELECT id || '|' || name FROM store ORDER BY id",
    )
    assert stores.returncode == 0, stores.stderr
    assert stores.stdout.strip().splitlines() == ["s01|One Street", "s02|Two Street"]
    migrate = chroot(
        root,
        "runuser",
        "-u",
        "tillbox-cloud",
        "--",
        "/opt/tillbox-cloud/current/bin/tillbox",
        "cloud",
        "migrate",
        "--dsn",
        "dbname=tillbox host=/var/run/postgresql",
    )
    assert migrate.returncode == 0 and "schema up to date" in migrate.stdout, migrate.stderr


def test_the_services_get_their_files_and_units(cloud: dict[str, object], tmp_path: Path) -> None:
    root = Path(str(cloud["root"]))
    env = (root / "etc/tillbox-cloud/cloud.env").read_text()
    assert f"TILLBOX_CLOUD_INGEST_GROUP={cloud['ingest_group']}" in env
    assert f"TILLBOX_CLOUD_MQTT_PORT={cloud['service_port']}" in env
    secret = root / "etc/tillbox-cloud/cloud-ingest.mqtt-password"
    assert secret.read_text().strip() == dict(cloud["passwords"])["cloud-ingest"]  # type: ignore[call-overload]
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    passwd_file = root / PASSWD
    passwd = [line for line in passwd_file.read_text().splitlines() if not line.startswith("s02:")]
    assert sorted(line.split(":")[0] for line in passwd) == ["cloud-catalog", "cloud-ingest", "s01"]
    assert all(re.fullmatch(r"[a-z0-9-]+:\$7\$\d+\$[^$]+\$[^$]+", line) for line in passwd)
    # HQ (tillbox-cloud) rewrites the file beside itself and keeps its owner; the broker's
    # group reads it. mosquitto.conf names it.
    owners = chroot(root, "stat", "-c", "%U:%G %a", f"/{PASSWD}", f"/{Path(PASSWD).parent}")
    assert owners.stdout.split("\n")[:2] == [
        "tillbox-cloud:mosquitto 640",
        "tillbox-cloud:mosquitto 2750",
    ]
    conf = (root / "etc/mosquitto/mosquitto.conf").read_text()
    assert f"\npassword_file /{PASSWD}\n" in conf
    assert not (root / "etc/mosquitto/tillbox.passwd").exists()
    # Enrolment: where the stores connect, the private CA HQ sends them, the password file.
    assert f"TILLBOX_CLOUD_MQTT_PASSWD=/{PASSWD}\n" in env
    assert "TILLBOX_HQ_ENROL_BROKER_HOST=127.0.0.1\n" in env
    assert f"TILLBOX_HQ_ENROL_BROKER_PORT={cloud['tls_port']}\n" in env
    assert "TILLBOX_HQ_ENROL_BROKER_CA_FILE=/etc/tillbox-cloud/broker-ca.pem\n" in env
    assert "BROKER_PID_FILE" not in env
    broker_ca = root / "etc/tillbox-cloud/broker-ca.pem"
    assert broker_ca.read_text() == Path(str(cloud["ca"])).read_text()
    unit = (root / "etc/systemd/system/tillbox-ingest@.service").read_text()
    assert "ExecStart=/opt/tillbox-cloud/current/bin/tillbox cloud ingest --name ingest-%i" in unit
    # The units pass systemd-analyze verify (in a root of their own, as the Pi's do).
    check = tmp_path / "verify-root"
    (check / "etc/systemd/system").mkdir(parents=True)
    for name in UNITS:
        shutil.copy(root / "etc/systemd/system" / name, check / "etc/systemd/system" / name)
    program = check / "opt/tillbox-cloud/current/bin/tillbox"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    systemctl = check / "bin/systemctl"
    systemctl.parent.mkdir(parents=True)
    shutil.copy(program, systemctl)
    (check / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", check / "usr/lib/systemd/system", symlinks=True)
    verify = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={check}",
            "tillbox-ingest@1.service",
            "tillbox-catalog.service",
            "tillbox-hq.service",
            "tillbox-receipts.service",
            "tillbox-broker-passwd.path",
            "tillbox-broker-passwd.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and "tillbox" not in verify.stderr, verify.stderr
    hq_unit = (root / "etc/systemd/system/tillbox-hq.service").read_text()
    assert "ExecStart=/opt/tillbox-cloud/current/bin/tillbox cloud serve\n" in hq_unit
    assert "ProtectSystem=strict\n" in hq_unit
    assert f"\nReadWritePaths=/{Path(PASSWD).parent}\n" in hq_unit
    watch = (root / "etc/systemd/system/tillbox-broker-passwd.path").read_text()
    assert f"\nPathChanged=/{PASSWD}\n" in watch
    reload = (root / "etc/systemd/system/tillbox-broker-passwd.service").read_text()
    assert "\nExecStart=/bin/systemctl try-reload-or-restart mosquitto.service\n" in reload
    # Debian's mosquitto unit reloads with SIGHUP (what the reload above relies on).
    packaged = (root / "lib/systemd/system/mosquitto.service").read_text()
    assert "\nExecReload=/bin/kill -HUP $MAINPID\n" in packaged
    assert "TILLBOX_HQ_COOKIE_SECURE=always" in env
    receipts = (root / "etc/tillbox-cloud/receipts.env").read_text()
    assert "TILLBOX_CLOUD_SMTP_HOST=smtp.test.example" in receipts
    assert "TILLBOX_CLOUD_SMTP_PASSWORD_FILE=/etc/tillbox-cloud/smtp.password" in receipts
    smtp_secret = root / "etc/tillbox-cloud/smtp.password"
    assert oct(smtp_secret.stat().st_mode & 0o777) == "0o600"
    # Enabled: the first run's task list started each service (offline here, so by name only).
    first = str(cloud["first"])
    assert "tillbox-hq.service" in first and "tillbox-receipts.service" in first
    assert "TASK [cloud_broker : Watch the password file]" in first


def test_the_first_hq_admin_is_in_the_database(cloud: dict[str, object]) -> None:
    admin: dict[str, str] = dict(cloud["hq_admin"])  # type: ignore[call-overload]
    found = chroot(
        Path(str(cloud["root"])),
        "runuser",
        "-u",
        "tillbox-cloud",
        "--",
        "psql",
        "-X",
        "-A",
        "-t",
        "-d",
        "tillbox",
        "-c",
        "SELECT username || '|' || role || '|' || active || '|' || left(password_hash, 10)"
        " FROM hq_user",
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"{admin['username']}|admin|true|$argon2id$"
    # The password was never on a command line or left in a file.
    assert admin["password"] not in str(cloud["first"]) + str(cloud["second"])
    leftovers = chroot(Path(str(cloud["root"])), "grep", "-rlF", admin["password"], "/etc")
    assert leftovers.stdout == "", leftovers.stdout


def test_nginx_accepts_the_rendered_hq_site(cloud: dict[str, object]) -> None:
    root = Path(str(cloud["root"]))
    enabled = root / "etc/nginx/sites-enabled/tillbox-hq"
    assert os.readlink(enabled) == "/etc/nginx/sites-available/tillbox-hq"
    assert not (root / "etc/nginx/sites-enabled/default").exists()
    key = root / "etc/tillbox-cloud/tls/hq-privkey.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    checked = chroot(root, "nginx", "-t")
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def _hq_env(root: Path) -> dict[str, str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    for line in (root / "etc/tillbox-cloud/cloud.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_the_hq_admin_signs_in_over_https_through_the_rendered_site(
    cloud: dict[str, object],
) -> None:
    root = Path(str(cloud["root"]))
    hq_port, https_port, http_port = cloud["hq_ports"]  # type: ignore[misc]
    admin: dict[str, str] = dict(cloud["hq_admin"])  # type: ignore[call-overload]
    # As the unit runs it: the release's tillbox as tillbox-cloud with cloud.env.
    env_args = [f"{k}={v}" for k, v in _hq_env(root).items()]
    log = Path(str(cloud["ca"])).with_name("hq.log").open("wb")
    serve = subprocess.Popen(
        [
            "chroot",
            str(root),
            "runuser",
            "-u",
            "tillbox-cloud",
            "--",
            "env",
            "-i",
            *env_args,
            "/opt/tillbox-cloud/current/bin/tillbox",
            "cloud",
            "serve",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    nginx_started = False
    try:
        wait_for(lambda: _listening(int(hq_port)), what="tillbox cloud serve in the chroot")
        started = chroot(root, "nginx")
        assert started.returncode == 0, started.stderr
        nginx_started = True
        wait_for(lambda: _listening(int(https_port)), what="the chroot's nginx")
        base = f"https://127.0.0.1:{https_port}"
        ca = str(cloud["ca"])
        plain = requests.get(
            f"http://127.0.0.1:{http_port}/hq/fleet", allow_redirects=False, timeout=10
        )
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://127.0.0.1")
        browser = requests.Session()
        form = browser.get(f"{base}/hq/login", verify=ca, timeout=10)
        assert form.status_code == 200, form.text
        assert "max-age=31536000" in form.headers["Strict-Transport-Security"]
        token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
        assert token
        signed_in = browser.post(
            f"{base}/hq/login",
            data={
                "csrf_token": token.group(1),
                "username": admin["username"],
                "password": admin["password"],
            },
            verify=ca,
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.headers["Set-Cookie"]
        assert "tillbox_hq=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        fleet = browser.get(f"{base}/hq/fleet", verify=ca, timeout=10)
        assert fleet.status_code == 200 and 'data-store="s01"' in fleet.text, fleet.text[:2000]
        _enrol_s02_through_nginx(cloud, base, env_args)
    finally:
        if nginx_started:
            chroot(root, "nginx", "-s", "quit")
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(15)
        log.close()


def _enrol_s02_through_nginx(cloud: dict[str, object], base: str, env_args: list[str]) -> None:
    """IT issues s02 a code in the chroot; the Pi's request reaches HQ through nginx; HQ
    writes s02's line as tillbox-cloud into the password file the broker reads; the broker,
    reloaded as tillbox-broker-passwd.path would have it, lets s02 in. The same code again
    is refused and changes nothing."""
    root = Path(str(cloud["root"]))
    issued = chroot(
        root,
        "runuser",
        "-u",
        "tillbox-cloud",
        "--",
        "env",
        "-i",
        *env_args,
        "/opt/tillbox-cloud/current/bin/tillbox",
        "cloud",
        "store",
        "enrol-code",
        "--dsn",
        "dbname=tillbox host=/var/run/postgresql",
        "s02",
    )
    assert issued.returncode == 0, issued.stdout + issued.stderr
    code = issued.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Z2-7]{5}(-[A-Z2-7]{5}){3}", code), issued.stdout
    ca = str(cloud["ca"])
    answer = requests.post(
        f"{base}/hq/enrol", json={"store": "s02", "code": code}, verify=ca, timeout=30
    )
    assert answer.status_code == 200, answer.text
    mqtt = answer.json()["mqtt"]
    assert (mqtt["host"], mqtt["port"], mqtt["tls"]) == ("127.0.0.1", cloud["tls_port"], True)
    assert mqtt["ca"] == Path(ca).read_text() and mqtt["username"] == "s02"
    passwd = root / PASSWD
    lines = dict(line.split(":", 1) for line in passwd.read_text().splitlines())
    assert check_mosquitto_hash(mqtt["password"], lines["s02"])
    assert {"s01", "cloud-ingest", "cloud-catalog"} <= set(lines)
    owners = chroot(root, "stat", "-c", "%U:%G %a", f"/{PASSWD}")
    assert owners.stdout.strip() == "tillbox-cloud:mosquitto 640"
    before = passwd.read_bytes()
    again = requests.post(
        f"{base}/hq/enrol", json={"store": "s02", "code": code}, verify=ca, timeout=30
    )
    assert again.status_code == 409 and again.json()["error"] == "enrolment_used", again.text
    assert passwd.read_bytes() == before
    broker: subprocess.Popen[bytes] = cloud["broker"]  # type: ignore[assignment]
    broker.send_signal(signal.SIGHUP)
    shipped = ShippedBroker.__new__(ShippedBroker)
    shipped.ca = Path(ca)
    shipped.tls_port, shipped.port = int(str(cloud["tls_port"])), int(str(cloud["service_port"]))

    def s02_connects() -> bool:
        store = Client(shipped, "s02", mqtt["password"])
        try:
            return bool(store.connect() == 0)
        finally:
            store.close()

    wait_for(s02_connects, what="s02 let in with its enrolled password after the reload")


def test_the_broker_runs_from_the_rendered_files_as_its_own_user(cloud: dict[str, object]) -> None:
    broker = ShippedBroker.__new__(ShippedBroker)
    broker.ca = Path(str(cloud["ca"]))
    broker.tls_port, broker.port = int(str(cloud["tls_port"])), int(str(cloud["service_port"]))
    passwords: dict[str, str] = dict(cloud["passwords"])  # type: ignore[call-overload]
    store = Client(broker, "s01", passwords["s01"])
    ingest = Client(broker, "cloud-ingest", passwords["cloud-ingest"], tls=False)
    try:
        assert store.connect() == 0 and ingest.connect() == 0
        ingest.subscribe(f"$share/{cloud['ingest_group']}/tillbox/v1/stores/+/events")
        assert not store.publish("tillbox/v1/stores/s01/events", b"{}").is_failure
        assert store.publish("tillbox/v1/stores/s02/events", b"{}") == NOT_AUTHORIZED
        wait_for(lambda: ingest.heard(), what="the ingest user hearing s01's batch")
        assert [topic for topic, _ in ingest.heard()] == ["tillbox/v1/stores/s01/events"]
    finally:
        store.close()
        ingest.close()
