"""The cloud play of site.yml (base, cloud_db, cloud_broker, cloud_app) converged in a Debian
bookworm chroot that has PostgreSQL and Mosquitto (scripts/bookworm-rootfs.sh --cloud): the
chroot's own PostgreSQL runs during the play (on its Unix socket only), so the database, its
role, the migrations and the stores' rows are made for real; then the broker is started from
the rendered files as its own user, and a store publishes its own topics and is refused
another's. A second run changes nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.stores import mosquitto_hash
from tests.appliance.sync.mqtt_fakes import _listening, free_port, make_ca_and_server_cert, wait_for
from tests.cloud.shipped_broker import Client, ShippedBroker
from tests.provisioning.test_ansible import BIN, NOT_AUTHORIZED, PROVISIONING, ROOT, ansible_env
from tests.provisioning.test_converge import recap

pytestmark = [
    pytest.mark.slow,
    # A first run debootstraps the cached root (1.5 min) before two plays: past the 300 s
    # default, which counts the module's fixture in its first test.
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root"),
]

PG = "/usr/lib/postgresql/15"


def chroot(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(root), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


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
    base = subprocess.run(
        [str(ROOT / "scripts/bookworm-rootfs.sh"), "--cloud"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    ).stdout.strip()
    bundle = (
        subprocess.run(
            [str(PROVISIONING / "scripts/build-bundle.sh")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    work = tmp_path_factory.mktemp("cloud-converge")
    root = work / "rootfs"
    subprocess.run(["cp", "-a", base, str(root)], check=True, timeout=600)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
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
    pki = work / "pki"
    pki.mkdir()
    ca = make_ca_and_server_cert(pki)
    passwords = {
        "s01": "s01-cloud-converge-pw",
        "cloud-ingest": "ingest-pw-0123456789",
        "cloud-catalog": "catalog-pw-0123456789",
    }
    tls_port, service_port = free_port(), free_port()
    inventory = work / "hosts.yml"
    inventory.write_text(
        json.dumps(
            {
                "cloud": {
                    "hosts": {
                        str(root): {
                            "ansible_connection": "community.general.chroot",
                            "ansible_python_interpreter": "/usr/bin/python3",
                        }
                    }
                },
                "appliances": {
                    "hosts": {
                        "s01": {"tillbox_store_id": "s01", "tillbox_store_name": "One Street"}
                    }
                },
                "all": {
                    "vars": {
                        "tillbox_version": "0.1.0",
                        "cloud_app_bundle": str(ROOT / bundle),
                        "base_offline": True,
                        "cloud_broker_offline": True,
                        "cloud_app_offline": True,
                        "cloud_broker_tls_address": "127.0.0.1",
                        "cloud_broker_tls_port": tls_port,
                        "cloud_broker_service_port": service_port,
                        "tillbox_broker_users": {
                            n: {"password": p, "hash": mosquitto_hash(p)}
                            for n, p in passwords.items()
                        },
                        "tillbox_broker_ca_pem": ca.read_text(),
                        "tillbox_broker_cert_pem": (pki / "server.pem").read_text(),
                        "tillbox_broker_key_pem": (pki / "server.key").read_text(),
                        "tillbox_ingest_group": "ingest-test0123",
                        "tillbox_catalog_group": "catalog-test0123",
                    }
                },
            }
        )
    )

    def play() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "site.yml", "--limit", "cloud"],
            cwd=PROVISIONING,
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )

    broker: subprocess.Popen[bytes] | None = None
    broker_log = (work / "mosquitto.log").open("wb")
    try:
        t0 = time.monotonic()
        first = play()
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        t1 = time.monotonic()
        second = play()
        assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
        print(f"cloud converge: first run {t1 - t0:.0f} s, second {time.monotonic() - t1:.0f} s")
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
            "first": first.stdout,
            "second": second.stdout,
            "ca": ca,
            "tls_port": tls_port,
            "service_port": service_port,
            "passwords": passwords,
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
    assert (
        stores.stdout.split() == ["s01|One", "Street"] or stores.stdout.strip() == "s01|One Street"
    )
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
    assert "TILLBOX_CLOUD_INGEST_GROUP=ingest-test0123" in env
    assert f"TILLBOX_CLOUD_MQTT_PORT={cloud['service_port']}" in env
    secret = root / "etc/tillbox-cloud/cloud-ingest.mqtt-password"
    assert secret.read_text().strip() == dict(cloud["passwords"])["cloud-ingest"]  # type: ignore[call-overload]
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    passwd = (root / "etc/mosquitto/tillbox.passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["cloud-catalog", "cloud-ingest", "s01"]
    assert all(re.fullmatch(r"[a-z0-9-]+:\$7\$\d+\$[^$]+\$[^$]+", line) for line in passwd)
    unit = (root / "etc/systemd/system/tillbox-ingest@.service").read_text()
    assert "ExecStart=/opt/tillbox-cloud/current/bin/tillbox cloud ingest --name ingest-%i" in unit
    # The units pass systemd-analyze verify (in a root of their own, as the Pi's do).
    check = tmp_path / "verify-root"
    (check / "etc/systemd/system").mkdir(parents=True)
    for name in ("tillbox-ingest@.service", "tillbox-catalog.service"):
        shutil.copy(root / "etc/systemd/system" / name, check / "etc/systemd/system" / name)
    program = check / "opt/tillbox-cloud/current/bin/tillbox"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (check / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", check / "usr/lib/systemd/system", symlinks=True)
    verify = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={check}",
            "tillbox-ingest@1.service",
            "tillbox-catalog.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and "tillbox" not in verify.stderr, verify.stderr


def test_the_broker_runs_from_the_rendered_files_as_its_own_user(cloud: dict[str, object]) -> None:
    broker = ShippedBroker.__new__(ShippedBroker)
    broker.ca = Path(str(cloud["ca"]))
    broker.tls_port, broker.port = int(str(cloud["tls_port"])), int(str(cloud["service_port"]))
    passwords: dict[str, str] = dict(cloud["passwords"])  # type: ignore[call-overload]
    store = Client(broker, "s01", passwords["s01"])
    ingest = Client(broker, "cloud-ingest", passwords["cloud-ingest"], tls=False)
    try:
        assert store.connect() == 0 and ingest.connect() == 0
        ingest.subscribe("$share/ingest-test0123/tillbox/v1/stores/+/events")
        assert not store.publish("tillbox/v1/stores/s01/events", b"{}").is_failure
        assert store.publish("tillbox/v1/stores/s02/events", b"{}") == NOT_AUTHORIZED
        wait_for(lambda: ingest.heard(), what="the ingest user hearing s01's batch")
        assert [topic for topic, _ in ingest.heard()] == ["tillbox/v1/stores/s01/events"]
    finally:
        store.close()
        ingest.close()
