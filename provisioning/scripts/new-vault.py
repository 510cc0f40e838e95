#!/usr/bin/env python3
"""Make the secrets of an inventory's vault: broker users (password and Mosquitto hash) for
each store and the cloud services, private subscription group names, the setup AP's
passphrase, and a private CA with the broker's and the stores' TLS certificates (labs; in
production use the public CA's files instead). Prints YAML: pipe it into ansible-vault.

    .venv/bin/python provisioning/scripts/new-vault.py --stores s01,s02 --broker-host 192.168.50.10 \
        | .venv/bin/ansible-vault encrypt --output provisioning/inventories/lab/group_vars/all/vault.yml
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cloud.stores import is_store_id, mosquitto_hash, new_password


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603,S607


def _tls(work: Path, broker_host: str, store_names: list[str]) -> dict[str, str]:
    """A private CA, a broker certificate for broker_host and one store certificate."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=Tillbox lab CA",
             cwd=work)
    out: dict[str, str] = {"ca": (work / "ca.pem").read_text()}
    ip = all(part.isdigit() for part in broker_host.split("."))
    for name, sans in (
        ("broker", f"{'IP' if ip else 'DNS'}:{broker_host}"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", required=True, help="Store ids, comma-separated.")
    parser.add_argument("--broker-host", required=True, help="The broker's address.")
    parser.add_argument("--manager", default="IT Manager", help="The first manager's name.")
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    bad = [s for s in stores if not is_store_id(s)]
    if bad or not stores:
        parser.error(f"not store ids: {', '.join(bad) or '(none)'}")
    users = {}
    for name in [*stores, "cloud-ingest", "cloud-catalog"]:
        password = new_password()
        users[name] = {"password": password, "hash": mosquitto_hash(password)}
    with tempfile.TemporaryDirectory() as temp:
        tls = _tls(Path(temp), args.broker_host, stores)
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
    }
    sys.stdout.write("---\n" + yaml.safe_dump(vault, sort_keys=False, width=1000))


if __name__ == "__main__":
    main()
