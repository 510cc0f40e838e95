"""What the provisioning tests share: Ansible from the venv (ansible_env, run), the lab vault
made on first use, and for the converge tests a fresh copy of a cached bookworm root, the
release bundle, an inventory with a vault of its own (new-vault.py, as IT makes one), the
play run twice, commands inside the root and the play's recap."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "provisioning"
BIN = Path(sys.executable).parent
# MQTT 5's "Not authorized", what the broker answers a publish to another store's topic.
NOT_AUTHORIZED = 135
# The converge tests' marks: slow, root only (chroot), and a long timeout: a first run
# debootstraps the cached root (1.5 min) before two plays, past the 300 s default, which
# counts the module's fixture in its first test.
CONVERGE = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root"),
]


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
    """One command with ansible_env, its output captured; not checked."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lab_vault() -> Path:
    """The lab inventory's vault, made by provisioning/scripts/lab-vault.sh if it is not there
    yet (it is never committed); its password file."""
    made = subprocess.run(
        [str(PROVISIONING / "scripts/lab-vault.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return Path(made.stdout.strip())


def view_vault(vault: Path, password_file: Path) -> dict[str, Any]:
    """A vault's variables, decrypted by ansible-vault with its password file."""
    shown = run(
        str(BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file), str(vault)
    )
    assert shown.returncode == 0, shown.stderr
    variables: dict[str, Any] = yaml.safe_load(shown.stdout)
    return variables


def chroot(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A command inside the root file system, its output captured; not checked."""
    return subprocess.run(
        ["chroot", str(root), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def doctor(root: Path) -> subprocess.CompletedProcess[str]:
    """`tillbox appliance doctor` of the current release, as the store user, inside root."""
    return chroot(
        root,
        "runuser",
        "-u",
        "store",
        "--",
        "env",
        "TILLBOX_PWA_DIR=/opt/tillbox/current/pwa",
        "/opt/tillbox/current/bin/tillbox",
        "appliance",
        "doctor",
        "--data",
        "/var/lib/tillbox",
    )


def build_bundle(source: Path = ROOT) -> Path:
    """provisioning/scripts/build-bundle.sh run in source: the bundle's directory."""
    built = subprocess.run(
        [str(source / "provisioning/scripts/build-bundle.sh")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return source / built.stdout.strip().splitlines()[-1]


def fresh_root(work: Path, *, cloud: bool = False) -> Path:
    """A copy of the cached bookworm root (scripts/bookworm-rootfs.sh, debootstrapped once)
    at work/rootfs, so every run starts from scratch; with the machine's resolv.conf."""
    flavor = ["--cloud"] if cloud else []
    base = subprocess.run(
        [str(ROOT / "scripts/bookworm-rootfs.sh"), *flavor],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    ).stdout.strip()
    root = work / "rootfs"
    subprocess.run(["cp", "-a", base, str(root)], check=True, timeout=600)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    return root


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """An inventory in a directory of its own: hosts.yml and group_vars/all/vault.yml,
    encrypted with the password in password_file; secrets is the vault decrypted."""

    hosts: Path
    password_file: Path
    secrets: dict[str, Any]

    def play(self, *args: str) -> subprocess.CompletedProcess[str]:
        """ansible-playbook with this inventory and its vault password, from provisioning/."""
        return run(
            str(BIN / "ansible-playbook"),
            "-i",
            str(self.hosts),
            "--vault-password-file",
            str(self.password_file),
            *args,
            timeout=1800,
        )


def make_inventory(
    directory: Path, groups: dict[str, Any], *, stores: str, broker_host: str, manager: str
) -> Inventory:
    """groups as directory/hosts.yml, and a new vault beside it made by new-vault.py for the
    stores and broker_host (broker users, group names, setup AP passphrase, TLS, manager)."""
    directory.mkdir(parents=True)
    hosts = directory / "hosts.yml"
    hosts.write_text(json.dumps(groups))
    password_file = directory / "vault-password.txt"
    made = subprocess.run(
        [
            sys.executable,
            str(PROVISIONING / "scripts/new-vault.py"),
            "--stores",
            stores,
            "--broker-host",
            broker_host,
            "--manager",
            manager,
            "--inventory",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    secrets = view_vault(directory / "group_vars/all/vault.yml", password_file)
    return Inventory(hosts=hosts, password_file=password_file, secrets=secrets)


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoRuns:
    """A play's output on its first and second run, and how long each took."""

    first: str
    second: str
    first_s: float
    second_s: float


def converge_twice(inventory: Inventory, *args: str) -> TwoRuns:
    """The play run twice (the second must change nothing; the tests check that), each run
    asserted to succeed with the tail of its output."""
    outputs: list[str] = []
    times: list[float] = []
    for _ in range(2):
        started = time.monotonic()
        result = inventory.play(*args)
        times.append(time.monotonic() - started)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        outputs.append(result.stdout)
    return TwoRuns(first=outputs[0], second=outputs[1], first_s=times[0], second_s=times[1])


def recap(output: str) -> dict[str, int]:
    """The counts of a play's PLAY RECAP line (ok, changed, failed …)."""
    line = next(line for line in output.splitlines() if re.search(r"\bok=\d+", line))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
