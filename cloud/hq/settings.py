"""HQ's settings: the database, sign-in limits, sessions, how fresh a store's figures must
be to count as live, and the chain's currency. From the environment (TILLBOX_HQ_*), like the cloud's other services."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from protocol.money import exponent

ENV_PREFIX = "TILLBOX_HQ_"
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class HqSettingsError(ValueError):
    """A setting that cannot be used, named with what it should be."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HqSettings:
    """What `cloud.hq.create_app` needs."""

    dsn: str
    # Sign-in attempts per minute, per client address and per username (then 429).
    login_attempts_per_minute: int = 10
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    # Secure cookies: always, never (plain HTTP in a lab), or auto (when the page came over
    # HTTPS, which nginx says with X-Forwarded-Proto).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # A store whose last event arrived longer ago than this shows its figures as stale.
    stale_after_minutes: int = 15
    # Sales velocity for days of cover: the trailing days of sale_fact.
    velocity_days: int = 28
    page_size: int = 50
    # argon2id cost of HQ passwords (RFC 9106's second choice; lower only in tests).
    password_time_cost: int = 3
    password_memory_kib: int = 65_536
    # Enrolment (POST /hq/enrol, decisions.md §53): where enrolled stores connect, as the
    # answer tells them; the broker's password file (TILLBOX_CLOUD_MQTT_PASSWD, as for
    # `tillbox cloud store add`) and pid file (for SIGHUP); an optional private CA's PEM file
    # sent with the answer. No broker host or password file: enrolment answers 503.
    enrol_broker_host: str = ""
    enrol_broker_port: int = 8883
    enrol_broker_tls: bool = True
    enrol_broker_ca_file: str = ""
    broker_password_file: str = ""
    broker_pid_file: str = ""
    # Enrolment attempts per minute per client address (then 429).
    enrol_attempts_per_minute: int = 10
    # The chain's currency (ISO 4217, as protocol.money knows it): what the catalog's cost and
    # price, reorder values and audit amounts are in on every HQ page.
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not self.dsn:
            raise HqSettingsError("dsn: a PostgreSQL connection string is required")
        if self.cookie_secure not in ("auto", "always", "never"):
            raise HqSettingsError("cookie_secure: auto, always or never")
        try:
            exponent(self.currency)
        except ValueError:
            raise HqSettingsError(
                f"currency: an ISO 4217 code such as EUR, not {self.currency!r}"
            ) from None
        for name, low, high in (
            ("login_attempts_per_minute", 1, 1000),
            ("session_idle_minutes", 1, 24 * 60),
            ("session_max_hours", 1, 24 * 30),
            ("stale_after_minutes", 1, 24 * 60),
            ("velocity_days", 1, 365),
            ("page_size", 10, 500),
            ("password_time_cost", 1, 20),
            ("password_memory_kib", 8, 4 * 1024 * 1024),
            ("enrol_broker_port", 1, 65535),
            ("enrol_attempts_per_minute", 1, 1000),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise HqSettingsError(f"{name}: {low} to {high}, not {value}")


def from_env(environ: Mapping[str, str] | None = None, **given: object) -> HqSettings:
    """Settings from TILLBOX_HQ_* (TILLBOX_CLOUD_DSN for the database), then `given`."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {"dsn": env.get("TILLBOX_CLOUD_DSN", "")}
    if env.get("TILLBOX_CLOUD_MQTT_PASSWD"):
        values["broker_password_file"] = env["TILLBOX_CLOUD_MQTT_PASSWD"]
    if env.get("TILLBOX_CLOUD_CURRENCY"):  # the cloud CLI's name; TILLBOX_HQ_CURRENCY wins
        values["currency"] = env["TILLBOX_CLOUD_CURRENCY"]
    for item in fields(HqSettings):
        raw = env.get(ENV_PREFIX + item.name.upper())
        if raw is None:
            continue
        if item.type == "bool":
            if raw.strip().lower() not in _BOOLEANS:
                raise HqSettingsError(
                    f"{ENV_PREFIX}{item.name.upper()}: true or false, not {raw!r}"
                )
            values[item.name] = _BOOLEANS[raw.strip().lower()]
        elif item.type == "int":
            try:
                values[item.name] = int(raw)
            except ValueError:
                raise HqSettingsError(
                    f"{ENV_PREFIX}{item.name.upper()}: a whole number, not {raw!r}"
                ) from None
        else:
            values[item.name] = raw
    values.update({k: v for k, v in given.items() if v is not None})
    return HqSettings(**values)  # type: ignore[arg-type]  # checked in __post_init__
