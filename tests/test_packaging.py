"""The wheel that IT installs on a Pi and in the cloud carries every file the code reads:
templates, static files, SQL migrations and JSON schemas, not only the Python modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("appliance", "cloud", "protocol", "webui")
# Files in the packages' folders that are for people reading the source, not for the code.
NOT_SHIPPED = {".md"}


def _tracked(*paths: str) -> list[str]:
    return subprocess.run(
        ["git", "ls-files", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def _tracked_data_files() -> set[str]:
    return {
        name
        for name in _tracked(*PACKAGES)
        if not name.endswith(".py") and Path(name).suffix not in NOT_SHIPPED
    }


def test_the_wheel_holds_every_template_static_file_migration_and_schema(tmp_path: Path) -> None:
    # Built from a copy of the tracked files: setuptools reuses a checkout's build/ folder,
    # whose leftovers would hide a file the package data no longer names.
    source = tmp_path / "source"
    for name in _tracked("pyproject.toml", "README.md", *PACKAGES):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = wheels.glob("tillbox-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = _tracked_data_files()
    assert {name for name in expected if name.startswith("appliance/templates/admin/")}
    assert expected - shipped == set()
