"""The first-boot file `store-setup.toml`: read from the Pi's boot partition, checked as a
whole, applied, then renamed `store-setup.toml.applied` with its secrets removed.

IT writes the file onto the SD card's FAT boot partition (readable from any laptop) before
the Pi's first start; `tillbox-first-boot.service` runs `tillbox appliance first-boot` once.

```toml
[store]
id = "s01"                       # required: the store id (as `init --store`)
name = "Main Street"             # required: the name on receipts
currency = "EUR"                 # optional, default EUR
timezone = "Europe/Dublin"       # optional, default Europe/Dublin

[wifi]                           # optional: without it the Pi uses Ethernet (or the setup AP)
ssid = "Shop-Staff"
psk = "correct horse battery"    # WPA2 passphrase (8–63 characters) or 64 hex digits
country = "IE"                   # the regulatory domain, ISO 3166 alpha-2

[cloud]                          # optional: without it the store runs without the cloud
host = "mqtt.example.com"
port = 8883                      # optional, default 8883
enrolment_code = "K7QJX-MP3RA-ZT2WD-F5NVE"  # one-time (`tillbox cloud store enrol-code s01`)
# broker_password = "…"          # instead of a code: the broker password itself (older way)
# enrol_url = "https://hq.example.com/hq/enrol"  # optional, default https://<host>/hq/enrol
ca = '''-----BEGIN CERTIFICATE-----…'''  # optional: a private CA (labs)

[manager]                        # optional: the first manager, to log in and pair tablets
name = "Alex"
pin = "4821"
```

Nothing is applied unless the whole file is valid: every problem is reported (file, table,
key, why) and no file is written. Files are written beside their targets and renamed into
place only after the store exists, so a failure leaves the Pi as it was and the next boot
tries again. The enrolment code, the Wi-Fi passphrase and the PIN are not kept on the boot
partition: `.applied` shows them as removed. The code is traded for the broker password once
the network is up (appliance/enrolment.py, decisions.md §53); first boot only keeps it, 0600,
in the data directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tomllib
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.enrolment import CODE_FILE, CODE_RE
from protocol.envelope import STORE_RE
from protocol.money import CURRENCY_EXPONENTS

WIFI_CONNECTION = "tillbox-store-wifi"
PASSWORD_FILE = "mqtt-password"  # noqa: S105 - the file's name, not a password
CA_FILE = "mqtt-ca.pem"
REMOVED = "(removed after first boot)"
_SECRETS = {
    ("wifi", "psk"),
    ("cloud", "enrolment_code"),
    ("cloud", "broker_password"),
    ("manager", "pin"),
}
_HOST_RE = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_KEYS: dict[str, dict[str, bool]] = {
    # table -> key -> required
    "store": {"id": True, "name": True, "currency": False, "timezone": False},
    "wifi": {"ssid": True, "psk": True, "country": True},
    # One of enrolment_code and broker_password (checked in _check_cloud).
    "cloud": {
        "host": True,
        "port": False,
        "enrolment_code": False,
        "broker_password": False,
        "enrol_url": False,
        "ca": False,
    },
    "manager": {"name": True, "pin": True},
}


class FirstBootError(ValueError):
    """The file cannot be applied; `problems` lists every reason, one line each."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class Wifi:
    """The store's Wi-Fi network."""

    ssid: str
    psk: str
    country: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Cloud:
    """Where the store's appliance connects, and its credential."""

    host: str
    port: int
    # Exactly one of the two: a one-time code to trade, or the broker password itself.
    enrolment_code: str | None
    broker_password: str | None
    enrol_url: str | None
    ca: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Manager:
    """The first manager."""

    name: str
    pin: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSetup:
    """A validated store-setup.toml."""

    store: str
    name: str
    currency: str
    timezone: str | None
    wifi: Wifi | None
    cloud: Cloud | None
    manager: Manager | None
    document: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Targets:
    """Where first boot writes (the defaults are the Pi's; tests point them elsewhere)."""

    data_dir: Path
    config_dir: Path = Path("/etc/tillbox")
    nm_dir: Path = Path("/etc/NetworkManager/system-connections")
    modprobe_dir: Path = Path("/etc/modprobe.d")
    # The store's system user: owns the data directory and the secrets; None leaves owners.
    owner: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """What first boot did, for the journal."""

    store: str
    created: bool
    written: tuple[Path, ...]
    applied_file: Path


