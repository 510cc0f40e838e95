#!/usr/bin/env bash
# The lab inventory's vault and its password, made on first use and never committed (both are
# in .gitignore): inventories/lab/vault-password.txt (a random password, mode 0600) and
# inventories/lab/group_vars/all/vault.yml (new-vault.py's secrets for the lab's stores and
# broker, encrypted with it). A second run leaves both as they are. Prints the password file.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$TILLBOX_ROOT"

LAB=provisioning/inventories/lab
[[ -x .venv/bin/python ]] || die ".venv is missing: run scripts/bootstrap.sh first"
# The stores and the broker address of inventories/lab/hosts.yml.
.venv/bin/python provisioning/scripts/new-vault.py --stores s01,s02 \
    --broker-host 192.168.50.10 --manager "Lab Manager" --inventory "$LAB" >&2
printf '%s\n' "$TILLBOX_ROOT/$LAB/vault-password.txt"
