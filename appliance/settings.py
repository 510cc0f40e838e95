"""Appliance settings: defaults, then `{data}/tillbox.toml`, then `TILLBOX_*` environment variables."""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from protocol.envelope import STORE_RE
from protocol.money import CURRENCY_EXPONENTS

SETTINGS_FILE = "tillbox.toml"
DATABASE_FILE = "tillbox.sqlite3"
DEFAULT_DATA_DIR = Path("/var/lib/tillbox")
ENV_PREFIX = "TILLBOX_"


class SettingsError(ValueError):
    """A setting has a value the appliance cannot run with; the message says which and why."""


# The envelope's origin pattern allows s01-ap, s01-ap2 … s01-ap99 (protocol/envelope.py).
MAX_APPLIANCE_GENERATION = 99


def appliance_origin(store: str, generation: int) -> str:
    """The appliance origin of a store's `generation`th appliance: s01-ap, s01-ap2, …"""
    return f"{store}-ap" if generation == 1 else f"{store}-ap{generation}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the appliance reads at start. Immutable; build a new one to change it."""

    data_dir: Path = DEFAULT_DATA_DIR
    store: str = ""
    store_name: str = ""
    currency: str = "EUR"
    # Which appliance of the store this is: 1 for the first, one more for each restore from
    # the cloud (decisions.md §42). The database's store_info holds it; open_runtime sets it.
    appliance_generation: int = 1
    # How registers show money and dates (a BCP 47 tag: "en-IE" gives €12.99, "de-DE" 12,99 €).
    locale: str = "en-IE"
    # The store's time zone (IANA name): receipts and printed reports show local time.
    timezone: str = "Europe/Dublin"
    host: str = "127.0.0.1"
    port: int = 8080
    # SSE streams hold a thread each, so waitress needs more than its default 4.
    threads: int = 16
    max_body_bytes: int = 2 * 1024 * 1024
    staff_idle_minutes: int = 15
    staff_session_max_hours: int = 12
    pin_max_failures: int = 5
    pin_lockout_minutes: int = 5
    pin_failure_window_minutes: int = 15
    override_ttl_seconds: int = 60
    # argon2id cost. OWASP's minimum (19 MiB, t=2) keeps a PIN check near 50 ms on a Pi 4.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    tax_classes: tuple[str, ...] = ("standard", "reduced", "zero")
    # The rate of each tax class in parts per million (200000 = 20 %, 88750 = 8.875 %), in
    # tax_classes order.
    tax_rates_ppm: tuple[int, ...] = (200_000, 70_000, 0)
    # "inclusive": shelf prices include tax (EU); "exclusive": tax is added at the till (US).
    tax_mode: str = "inclusive"
    # "line": tax rounded on each line; "total": once per rate over the whole receipt.
    tax_rounding: str = "line"
    # A discount above this share of what it discounts needs a supervisor's approval.
    discount_threshold_bp: int = 1000
    # How a return without a receipt may be refunded (it always needs an override).
    no_receipt_refunds: tuple[str, ...] = ("store_credit", "cash")
    # Events in one push; a register's offline outbox is sent in batches of this size.
    push_max_events: int = 500
    log_level: str = "INFO"
    pwa_dir: Path | None = None
    min_free_disk_mb: int = 512
    # How long a write waits for another process's write (a big CLI import) before the
    # request answers 503 busy. Sales should wait rather than fail.
    busy_timeout_ms: int = 30_000
    # Lets a register's device token send scans with POST /api/v1/scans (the fake scanner,
    # for development and demos until the appliance reads real scanners). Managers always can.
    fake_scanner: bool = False
    # The cloud's MQTT broker. No host means no cloud: the uplink stays off.
    mqtt_host: str = ""
    mqtt_port: int = 8883
    # TLS to the broker; mqtt_tls_ca is a private CA's file (None: the system's CAs).
    mqtt_tls: bool = True
    mqtt_tls_ca: Path | None = None
    # The broker's user for this store (ACLs allow `tillbox/v1/stores/%u/#`); empty: the store id.
    mqtt_username: str = ""
    mqtt_password_file: Path | None = None
    # A one-time enrolment code still to trade for the broker password (first boot writes
    # it), and where to trade it; empty: https://<mqtt_host>/hq/enrol (decisions.md §53).
    enrol_code_file: Path | None = None
    enrol_url: str = ""
    # How long the broker keeps this appliance's session (its subscription) while it is away.
    mqtt_session_expiry_s: int = 7 * 24 * 3600
    mqtt_keepalive_s: int = 30
    # Events sent to the cloud in one batch, at most this many and this many bytes.
    sync_batch_max_events: int = 500
    sync_batch_max_bytes: int = 256 * 1024
    # A batch the cloud has not acknowledged in this long is sent again; the wait doubles
    # on each resend, up to the maximum.
    sync_ack_timeout_ms: int = 10_000
    sync_ack_timeout_max_ms: int = 300_000
    # How often the retained status topic is refreshed, and the journal checked for new events.
    sync_heartbeat_ms: int = 60_000
    sync_poll_ms: int = 500
    # Catalog changes asked of the cloud at once; each page is applied in one transaction.
    sync_catalog_page: int = 500
    # How long a register's question to the cloud (other stores' stock) waits for the answer
    # before the register is told the cloud is unavailable (503).
    chain_rpc_timeout_ms: int = 3000
    # What a gift card or store credit account may pay here, in minor units per card, while
    # the cloud cannot be asked (offline); 0 refuses such payments offline. Each such payment
    # counts until the cloud has its sale, and the cloud flags it for review.
    offline_redeem_limit: int = 5000
    # The receipt printer. Width in characters of its normal font: 48 on 80 mm paper, 32 on
    # 58 mm; the profile is python-escpos's capability profile for the model (code pages,
    # barcodes), "default" for any ESC/POS printer.
    printer_width: int = 48
    printer_profile: str = "default"
    # Lines printed under the store's name (address, tax number) and at the foot of a receipt.
    receipt_header: str = ""
    receipt_footer: str = "Thank you for shopping with us"
    # Who sends emailed and texted receipts: "cloud" (the chain's mail server and SMS account,
    # once the request reaches the cloud; an appliance with no mqtt_host sends itself) or
    # "appliance" (decisions.md §48). Each request keeps the sender it was queued for.
    receipt_delivery: str = "cloud"
    # Digital receipts sent by the appliance itself: the store's SMTP server (STARTTLS unless
    # smtp_starttls is false; smtp_tls_ca for a private CA) and a Twilio-style SMS gateway.
    # With neither, requested emails and texts wait in the queue, and fail after two days.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_tls_ca: Path | None = None
    smtp_username: str = ""
    smtp_password_file: Path | None = None
    smtp_from: str = ""
    sms_gateway_url: str = ""
    sms_account: str = ""
    sms_token_file: Path | None = None
    sms_from: str = ""
    # Where a receipt can be seen online; an SMS receipt carries {receipt_link_base}/{number}.
    receipt_link_base: str = ""
    # Barcode scanners read by the appliance: input devices the udev rule tags
    # (ENV{TILLBOX_SCANNER}="1"), plus these by USB or Bluetooth ids ("0c2e:0b61"). A scanner
    # seen for the first time gets scanner_layout (us, uk, de or fr) until one is set for it.
    scanner_ids: tuple[str, ...] = ()
    scanner_layout: str = "us"
    # The admin pages' session cookie is Secure: "auto" when the page came over HTTPS (nginx
    # says so with X-Forwarded-Proto), "always", or "never" (plain-HTTP labs only).
    admin_cookie_secure: str = "auto"
    # Admin sign-in attempts allowed per client address and per staff member in a minute,
    # besides the PIN lockout (429 with Retry-After beyond it).
    admin_login_attempts_per_minute: int = 10
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        """Where the store's SQLite database lives."""
        return self.data_dir / DATABASE_FILE

    @property
    def settings_path(self) -> Path:
        """Where the TOML settings file lives."""
        return self.data_dir / SETTINGS_FILE

    def tax_rate_ppm(self, tax_class: str) -> int:
        """The rate of a tax class in parts per million (KeyError for an unknown class)."""
        try:
            return self.tax_rates_ppm[self.tax_classes.index(tax_class)]
        except ValueError:
            raise KeyError(tax_class) from None

    @property
    def appliance_origin(self) -> str:
        """The origin id of the appliance itself: `s01-ap`, then `s01-ap2`, `s01-ap3` … for
        the appliances restored from the cloud after it (each with a chain of its own)."""
        return appliance_origin(self.store, self.appliance_generation)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again."""
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        """Raise SettingsError for values the appliance cannot run with."""
        if self.store and not re.fullmatch(STORE_RE, self.store):
            raise SettingsError(
                f"store id {self.store!r} is not valid: use a short lowercase slug like 's01'"
            )
        if not 1 <= self.appliance_generation <= MAX_APPLIANCE_GENERATION:
            raise SettingsError(
                f"appliance_generation must be 1–{MAX_APPLIANCE_GENERATION},"
                f" not {self.appliance_generation}"
            )
        if self.currency not in CURRENCY_EXPONENTS:
            raise SettingsError(f"currency {self.currency!r} is not an ISO 4217 code")
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?", self.locale):
            raise SettingsError(
                f"locale {self.locale!r} is not a language tag like 'en-IE' or 'de-DE'"
            )
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is outside 1–65535")
        if self.threads < 4:
            raise SettingsError("threads must be at least 4 (scan streams each hold one)")
        for name in (
            "staff_idle_minutes",
            "pin_max_failures",
            "pin_lockout_minutes",
            "pin_failure_window_minutes",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.override_ttl_seconds < 5:
            raise SettingsError("override_ttl_seconds must be at least 5")
        if self.max_body_bytes < 1024:
            raise SettingsError("max_body_bytes must be at least 1024")
        if not self.tax_classes or any(
            not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", t) for t in self.tax_classes
        ):
            raise SettingsError("tax_classes must be a non-empty list of lowercase names")
        if len(self.tax_rates_ppm) != len(self.tax_classes) or any(
            not 0 <= r <= 1_000_000 for r in self.tax_rates_ppm
        ):
            raise SettingsError(
                "tax_rates_ppm needs one rate per tax class, each 0–1000000 parts per million"
            )
        if self.tax_mode not in ("inclusive", "exclusive"):
            raise SettingsError("tax_mode must be inclusive or exclusive")
        if self.tax_rounding not in ("line", "total"):
            raise SettingsError("tax_rounding must be line or total")
        if not 0 <= self.discount_threshold_bp <= 10_000:
            raise SettingsError("discount_threshold_bp must be 0–10000")
        if not set(self.no_receipt_refunds) <= {"store_credit", "cash"}:
            raise SettingsError("no_receipt_refunds may list store_credit and cash")
        if not 1 <= self.push_max_events <= 5000:
            raise SettingsError("push_max_events must be 1–5000")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"timezone {self.timezone!r} is not a time zone name like 'Europe/Dublin'"
            ) from None
        if not 24 <= self.printer_width <= 64:
            raise SettingsError("printer_width must be 24–64 characters (48 for 80 mm paper)")
        if self.receipt_delivery not in ("cloud", "appliance"):
            raise SettingsError("receipt_delivery must be cloud or appliance")
        if self.smtp_host and "@" not in self.smtp_from:
            raise SettingsError("smtp_from must be the address receipts are sent from")
        if self.sms_gateway_url and not (self.sms_account and self.sms_from):
            raise SettingsError("an SMS gateway needs sms_account and sms_from")
        if self.sms_gateway_url and not self.sms_gateway_url.startswith(("https://", "http://")):
            raise SettingsError("sms_gateway_url must be an http(s) URL")
        if any(not re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", i) for i in self.scanner_ids):
            raise SettingsError("scanner_ids are vendor:product ids like 0c2e:0b61 (from lsusb)")
        if self.scanner_layout not in ("us", "uk", "de", "fr"):
            raise SettingsError("scanner_layout must be us, uk, de or fr")
        if self.admin_cookie_secure not in ("auto", "always", "never"):
            raise SettingsError("admin_cookie_secure must be auto, always or never")
        if self.admin_login_attempts_per_minute < 1:
            raise SettingsError("admin_login_attempts_per_minute must be at least 1")
        if self.mqtt_host and not 1 <= self.mqtt_port <= 65535:
            raise SettingsError(f"mqtt_port {self.mqtt_port} is outside 1–65535")
        if not 1 <= self.sync_batch_max_events <= 5000:
            raise SettingsError("sync_batch_max_events must be 1–5000")
        if not 1 <= self.sync_catalog_page <= 1000:
            raise SettingsError("sync_catalog_page must be 1–1000")
        if self.sync_batch_max_bytes < 1024:
            raise SettingsError("sync_batch_max_bytes must be at least 1024")
        for name in (
            "sync_ack_timeout_ms",
            "sync_heartbeat_ms",
            "sync_poll_ms",
            "chain_rpc_timeout_ms",
        ):
            if getattr(self, name) < 10:
                raise SettingsError(f"{name} must be at least 10")
        if self.offline_redeem_limit < 0:
            raise SettingsError("offline_redeem_limit must be 0 or more")
        if self.sync_ack_timeout_max_ms < self.sync_ack_timeout_ms:
            raise SettingsError("sync_ack_timeout_max_ms must be at least sync_ack_timeout_ms")
        if self.enrol_url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.enrol_url):
            raise SettingsError(f"enrol_url {self.enrol_url!r} is not an https:// address")
        if self.mqtt_keepalive_s < 5 or self.mqtt_session_expiry_s < 0:
            raise SettingsError("mqtt_keepalive_s must be at least 5, mqtt_session_expiry_s ≥ 0")
        if self.staff_session_max_hours < 1:
            raise SettingsError("staff_session_max_hours must be at least 1")
        # argon2's own lower limits: below them every PIN check fails at the first login.
        if self.argon2_time_cost < 1:
            raise SettingsError("argon2_time_cost must be at least 1")
        if self.argon2_parallelism < 1:
            raise SettingsError("argon2_parallelism must be at least 1")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise SettingsError("argon2_memory_kib must be at least 8 × argon2_parallelism")
        if self.min_free_disk_mb < 0:
            raise SettingsError("min_free_disk_mb must not be negative")
        if self.busy_timeout_ms < 0:
            raise SettingsError("busy_timeout_ms must not be negative")
        if self.log_level.upper() not in _LOG_LEVELS:
            raise SettingsError(
                f"log_level {self.log_level!r} is not one of {', '.join(_LOG_LEVELS)}"
            )


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Settings)
_SETTABLE = {f.name for f in fields(Settings)} - {"extra"}


def _coerce(name: str, value: Any, *, from_env: bool) -> Any:
    """Turn a TOML or environment value into the field's type, or raise SettingsError."""
    hint = _FIELD_TYPES[name]
    if typing.get_origin(hint) is types.UnionType:  # `Path | None`
        if value in ("", None):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    wanted = getattr(hint, "__name__", str(hint))
    problem = SettingsError(f"setting {name}: {value!r} is not a valid {wanted}")
    if hint is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise problem
        return Path(value).expanduser()
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise problem
    if hint is int:
        if isinstance(value, bool) or (not from_env and not isinstance(value, int)):
            raise problem
        try:
            return int(value)
        except ValueError:
            raise problem from None
    if hint is str:
        if not isinstance(value, str):
            raise problem
        return value
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if from_env:
            parts = [v.strip() for v in str(value).split(",") if v.strip()]
            if item is int:
                try:
                    return tuple(int(v) for v in parts)
                except ValueError:
                    raise problem from None
            return tuple(parts)
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        ):
            raise problem
        return tuple(value)
    raise SettingsError(f"setting {name} has a type the appliance does not know")