def read_store_setup(path: Path) -> StoreSetup:
    """Parse and check the whole file; FirstBootError lists every problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FirstBootError(path, [f"cannot be read: {exc.strerror or exc}"]) from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FirstBootError(path, ["is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise FirstBootError(path, [f"is not valid TOML: {exc}"]) from None
    problems: list[str] = []
    for table in document:
        if table not in _KEYS:
            problems.append(f"unknown table [{table}] (known: {', '.join(_KEYS)})")
        elif not isinstance(document[table], dict):
            problems.append(f"{table} must be a table, [{table}]")
    if "store" not in document:
        problems.append("[store] is missing (id and name are required)")
    tables = {t: v for t, v in document.items() if t in _KEYS and isinstance(v, dict)}
    for table, content in tables.items():
        for key in content:
            if key not in _KEYS[table]:
                problems.append(f"[{table}] {key}: unknown key")
        for key, required in _KEYS[table].items():
            if required and key not in content:
                problems.append(f"[{table}] {key}: missing")
    setup = _check_values(tables, problems)
    if problems or setup is None:
        raise FirstBootError(path, problems)
    return setup


def _text(
    tables: dict[str, dict[str, Any]], problems: list[str], table: str, key: str
) -> str | None:
    value = tables.get(table, {}).get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"[{table}] {key}: must be a string in quotes")
        return None
    if any(ord(c) < 0x20 and c != "\n" for c in value) or "\x7f" in value:
        problems.append(f"[{table}] {key}: contains control characters")
        return None
    return value


def _check_values(tables: dict[str, dict[str, Any]], problems: list[str]) -> StoreSetup | None:
    before = len(problems)
    store = _text(tables, problems, "store", "id")
    if store is not None and not re.fullmatch(STORE_RE, store):
        problems.append(
            f"[store] id: {store!r} is not a store id (a lowercase letter, then 1 to 15 "
            "lowercase letters or digits, e.g. s01)"
        )
    name = _text(tables, problems, "store", "name")
    if name is not None and not 1 <= len(name.strip()) <= 80:
        problems.append("[store] name: must be 1 to 80 characters")
    currency = _text(tables, problems, "store", "currency") or "EUR"
    if currency not in CURRENCY_EXPONENTS:
        problems.append(f"[store] currency: {currency!r} is not an ISO 4217 code such as EUR")
    timezone = _text(tables, problems, "store", "timezone")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"[store] timezone: {timezone!r} is not a name like Europe/Dublin")
    wifi = _check_wifi(tables, problems) if "wifi" in tables else None
    cloud = _check_cloud(tables, problems) if "cloud" in tables else None
    manager = None
    if "manager" in tables:
        manager_name = _text(tables, problems, "manager", "name")
        pin = tables["manager"].get("pin")
        if manager_name is not None and not 1 <= len(manager_name.strip()) <= 60:
            problems.append("[manager] name: must be 1 to 60 characters")
        if pin is not None and not (isinstance(pin, str) and re.fullmatch(r"[0-9]{4,6}", pin)):
            problems.append('[manager] pin: must be 4 to 6 digits in quotes, e.g. pin = "4821"')
        if manager_name is not None and isinstance(pin, str):
            manager = Manager(name=manager_name.strip(), pin=pin)
    if len(problems) > before or store is None or name is None:
        return None
    return StoreSetup(
        store=store,
        name=name.strip(),
        currency=currency,
        timezone=timezone,
        wifi=wifi,
        cloud=cloud,
        manager=manager,
        document=tables,
    )


def _check_wifi(tables: dict[str, dict[str, Any]], problems: list[str]) -> Wifi | None:
    ssid = _text(tables, problems, "wifi", "ssid")
    psk = _text(tables, problems, "wifi", "psk")
    country = _text(tables, problems, "wifi", "country")
    if ssid is not None and ("\n" in ssid or not 1 <= len(ssid.encode("utf-8")) <= 32):
        problems.append("[wifi] ssid: must be 1 to 32 bytes on one line")
    if psk is not None and not (
        (8 <= len(psk) <= 63 and psk.isascii() and psk.isprintable())
        or re.fullmatch(r"[0-9a-fA-F]{64}", psk)
    ):
        problems.append(
            "[wifi] psk: must be a WPA2 passphrase of 8 to 63 printable ASCII characters, "
            "or 64 hex digits"
        )
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        problems.append(f"[wifi] country: {country!r} is not a two-letter code such as IE")
    if ssid is None or psk is None or country is None:
        return None
    return Wifi(ssid=ssid, psk=psk, country=country)


def _check_cloud(tables: dict[str, dict[str, Any]], problems: list[str]) -> Cloud | None:
    host = _text(tables, problems, "cloud", "host")
    code = _text(tables, problems, "cloud", "enrolment_code")
    password = _text(tables, problems, "cloud", "broker_password")
    url = _text(tables, problems, "cloud", "enrol_url")
    ca = _text(tables, problems, "cloud", "ca")
    port = tables["cloud"].get("port", 8883)
    given = [k for k in ("enrolment_code", "broker_password") if k in tables["cloud"]]
    if len(given) != 1:
        problems.append(
            "[cloud] enrolment_code: give the one-time code (`tillbox cloud store enrol-code`)"
            " or, instead, broker_password; exactly one of the two"
        )
    if host is not None and not _HOST_RE.fullmatch(host):
        problems.append(f"[cloud] host: {host!r} is not a host name such as mqtt.example.com")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append("[cloud] port: must be a number from 1 to 65535")
        port = 0
    if code is not None and not CODE_RE.fullmatch(code):
        hint = (
            " (this looks like a broker password: put it under broker_password)"
            if re.fullmatch(r"[A-Za-z0-9_\-]{16,128}", code)
            else ""
        )
        problems.append(
            "[cloud] enrolment_code: must be the four groups of five letters and digits that"
            f" `tillbox cloud store enrol-code` printed, e.g. K7QJX-MP3RA-ZT2WD-F5NVE{hint}"
        )
    if password is not None and not re.fullmatch(r"[A-Za-z0-9_\-]{16,128}", password):
        problems.append(
            "[cloud] broker_password: must be the 16 to 128 letters, digits, - or _ that"
            " `tillbox cloud store add` wrote"
        )
    if url is not None and not re.fullmatch(r"https://[^\s/]+(/\S*)?", url):
        problems.append(f"[cloud] enrol_url: {url!r} is not an https:// address")
    if ca is not None and "-----BEGIN CERTIFICATE-----" not in ca:
        problems.append("[cloud] ca: must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if host is None or (code is None) == (password is None) or not port:
        return None
    return Cloud(
        host=host,
        port=port,
        enrolment_code=None if code is None else code.upper(),
        broker_password=password,
        enrol_url=url,
        ca=ca,
    )


def wifi_keyfile(wifi: Wifi) -> str:
    """A NetworkManager keyfile for the store's Wi-Fi (preferred over the setup AP)."""
    return "\n".join(
        [
            "[connection]",
            f"id={WIFI_CONNECTION}",
            # The same network always gets the same id, so a repeated first boot replaces it.
            f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, 'tillbox-wifi:' + wifi.ssid)}",
            "type=wifi",
            "autoconnect=true",
            # Above tillbox-setup-ap (-100): the AP comes up only when this network cannot.
            "autoconnect-priority=100",
            "",
            "[wifi]",
            "mode=infrastructure",
            f"ssid={_keyfile_escape(wifi.ssid)}",
            "",
            "[wifi-security]",
            "key-mgmt=wpa-psk",
            f"psk={_keyfile_escape(wifi.psk)}",
            "",
            "[ipv4]",
            "method=auto",
            "",
            "[ipv6]",
            "method=auto",
            "addr-gen-mode=stable-privacy",
            "",
        ]
    )


