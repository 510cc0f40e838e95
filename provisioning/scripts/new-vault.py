#!/usr/bin/env python3
"""Make the secrets of an inventory's vault: broker users (password and Mosquitto hash) for
each store and the cloud services, private subscription group names, the setup AP's
passphrase, and a private CA with the broker's and the stores' TLS certificates (labs; in
production use the public CA's files instead). Prints YAML to pipe into ansible-vault:

    .venv/bin/python provisioning/scripts/new-vault.py --stores s01,s02,s03 --broker-host mqtt.example.com \
        | .venv/bin/ansible-vault encrypt --output provisioning/inventories/prod/group_vars/all/vault.yml

or, with --inventory DIR, writes DIR/group_vars/all/vault.yml encrypted with the password in
--vault-password-file (made with a random password, mode 0600, when it does not exist yet).
An existing vault is left as it is. provisioning/scripts/lab-vault.sh does this for the lab.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cloud.stores import is_store_id, mosquitto_hash, new_password


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603,S607


def _san(host: str) -> str:
    return f"{'IP' if all(part.isdigit() for part in host.split('.')) else 'DNS'}:{host}"


def _tls(work: Path, broker_host: str, hq_host: str, store_names: list[str]) -> dict[str, str]:
    """A private CA, a broker certificate for broker_host, one for HQ's web pages at hq_host
    and one store certificate."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=Tillbox lab CA",
             cwd=work)
    out: dict[str, str] = {"ca": (work / "ca.pem").read_text()}
    for name, sans in (
        ("broker", _san(broker_host)),
        ("hq", _san(hq_host)),
        ("store", ",".join(["DNS:localhost", *(f"DNS:{s}.local" for s in store_names)])),
    ):
        (work / f"{name}.ext").write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=tillbox {name}",
                 cwd=work)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "825", "-extfile",
                 f"{name}.ext", cwd=work)
        out[name] = (work / f"{name}.pem").read_text()
        out[f"{name}.key"] = (work / f"{name}.key").read_text()
    return out


def _create_once(path: Path, content: bytes) -> bool:
    """Write path (mode 0600) if it does not exist, atomically: whoever links first wins, so
    two runs at once never leave a half-written file or a vault with another's password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)


def _ansible_vault() -> str:
    beside = Path(sys.executable).parent / "ansible-vault"
    found = str(beside) if beside.is_file() else shutil.which("ansible-vault")
    if found is None:
        sys.exit("ansible-vault not found: run scripts/bootstrap.sh, or put Ansible on PATH")
    return found


def _left_as_it_is(vault: Path, password_file: Path) -> bool:
    if not vault.exists():
        return False
    if not password_file.exists():
        sys.exit(f"{vault} exists but {password_file} does not: remove the vault to make a new one")
    print(f"{vault} exists: left as it is")
    return True


def write_encrypted(inventory: Path, password_file: Path, plaintext: str) -> None:
    """The vault into inventory/group_vars/all/vault.yml, encrypted with password_file's
    password (a new random one when the file does not exist)."""
    vault = inventory / "group_vars" / "all" / "vault.yml"
    if _left_as_it_is(vault, password_file):
        return
    if _create_once(password_file, (secrets.token_urlsafe(32) + "\n").encode()):
        print(f"made {password_file} (a random password, mode 0600)")
    encrypted = subprocess.run(  # noqa: S603
        [
            _ansible_vault(),
            "encrypt",
            "--vault-password-file",
            str(password_file),
            "--encrypt-vault-id",
            "default",
            "--output",
            "-",
            "-",
        ],
        input=plaintext,
        capture_output=True,
        text=True,
        check=False,
    )
    if encrypted.returncode != 0 or not encrypted.stdout.startswith("$ANSIBLE_VAULT;"):
        sys.exit(f"ansible-vault encrypt failed: {encrypted.stderr.strip()}")
    if _create_once(vault, encrypted.stdout.encode()):
        print(f"made {vault} (encrypted)")
    else:
        print(f"{vault} exists: left as it is")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", required=True, help="Store ids, comma-separated.")
    parser.add_argument("--broker-host", required=True, help="The broker's address.")
    parser.add_argument(
        "--hq-host", help="HQ's web address for its certificate (default: the broker's)."
    )
    parser.add_argument("--manager", default="IT Manager", help="The first manager's name.")
    parser.add_argument(
        "--inventory", type=Path, help="Write DIR/group_vars/all/vault.yml, encrypted, instead."
    )
    parser.add_argument(
        "--vault-password-file",
        type=Path,
        help="With --inventory: its password (default DIR/vault-password.txt; made if missing).",
    )
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    bad = [s for s in stores if not is_store_id(s)]
    if bad or not stores:
        parser.error(f"not store ids: {', '.join(bad) or '(none)'}")
    if args.inventory is not None:
        args.vault_password_file = args.vault_password_file or args.inventory / "vault-password.txt"
        if _left_as_it_is(args.inventory / "group_vars/all/vault.yml", args.vault_password_file):
            return
    users = {}
    for name in [*stores, "cloud-ingest", "cloud-catalog"]:
        password = new_password()
        users[name] = {"password": password, "hash": mosquitto_hash(password)}
    with tempfile.TemporaryDirectory() as temp:
        tls = _tls(Path(temp), args.broker_host, args.hq_host or args.broker_host, stores)
    vault = {
        "tillbox_broker_users": users,
        "tillbox_ingest_group": f"ingest-{secrets.token_hex(8)}",
        "tillbox_catalog_group": f"catalog-{secrets.token_hex(8)}",
        "tillbox_setup_ap_psk": secrets.token_urlsafe(18),
        "tillbox_tls_fullchain": tls["store"] + tls["ca"],
        "tillbox_tls_privkey": tls["store.key"],
        "tillbox_broker_ca_pem": tls["ca"],
        "tillbox_broker_cert_pem": tls["broker"],
        "tillbox_broker_key_pem": tls["broker.key"],
        "tillbox_first_manager": {"name": args.manager, "pin": f"{secrets.randbelow(10**6):06d}"},
        # HQ's web pages: their certificate (from the private CA; the public CA's in
        # production) and the first HQ admin, who signs in with this and changes it.
        "tillbox_hq_tls_fullchain": tls["hq"] + tls["ca"],
        "tillbox_hq_tls_privkey": tls["hq.key"],
        "tillbox_hq_admin": {
            "username": "hq-admin",
            "name": "HQ Admin",
            "password": secrets.token_urlsafe(18),
        },
        # The receipts worker's secrets come from the mail and SMS providers: fill them in
        # (ansible-vault edit) when cloud_app_smtp_username / cloud_app_sms_gateway_url are set.
        "tillbox_smtp_password": "",
        "tillbox_sms_token": "",
    }
    plaintext = "---\n" + yaml.safe_dump(vault, sort_keys=False, width=1000)
    if args.inventory is None:
        sys.stdout.write(plaintext)
        return
    write_encrypted(args.inventory, args.vault_password_file, plaintext)


if __name__ == "__main__":
    main()
