"""provisioning/: ansible-lint (production profile), yamllint and --syntax-check pass, the
lab vault is encrypted, and the Mosquitto config the cloud_broker role renders runs for real:
a store publishes its own topics and is refused another store's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.stores import mosquitto_hash
from tests.appliance.sync.mqtt_fakes import _listening, free_port, make_ca_and_server_cert, wait_for
from tests.cloud.shipped_broker import Client, ShippedBroker

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "provisioning"
BIN = Path(sys.executable).parent
NOT_AUTHORIZED = 135


def ansible_env() -> dict[str, str]:
    """Ansible from the venv, the collections from requirements.yml, no deprecation noise."""
    collections = ROOT / ".ansible" / "collections"
    if not (collections / "ansible_collections" / "community" / "general").is_dir():
        subprocess.run([str(ROOT / "scripts/ansible-collections.sh")], check=True, timeout=300)
    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_CONFIG": str(PROVISIONING / "ansible.cfg"),
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_NOCOLOR": "1",
        # cryptography warns about DSA when ansible imports it; not ours to fix.
        "PYTHONWARNINGS": "ignore",
    }


def run(
    *args: str, cwd: Path = PROVISIONING, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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


def test_no_plaintext_vault_is_committed() -> None:
    vaults = sorted(PROVISIONING.glob("inventories/*/group_vars/all/vault.yml"))
    assert vaults, "the lab vault is missing"
    for vault in vaults:
        assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n"), vault
    lab = run(
        str(BIN / "ansible-vault"),
        "view",
        "--vault-password-file",
        "inventories/lab/vault-password.txt",
        "inventories/lab/group_vars/all/vault.yml",
    )
    assert lab.returncode == 0 and "tillbox_broker_users:" in lab.stdout, lab.stderr


@pytest.fixture
def rendered_broker(tmp_path: Path) -> Iterator[tuple[ShippedBroker, dict[str, str]]]:
    """The cloud_broker role's mosquitto.conf, tillbox.acl and tillbox.passwd, rendered by
    Ansible for two stores and started; ShippedBroker's helpers for the clients."""
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
        "tillbox_broker_users": users,
        "cloud_broker_offline": True,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))
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
        yield broker, passwords
    finally:
        process.kill()
        process.wait(10)
        log.close()


def test_the_rendered_broker_lets_a_store_publish_only_its_own_topics(
    rendered_broker: tuple[ShippedBroker, dict[str, str]],
) -> None:
    broker, passwords = rendered_broker
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
