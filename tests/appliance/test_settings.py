"""Settings: defaults, the TOML file, `TILLBOX_*` variables, overrides, and refusing bad values."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from appliance.settings import (
    DATABASE_FILE,
    DEFAULT_DATA_DIR,
    SETTINGS_FILE,
    Settings,
    SettingsError,
    load_settings,
    write_settings_file,
)


def write_toml(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / SETTINGS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_or_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.data_dir == tmp_path
    assert settings.store == ""
    assert settings.currency == "EUR"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.threads == 16
    assert settings.tax_classes == ("standard", "reduced", "zero")
    assert settings.pwa_dir is None
    assert settings.database_path == tmp_path / DATABASE_FILE
    assert settings.settings_path == tmp_path / SETTINGS_FILE


def test_the_data_dir_comes_from_tillbox_data_then_the_default(tmp_path: Path) -> None:
    assert load_settings(env={"TILLBOX_DATA": str(tmp_path)}).data_dir == tmp_path
    assert load_settings(env={}).data_dir == DEFAULT_DATA_DIR


def test_values_from_the_appliance_table(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[appliance]\nstore = "s07"\nstore_name = "Harbour"\ncurrency = "SEK"\nport = 9000\n'
        'threads = 8\ntax_classes = ["standard", "food"]\ntax_rates_ppm = [250000, 120000]\n'
        'pwa_dir = "/srv/pwa"\n'
        '\n[sync]\nbroker = "mqtt.example"\n',
    )
    settings = load_settings(tmp_path, env={})
    assert settings.store == "s07"
    assert settings.store_name == "Harbour"
    assert settings.currency == "SEK"
    assert settings.port == 9000
    assert settings.threads == 8
    assert settings.tax_classes == ("standard", "food")
    assert settings.tax_rate_ppm("food") == 120_000
    assert settings.pwa_dir == Path("/srv/pwa")
    assert settings.appliance_origin == "s07-ap"
    # Tables other than [appliance] are kept for the subsystems that own them.
    assert settings.extra == {"sync": {"broker": "mqtt.example"}}


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[appliance]\nstore = "s07"\nport = 9000\ntax_classes = ["a"]\ntax_rates_ppm = [0]\n',
    )
    settings = load_settings(
        tmp_path,
        env={
            "TILLBOX_PORT": "9100",
            "TILLBOX_STORE": "s08",
            "TILLBOX_TAX_CLASSES": "standard, zero",
            "TILLBOX_TAX_RATES_PPM": "190000, 0",
            "TILLBOX_PWA_DIR": "",
            "UNRELATED": "x",
        },
    )
    assert settings.port == 9100
    assert settings.store == "s08"
    assert settings.tax_classes == ("standard", "zero")
    assert settings.tax_rates_ppm == (190_000, 0)
    assert settings.pwa_dir is None


def test_explicit_overrides_beat_the_environment(tmp_path: Path) -> None:
    write_toml(tmp_path, "[appliance]\nport = 9000\n")
    settings = load_settings(tmp_path, env={"TILLBOX_PORT": "9100"}, overrides={"port": 9200})
    assert settings.port == 9200
    # None means "not given" (an unset CLI option), so the environment still applies.
    assert load_settings(tmp_path, env={"TILLBOX_PORT": "9100"}, overrides={"port": None}).port == (
        9100
    )


@pytest.mark.parametrize(
    ("toml", "name"),
    [
        ('port = "8080"', "port"),
        ("port = 80.5", "port"),
        ("port = true", "port"),
        ('threads = "x"', "threads"),
        ("tax_classes = 5", "tax_classes"),
        ('tax_classes = ["standard", 3]', "tax_classes"),
        ("store = 7", "store"),
        ("currency = ['EUR']", "currency"),
        ("pwa_dir = 5", "pwa_dir"),
    ],
)
def test_wrong_types_in_the_file_name_the_setting(tmp_path: Path, toml: str, name: str) -> None:
    write_toml(tmp_path, f"[appliance]\n{toml}\n")
    with pytest.raises(SettingsError, match=name):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    ("variable", "value", "name"),
    [
        ("TILLBOX_PORT", "abc", "port"),
        ("TILLBOX_PORT", "80.5", "port"),
        ("TILLBOX_THREADS", "", "threads"),
        ("TILLBOX_MAX_BODY_BYTES", "2MB", "max_body_bytes"),
        ("TILLBOX_PORT", "70000", "port"),
        ("TILLBOX_THREADS", "2", "threads"),
        ("TILLBOX_TAX_CLASSES", " , ", "tax_classes"),
        ("TILLBOX_CURRENCY", "euro", "currency"),
        ("TILLBOX_LOG_LEVEL", "LOUD", "log_level"),
        ("TILLBOX_RECEIPT_DELIVERY", "both", "receipt_delivery"),
    ],
)
def test_wrong_values_in_the_environment_name_the_setting(
    tmp_path: Path, variable: str, value: str, name: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(tmp_path, env={variable: value})


def test_unknown_keys_in_the_appliance_table_are_refused(tmp_path: Path) -> None:
    write_toml(tmp_path, "[appliance]\nprot = 8080\n")
    with pytest.raises(SettingsError, match=r"unknown setting appliance\.prot"):
        load_settings(tmp_path, env={})


def test_the_data_dir_cannot_be_set_from_inside_itself(tmp_path: Path) -> None:
    write_toml(tmp_path, '[appliance]\ndata_dir = "/elsewhere"\n')
    with pytest.raises(SettingsError, match="data_dir"):
        load_settings(tmp_path, env={})


def test_an_appliance_key_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    write_toml(tmp_path, 'appliance = "s01"\n')
    with pytest.raises(SettingsError, match=r"\[appliance\]"):
        load_settings(tmp_path, env={})


def test_invalid_toml_is_a_settings_error_naming_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[appliance\nport = \n")
    with pytest.raises(SettingsError, match="not valid TOML") as caught:
        load_settings(tmp_path, env={})
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_utf8_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_bytes(b'[appliance]\nstore_name = "\xff"\n')
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize("store", ["S01", "s 01", "s", "1st", "s01-r01", "a" * 17])
def test_bad_store_ids_are_refused(tmp_path: Path, store: str) -> None:
    with pytest.raises(SettingsError, match="store id"):
        load_settings(tmp_path, env={}, overrides={"store": store})


@pytest.mark.parametrize("currency", ["eur", "XXX", "EURO", ""])
def test_bad_currencies_are_refused(tmp_path: Path, currency: str) -> None:
    with pytest.raises(SettingsError, match="currency"):
        load_settings(tmp_path, env={}, overrides={"currency": currency})


@pytest.mark.parametrize("locale", ["en_IE", "EN-ie", "english", "", "de-DE; rm -rf"])
def test_bad_locales_are_refused(tmp_path: Path, locale: str) -> None:
    with pytest.raises(SettingsError, match="locale"):
        load_settings(tmp_path, env={}, overrides={"locale": locale})


def test_a_locale_from_the_environment_reaches_the_registers(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={"TILLBOX_LOCALE": "de-DE"})
    assert settings.locale == "de-DE"
    assert load_settings(tmp_path, env={}).locale == "en-IE"


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_ports_outside_the_range_are_refused(tmp_path: Path, port: int) -> None:
    with pytest.raises(SettingsError, match="port"):
        load_settings(tmp_path, env={}, overrides={"port": port})


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_the_edges_are_accepted(tmp_path: Path, port: int) -> None:
    assert load_settings(tmp_path, env={}, overrides={"port": port}).port == port


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("threads", 3),
        ("staff_idle_minutes", 0),
        ("pin_max_failures", 0),
        ("override_ttl_seconds", 4),
        ("max_body_bytes", 10),
        ("tax_classes", ()),
        ("tax_classes", ("Standard",)),
        ("argon2_time_cost", 0),
        ("argon2_memory_kib", 4),
        ("min_free_disk_mb", -1),
        ("staff_session_max_hours", 0),
        ("tax_rates_ppm", (200_000, 70_000)),
        ("tax_rates_ppm", (200_000, 70_000, 1_000_001)),
        ("tax_mode", "included"),
        ("tax_rounding", "banker"),
        ("discount_threshold_bp", -1),
        ("no_receipt_refunds", ("gift_card",)),
        ("push_max_events", 0),
    ],
)
def test_out_of_range_values_name_the_setting(tmp_path: Path, name: str, value: object) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(tmp_path, env={}, overrides={name: value})


def test_unknown_overrides_are_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="bogus"):
        load_settings(tmp_path, env={}, overrides={"bogus": 1})


def test_replace_validates_again(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.replace(port=9001).port == 9001
    with pytest.raises(SettingsError, match="port"):
        settings.replace(port=0)


def test_write_settings_file_round_trips(tmp_path: Path) -> None:
    root = tmp_path / "new"
    base = Settings(data_dir=root)
    path = write_settings_file(
        base,
        store="s09",
        store_name='Quay "North" \\ Café\nSecond line\t',
        currency="NOK",
        port=8443,
        tax_classes=("standard", "zero"),
        tax_rates_ppm=(200_000, 0),
        pwa_dir=Path("/opt/pwa"),
    )
    assert path == root / SETTINGS_FILE
    loaded = load_settings(root, env={})
    assert loaded.store == "s09"
    assert loaded.store_name == 'Quay "North" \\ Café\nSecond line\t'
    assert loaded.currency == "NOK"
    assert loaded.port == 8443
    assert loaded.tax_classes == ("standard", "zero")
    assert loaded.pwa_dir == Path("/opt/pwa")


def test_write_settings_file_keeps_what_it_was_not_asked_to_change(tmp_path: Path) -> None:
    write_toml(tmp_path, '[appliance]\nport = 9000\nstore_name = "Old"\n\n[sync]\nbroker = "b"\n')
    write_settings_file(load_settings(tmp_path, env={}), store="s01", store_name="New")
    loaded = load_settings(tmp_path, env={})
    assert (loaded.store, loaded.store_name, loaded.port) == ("s01", "New", 9000)
    assert loaded.extra == {"sync": {"broker": "b"}}
    assert tomllib.loads((tmp_path / SETTINGS_FILE).read_text())["sync"] == {"broker": "b"}


def test_write_settings_file_refuses_unknown_keys_and_the_data_dir(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path)
    with pytest.raises(SettingsError, match="bogus"):
        write_settings_file(base, bogus=1)
    with pytest.raises(SettingsError, match="data_dir"):
        write_settings_file(base, data_dir=tmp_path)
    assert not (tmp_path / SETTINGS_FILE).exists()


def test_write_settings_file_leaves_out_unset_values(tmp_path: Path) -> None:
    write_settings_file(Settings(data_dir=tmp_path), store="s01", pwa_dir=None)
    assert load_settings(tmp_path, env={}).pwa_dir is None


def test_receipts_go_through_the_cloud_by_default_and_only_with_a_cloud_link(
    tmp_path: Path,
) -> None:
    from appliance.receipts.delivery import sender_for

    alone = load_settings(tmp_path, env={})
    assert alone.receipt_delivery == "cloud"
    assert sender_for(alone) == "appliance"  # no cloud to hand them to
    linked = load_settings(tmp_path, env={"TILLBOX_MQTT_HOST": "cloud.example"})
    assert sender_for(linked) == "cloud"
    itself = load_settings(
        tmp_path,
        env={"TILLBOX_MQTT_HOST": "cloud.example", "TILLBOX_RECEIPT_DELIVERY": "appliance"},
    )
    assert sender_for(itself) == "appliance"