def load_settings(
    data_dir: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from defaults, the data dir's TOML file, `TILLBOX_*` variables and overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if data_dir is None:
        data_dir = env.get(f"{ENV_PREFIX}DATA") or DEFAULT_DATA_DIR
    values["data_dir"] = Path(data_dir).expanduser()
    path = values["data_dir"] / SETTINGS_FILE
    extra: dict[str, Any] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
        table = document.get("appliance", {})
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: appliance must be a table, [appliance]")
        for key, value in table.items():
            if key == "data_dir":
                # The file lives in the data dir, so it cannot move it.
                raise SettingsError(
                    f"{path}: appliance.data_dir cannot be set here; use --data or TILLBOX_DATA"
                )
            if key not in _SETTABLE:
                raise SettingsError(f"{path}: unknown setting appliance.{key}")
            values[key] = _coerce(key, value, from_env=False)
        extra = {k: v for k, v in document.items() if k != "appliance"}
    for key in _SETTABLE - {"data_dir"}:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = _coerce(key, raw, from_env=True)
    for key, value in (overrides or {}).items():
        if key not in _SETTABLE - {"data_dir"}:
            raise SettingsError(f"unknown setting {key}")
        if value is not None:
            values[key] = _coerce(key, value, from_env=False)
    settings = Settings(**values, extra=extra)
    settings.validate()
    return settings


def write_settings_file(settings: Settings, **keys: Any) -> Path:
    """Set the given keys in the `[appliance]` table of the data dir's TOML file.

    Keys already in the file and its other tables are kept; a value of None removes the key.
    The file is replaced atomically, so a power cut never leaves half a settings file.
    """
    path = settings.settings_path
    table: dict[str, Any] = {}
    others: dict[str, Any] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
        current = document.pop("appliance", {})
        table = dict(current) if isinstance(current, dict) else {}
        others = document
    for key, value in keys.items():
        if key not in _SETTABLE - {"data_dir"}:
            raise SettingsError(f"unknown setting {key}")
        if value is None:
            table.pop(key, None)
            continue
        plain = str(value) if isinstance(value, Path) else value
        plain = list(plain) if isinstance(plain, tuple) else plain
        _coerce(key, plain, from_env=False)  # refuse what load_settings would refuse
        table[key] = plain
    lines = ["# Tillbox appliance settings. TILLBOX_* environment variables override these."]
    tables = {k: v for k, v in others.items() if isinstance(v, dict)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in others.items() if k not in tables]
    for name, content in {"appliance": table, **tables}.items():
        lines += ["", f"[{_toml_key(name)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in content.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    with partial.open("w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    return path


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_key(key: str) -> str:
    """A TOML key, quoted when it is not bare."""
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    """A TOML basic string; every control character escaped, since TOML forbids them raw."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    """Render a value read from TOML (or a simple setting) as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    return _toml_string(str(value))
