"""provisioning/: ansible-lint (production profile), yamllint and --syntax-check pass; no vault
or vault password is committed, and the lab's is made on first use, encrypted, and read by
the lab inventory; the Mosquitto config the cloud_broker role renders runs for real: a store
publishes its own topics and is refused another store's, and a store that enrolled (its line
written by HQ, not in the vault) keeps its password through the next run."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloud.stores import check_mosquitto_hash, mosquitto_hash, set_broker_password
from tests.appliance.sync.mqtt_fakes import _listening, free_port, make_ca_and_server_cert, wait_for
from tests.cloud.shipped_broker import Client, ShippedBroker
from tests.provisioning.ansible_run import (
    BIN,
    NOT_AUTHORIZED,
    PROVISIONING,
    ROOT,
    lab_vault,
    run,
    view_vault,
)

LAB_VAULT = PROVISIONING / "inventories/lab/group_vars/all/vault.yml"


def test_yamllint() -> None:
    result = run(str(BIN / "yamllint"), "--strict", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    result = run(str(BIN / "ansible-lint"), "--offline", "--profile", "production", "-q")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("inventory", ["lab", "example-prod"])
def test_syntax_check(inventory: str) -> None:
    result = run(
        str(BIN / "ansible-playbook"),
        "--syntax-check",
        "-i",
        f"inventories/{inventory}",
        "site.yml",
        "update.yml",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_vault_or_vault_password_is_committed() -> None:
    """Issue 8: secrets are made per checkout (lab-vault.sh) or kept by IT, never in git."""
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "provisioning/inventories"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert tracked, "git lists no inventory files"
    secret = [p for p in tracked if p.endswith(("/vault.yml", "vault-password.txt"))]
    assert secret == []
    lab = ["inventories/lab/vault-password.txt", "inventories/lab/group_vars/all/vault.yml"]
    ignored = subprocess.run(
        ["git", "-C", str(PROVISIONING), "check-ignore", *lab],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert ignored.stdout.split() == lab, ignored.stdout + ignored.stderr


def test_the_lab_vault_is_made_on_first_use_encrypted_with_a_private_password() -> None:
    password_file = lab_vault()
    assert password_file == PROVISIONING / "inventories/lab/vault-password.txt"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert len(password_file.read_text().strip()) >= 32
    assert stat.S_IMODE(LAB_VAULT.stat().st_mode) == 0o600
    assert LAB_VAULT.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    secrets = view_vault(LAB_VAULT, password_file)
    assert set(secrets["tillbox_broker_users"]) == {"s01", "s02", "cloud-ingest", "cloud-catalog"}
    assert "BEGIN PRIVATE KEY" in secrets["tillbox_broker_key_pem"]
    # A second run keeps both: the lab's Pis and broker were made with them.
    before = (password_file.read_bytes(), LAB_VAULT.read_bytes())
    assert lab_vault() == password_file
    assert (password_file.read_bytes(), LAB_VAULT.read_bytes()) == before
    wrong = run(
        str(BIN / "ansible-vault"),
        "view",
        "--vault-password-file",
        str(PROVISIONING / "inventories/example-prod/hosts.yml"),
        str(LAB_VAULT),
    )
    assert wrong.returncode != 0 and "tillbox_broker_users" not in wrong.stdout


def test_the_lab_inventory_reads_each_stores_secrets_through_its_vault() -> None:
    """What the roles get from the lab inventory, templated by Ansible with the vault open:
    each store its own broker password and the shared setup passphrase and CA."""
    password_file = lab_vault()
    secrets = view_vault(LAB_VAULT, password_file)
    shown = run(
        str(BIN / "ansible"),
        "appliances",
        "-i",
        "inventories/lab",
        "--vault-password-file",
        str(password_file),
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ [tillbox_broker_users[tillbox_store_id].password, tillbox_setup_ap_psk,"
        " tillbox_mqtt_ca_pem | length] | to_json }}",
        "-o",
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    users = secrets["tillbox_broker_users"]
    ca_length = len(secrets["tillbox_broker_ca_pem"])
    for host, store in (("lab-s01", "s01"), ("lab-s02", "s02")):
        line = next(x for x in shown.stdout.splitlines() if x.startswith(f"{host} "))
        msg = json.loads(json.loads(line.split(" => ", 1)[1])["msg"])
        assert msg == [users[store]["password"], secrets["tillbox_setup_ap_psk"], ca_length]
    # Without the password the same inventory cannot be read.
    locked = run(str(BIN / "ansible-inventory"), "-i", "inventories/lab", "--host", "lab-s01")
    assert locked.returncode != 0 and "no vault secrets" in locked.stderr


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedBroker:
    """The cloud_broker role's files rendered by Ansible for two stores and the broker started
    on them (`shipped`: ShippedBroker's helpers for the clients); `render()` runs the role's
    tasks again, its recap returned."""

    shipped: ShippedBroker
    passwords: dict[str, str]
    password_file: Path
    render: Callable[[], str]
    process: subprocess.Popen[bytes]


@pytest.fixture
def rendered_broker(tmp_path: Path) -> Iterator[RenderedBroker]:
    """The cloud_broker role's mosquitto.conf, tillbox.acl and tillbox.passwd, rendered by
    Ansible for two stores and started."""
    (tmp_path / "pki").mkdir()
    ca = make_ca_and_server_cert(tmp_path / "pki")
    passwords = {"s01": "s01-password-test-xyz", "s02": "s02-password-test-xyz"}
    users = {name: {"password": pw, "hash": mosquitto_hash(pw)} for name, pw in passwords.items()}
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    tls_port, port = free_port(), free_port()
    play = tmp_path / "render.yml"
    play.write_text(
        """---
- name: Render the broker configuration
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.include_role:
        name: cloud_broker
        tasks_from: render
"""
    )
    extra = {
        "cloud_broker_conf_dir": str(conf_dir),
        "cloud_broker_run_user": __import__("getpass").getuser(),
        "cloud_broker_persistence_dir": f"{tmp_path}/",
        "cloud_broker_tls_address": "127.0.0.1",
        "cloud_broker_tls_port": tls_port,
        "cloud_broker_service_port": port,
        "cloud_broker_cafile": str(ca),
        "cloud_broker_certfile": str(tmp_path / "pki/server.pem"),
        "cloud_broker_keyfile": str(tmp_path / "pki/server.key"),
        "cloud_broker_group": str(os.getgid()),
        "cloud_broker_password_file": str(conf_dir / "users/tillbox.passwd"),
        "cloud_broker_password_owner": __import__("getpass").getuser(),
        "tillbox_broker_users": users,
        "cloud_broker_offline": True,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))

    def render() -> str:
        result = run(
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            str(play),
            "-e",
            f"@{tmp_path / 'vars.json'}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    render()
    conf = (conf_dir / "mosquitto.conf").read_text()
    assert f"listener {tls_port} 127.0.0.1" in conf and "listener 8883" not in conf
    assert "Ansible managed" in conf
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(
        ["mosquitto", "-c", str(conf_dir / "mosquitto.conf")], stdout=log, stderr=log
    )
    try:
        wait_for(lambda: _listening(port) and _listening(tls_port), what="the rendered broker")
        broker = ShippedBroker.__new__(ShippedBroker)
        broker.ca, broker.tls_port, broker.port = ca, tls_port, port
        yield RenderedBroker(
            shipped=broker,
            passwords=passwords,
            password_file=conf_dir / "users/tillbox.passwd",
            render=render,
            process=process,
        )
    finally:
        process.kill()
        process.wait(10)
        log.close()


def test_the_rendered_broker_lets_a_store_publish_only_its_own_topics(
    rendered_broker: RenderedBroker,
) -> None:
    broker, passwords = rendered_broker.shipped, rendered_broker.passwords
    s01 = Client(broker, "s01", passwords["s01"])
    try:
        assert s01.connect() == 0
        own = s01.publish("tillbox/v1/stores/s01/events", b'{"from":1,"to":1,"events":[]}')
        assert not own.is_failure
        assert not s01.publish("tillbox/v1/stores/s01/status", b"{}").is_failure
        other = s01.publish("tillbox/v1/stores/s02/events", b'{"from":1,"to":1,"events":[]}')
        assert other == NOT_AUTHORIZED
    finally:
        s01.close()
    # A wrong password is refused at CONNECT.
    intruder = Client(broker, "s02", "not-the-password")
    try:
        broker_refused = intruder.connect()
        assert broker_refused.is_failure
    finally:
        intruder.close()


def test_a_second_run_keeps_an_enrolled_stores_line_and_puts_back_the_vaults(
    rendered_broker: RenderedBroker,
) -> None:
    """HQ's enrolment adds s03 (not in the vault) as cloud/stores.py writes it; the next run
    of the role leaves that line alone, and gives s01 back the vault's hash after someone
    changed it by hand. The broker, reloaded, lets s03 in with its enrolled password."""
    passwd = rendered_broker.password_file
    assert oct(passwd.stat().st_mode & 0o777) == "0o640"
    assert oct(passwd.parent.stat().st_mode & 0o7777) == "0o2750"
    set_broker_password(passwd, "s03", "s03-enrolled-password-xyz")
    set_broker_password(passwd, "s01", "s01-changed-by-hand-xyz")
    output = rendered_broker.render()
    assert re.search(r"changed=1\b", output), output[-2000:]
    lines = dict(line.split(":", 1) for line in passwd.read_text().splitlines())
    assert set(lines) == {"s01", "s02", "s03"}
    assert check_mosquitto_hash("s03-enrolled-password-xyz", lines["s03"])
    assert check_mosquitto_hash(rendered_broker.passwords["s01"], lines["s01"])
    assert re.search(r"changed=0\b", rendered_broker.render())
    rendered_broker.process.send_signal(signal.SIGHUP)

    def enrolled_connects() -> bool:
        enrolled = Client(rendered_broker.shipped, "s03", "s03-enrolled-password-xyz")
        try:
            return bool(enrolled.connect() == 0)
        finally:
            enrolled.close()

    wait_for(enrolled_connects, what="s03 let in with its enrolled password after the reload")