def _keyfile_escape(value: str) -> str:
    """GKeyFile's escapes: backslash, leading space, newline (control characters are refused)."""
    escaped = value.replace("\\", "\\\\")
    if escaped.startswith(" "):
        escaped = "\\s" + escaped[1:]
    return escaped


def apply_store_setup(source: Path, targets: Targets) -> Applied:
    """Check `source`, create or update the store, write the Wi-Fi, cloud and CA files, then
    rename `source` to `.applied` without its secrets. All or nothing (see the module doc)."""
    from appliance.settings import Settings, load_settings, write_settings_file
    from appliance.setup import SetupError, init_store

    setup = read_store_setup(source)
    owner = _owner(targets.owner, source)
    data_dir = targets.data_dir
    settings_before = (
        (data_dir / "tillbox.toml").read_bytes() if (data_dir / "tillbox.toml").exists() else None
    )
    staged: list[tuple[Path, Path]] = []
    try:
        if setup.wifi is not None:
            staged.append(
                _stage(
                    targets.nm_dir / f"{WIFI_CONNECTION}.nmconnection",
                    wifi_keyfile(setup.wifi),
                    0o600,
                )
            )
            staged.append(
                _stage(
                    targets.modprobe_dir / "tillbox-wifi-country.conf",
                    "# The Wi-Fi regulatory domain, from store-setup.toml (first boot).\n"
                    f"options cfg80211 ieee80211_regdom={setup.wifi.country}\n",
                    0o644,
                )
            )
        mqtt: dict[str, Any] = {}
        if setup.cloud is not None:
            cloud = setup.cloud
            if cloud.broker_password is not None:
                secret = targets.config_dir / PASSWORD_FILE
                staged.append(_stage(secret, cloud.broker_password + "\n", 0o600, owner))
                code_file = None
            else:
                # The service writes the password itself once it has traded the code, so both
                # live in its own data directory (the one it may write under ProtectSystem).
                assert cloud.enrolment_code is not None
                secret = data_dir / PASSWORD_FILE
                code_file = data_dir / CODE_FILE
                staged.append(_stage(code_file, cloud.enrolment_code + "\n", 0o600, owner))
            mqtt = {
                "mqtt_host": cloud.host,
                "mqtt_port": cloud.port,
                "mqtt_password_file": secret,
                "mqtt_tls": True,
                "mqtt_tls_ca": None,
                "enrol_code_file": code_file,
                "enrol_url": cloud.enrol_url,
            }
            if setup.cloud.ca is not None:
                ca = targets.config_dir / CA_FILE
                staged.append(_stage(ca, setup.cloud.ca.strip() + "\n", 0o644, owner))
                mqtt["mqtt_tls_ca"] = ca
        try:
            result = init_store(
                data_dir, store=setup.store, name=setup.name, currency=setup.currency
            )
        except (SetupError, ValueError) as exc:
            raise FirstBootError(source, [str(exc)]) from None
        try:
            settings: Settings = load_settings(data_dir)
            extra: dict[str, Any] = {"store_name": setup.name, **mqtt}
            if setup.timezone is not None:
                extra["timezone"] = setup.timezone
            write_settings_file(settings, **extra)
            if setup.manager is not None:
                _add_manager(load_settings(data_dir), setup.manager)
        except BaseException:
            if result.created:
                _undo_store(data_dir, settings_before)
            elif settings_before is not None:
                (data_dir / "tillbox.toml").write_bytes(settings_before)
            raise
    except BaseException:
        for partial, _ in staged:
            partial.unlink(missing_ok=True)
        raise
    written = []
    for partial, final in staged:
        partial.replace(final)
        written.append(final)
    if owner is not None:
        _chown_tree(data_dir, owner)
    if setup.wifi is not None:
        _set_regulatory_domain(setup.wifi.country)
    applied = _retire(source, setup)
    return Applied(
        store=setup.store, created=result.created, written=tuple(written), applied_file=applied
    )


