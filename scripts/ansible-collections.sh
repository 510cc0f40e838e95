#!/usr/bin/env bash
# Install the Ansible collections in provisioning/requirements.yml into .ansible/collections
# (not committed). First from Ansible Galaxy; when Galaxy cannot be reached (as on the CI
# machines), from the `ansible` package on PyPI, which bundles them: its wheel is downloaded
# (not installed) and only the named collections are taken out of it, at the versions
# requirements.yml pins. Idempotent: quick when they are already there.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TILLBOX_ROOT"

REQUIREMENTS=provisioning/requirements.yml
DEST=.ansible/collections
STAMP="$DEST/.tillbox-installed"
# The `ansible` release whose bundled collections match requirements.yml's versions.
ANSIBLE_BUNDLE=12.3.0

if [[ -f "$STAMP" && ! "$REQUIREMENTS" -nt "$STAMP" ]]; then
    say "Ansible collections are up to date in $DEST"
    exit 0
fi
[[ -x .venv/bin/ansible-galaxy ]] || die ".venv has no ansible-galaxy; run scripts/bootstrap.sh"
mkdir -p "$DEST"
say "installing Ansible collections from $REQUIREMENTS into $DEST"
if timeout 60 .venv/bin/ansible-galaxy collection install -r "$REQUIREMENTS" -p "$DEST" >/dev/null 2>&1; then
    touch "$STAMP"
    exit 0
fi
say "Ansible Galaxy unreachable: taking the collections from the ansible $ANSIBLE_BUNDLE wheel on PyPI"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.venv/bin/pip download --quiet --no-deps --dest "$work" "ansible==$ANSIBLE_BUNDLE"
.venv/bin/python - "$work"/ansible-*.whl "$REQUIREMENTS" "$DEST" <<'PY'
"""Extract the pinned collections from the ansible wheel; fail if a version differs."""
import json
import shutil
import sys
import zipfile
from pathlib import Path

import yaml

wheel, requirements, dest = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
wanted = yaml.safe_load(requirements.read_text())["collections"]
with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    for item in wanted:
        namespace, name = item["name"].split(".")
        prefix = f"ansible_collections/{namespace}/{name}/"
        manifest = json.loads(archive.read(prefix + "MANIFEST.json"))
        version = manifest["collection_info"]["version"]
        if version != item["version"]:
            sys.exit(f"{item['name']}: the wheel has {version}, requirements.yml wants {item['version']}")
        target = dest / "ansible_collections" / namespace / name
        shutil.rmtree(target, ignore_errors=True)
        for member in names:
            if member.startswith(prefix) and not member.endswith("/"):
                out = dest / member
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(member))
        print(f"==> {item['name']} {version}")
PY
touch "$STAMP"
