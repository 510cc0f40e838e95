"""init_store: a failed init leaves the data dir as it found it."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import setup
from appliance.settings import DATABASE_FILE, SETTINGS_FILE, load_settings
from appliance.setup import SetupError, init_store


def test_a_failed_init_puts_back_the_settings_it_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "store"
    data.mkdir()
    original = '# written by IT\n[appliance]\nport = 9090\n\n[sync]\nbroker = "b"\n'
    (data / SETTINGS_FILE).write_text(original)

    def broken_demo(*args: object) -> None:
        raise SetupError("the demo catalog did not import")

    monkeypatch.setattr(setup, "_load_demo", broken_demo)
    with pytest.raises(SetupError):
        init_store(data, store="s01", demo=True)
    assert (data / SETTINGS_FILE).read_text() == original
    assert not (data / DATABASE_FILE).exists()
    assert not Path(f"{data / DATABASE_FILE}-wal").exists()


def test_a_failed_init_in_an_empty_dir_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(setup, "_load_demo", broken)
    with pytest.raises(RuntimeError):
        init_store(tmp_path, store="s01", demo=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_keeps_other_tables_and_settings(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text('[appliance]\nport = 9090\n\n[sync]\nbroker = "b"\n')
    result = init_store(tmp_path, store="s01", name="Quay\nNorth")
    assert result.created
    settings = load_settings(tmp_path, env={})
    assert (settings.store, settings.store_name, settings.port) == ("s01", "Quay\nNorth", 9090)
    assert settings.extra == {"sync": {"broker": "b"}}


def test_init_refuses_a_settings_file_that_names_another_store(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text('[appliance]\nstore = "s02"\n')
    with pytest.raises(SetupError, match="names another store"):
        init_store(tmp_path, store="s01")
    assert (tmp_path / SETTINGS_FILE).read_text() == '[appliance]\nstore = "s02"\n'
    assert not (tmp_path / DATABASE_FILE).exists()


def test_a_database_is_never_served_under_another_store_id(data_dir: Path) -> None:
    """TILLBOX_STORE=s99 over s01's database is refused, not served as s99."""
    from appliance.runtime import NotInitialised, open_runtime
    from tests.conftest import make_settings

    with pytest.raises(NotInitialised, match="belongs to store s01"):
        open_runtime(make_settings(data_dir, store="s99"))