def _owner(name: str | None, source: Path) -> pwd.struct_passwd | None:
    if name is None:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise FirstBootError(source, [f"the user {name!r} does not exist on this Pi"]) from None


def _stage(
    final: Path, text: str, mode: int, owner: pwd.struct_passwd | None = None
) -> tuple[Path, Path]:
    """Write `text` beside `final` (mode and owner set before any byte is written)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.first-boot")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner.pw_uid, owner.pw_gid)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return partial, final


def _add_manager(settings: Any, manager: Manager) -> None:
    """The first manager, unless someone of that name is already on the staff (a re-run)."""
    from appliance.runtime import open_runtime
    from appliance.staff.directory import add_staff, list_staff
    from protocol.permissions import Role

    rt = open_runtime(settings)
    try:
        if any(m.name == manager.name for m in list_staff(rt, include_inactive=True)):
            return
        add_staff(rt, name=manager.name, role=Role.MANAGER, pin=manager.pin)
    finally:
        rt.close()


def _undo_store(data_dir: Path, settings_before: bytes | None) -> None:
    """Remove the store this run created (its database and settings), as init does."""
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"tillbox.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.rmtree(data_dir / "backups", ignore_errors=True)
    if settings_before is None:
        (data_dir / "tillbox.toml").unlink(missing_ok=True)
    else:
        (data_dir / "tillbox.toml").write_bytes(settings_before)


def _chown_tree(root: Path, owner: pwd.struct_passwd) -> None:
    for path in _walk(root):
        os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def _set_regulatory_domain(country: str) -> None:
    """Now as well as at the next boot (modprobe.d): NetworkManager may scan before then."""
    iw = shutil.which("iw") or "/usr/sbin/iw"
    if os.access(iw, os.X_OK):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([iw, "reg", "set", country], check=False, timeout=10)  # noqa: S603


def _retire(source: Path, setup: StoreSetup) -> Path:
    """Rename the file `.applied`, its secrets replaced (it sits on a FAT partition anyone
    with the SD card can read)."""
    from appliance.settings import _toml_key, _toml_value

    lines = [
        "# Applied by `tillbox appliance first-boot`; secrets removed. To apply a new file,",
        "# write store-setup.toml again.",
    ]
    for table, content in setup.document.items():
        lines += ["", f"[{_toml_key(table)}]"]
        for key, value in content.items():
            shown = REMOVED if (table, key) in _SECRETS else value
            lines.append(f"{_toml_key(key)} = {_toml_value(shown)}")
    applied = source.with_name(source.name + ".applied")
    partial = source.with_name(f".{source.name}.applied.partial")
    with partial.open("w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    partial.replace(applied)
    # The original (with the secrets) goes only once its replacement is on disk.
    source.unlink()
    with contextlib.suppress(OSError):
        fd = os.open(source.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return applied
