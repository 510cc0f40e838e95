#!/usr/bin/env bash
# Build a release bundle for the appliance and cloud roles: dist/bundle-VERSION/ with the
# Tillbox wheel and every dependency's wheel (pinned by requirements.lock, with the `pi`
# extra) and the register app's build (pwa/). Targets install from it without network.
# pip builds wheels for the machine it runs on: build on arm64 (a Pi 5 or an arm64 runner)
# for the stores' Pis, on amd64 for an amd64 cloud VM or the converge test's chroot.
# Usage: provisioning/scripts/build-bundle.sh [OUT_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# The version of the source being built (not of whatever is installed in .venv).
VERSION="$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
OUT="${1:-dist/bundle-$VERSION}"

[[ -f pwa/dist/index.html ]] || { echo "error: no pwa/dist; run scripts/bootstrap.sh" >&2; exit 1; }
rm -rf "$OUT.partial"
mkdir -p "$OUT.partial"
# pip builds in the tree, and setuptools' build/ keeps every file it ever copied: a module or
# migration since deleted or renamed would ship again (a second 0012 migration did).
rm -rf build
.venv/bin/pip wheel --quiet --wheel-dir "$OUT.partial" -c requirements.lock '.[pi]'
cp -r pwa/dist "$OUT.partial/pwa"
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "$OUT"
