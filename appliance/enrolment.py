"""Enrolment: the appliance trades its one-time code (from store-setup.toml) for its broker
password at the cloud's `POST /hq/enrol`, over HTTPS (decisions.md §53).

First boot leaves the code in `enrol_code_file` (0600, in the data directory) and points
`mqtt_password_file` at a file that does not exist yet. `tillbox appliance enrol`, or
`serve` at start while the code is there and the password is not, posts the code; on success
the password is written (0600, atomically), the code file deleted and the uplink can connect.
A network failure, a 5xx or a 429 leaves everything in place and is retried with backoff; a
refusal (4xx: wrong, expired or used code) is kept in `enrolment-status.json` for `doctor`
and is not retried until a new code is given (`tillbox appliance enrol --code …`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.settings import Settings, write_settings_file

_log = logging.getLogger(__name__)

STATUS_FILE = "enrolment-status.json"
CODE_FILE = "enrolment-code"
PASSWORD_FILE = "mqtt-password"  # noqa: S105 - the file's name
CA_FILE = "mqtt-ca.pem"
CODE_RE = re.compile(r"[A-Za-z2-7]{5}([- ]?[A-Za-z2-7]{5}){3}")
TIMEOUT_S = 20.0


def default_enrol_url(cloud_host: str) -> str:
    """HQ's enrolment endpoint on the cloud host, behind its nginx."""
    return f"https://{cloud_host}/hq/enrol"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one exchange did: `state` is enrolled, refused (a 4xx: do not retry) or retry."""

    state: str
    message: str
    error: str | None = None


def pending(settings: Settings) -> bool:
    """Whether this appliance still has a code to trade and no broker password."""
    code_file = settings.enrol_code_file
    if code_file is None or not code_file.exists():
        return False
    secret = settings.mqtt_password_file
    return secret is None or not secret.exists()


def enrol_url(settings: Settings) -> str:
    """The configured enrol_url, else the default on the broker's host."""
    return settings.enrol_url or default_enrol_url(settings.mqtt_host)


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """Verify the cloud with the setup file's CA when there is one, else the system's."""
    ca = settings.mqtt_tls_ca
    return ssl.create_default_context(cafile=str(ca) if ca is not None else None)


def exchange(settings: Settings) -> Outcome:
    """Post the code once; on success write the password (and what the answer says of the
    broker), delete the code file. Never raises for the network or the cloud's answer."""
    code_file = settings.enrol_code_file
    if code_file is None or settings.mqtt_password_file is None:
        return _record(
            settings,
            Outcome(
                state="refused",
                error="not_configured",
                message="no enrol_code_file or mqtt_password_file set",
            ),
        )
    try:
        code = code_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return _record(
            settings,
            Outcome(
                state="refused",
                error="no_code",
                message=f"{code_file} cannot be read: {exc.strerror}",
            ),
        )
    url = enrol_url(settings)
    body = json.dumps({"store": settings.store, "code": code}).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - https, or http for a lab given by IT
        url,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=TIMEOUT_S, context=_tls_context(settings)
        ) as response:
            answer = json.loads(response.read(64 * 1024))
    except urllib.error.HTTPError as exc:
        error, message = _error_of(exc)
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            return _record(
                settings,
                Outcome(state="refused", error=error, message=f"the cloud refused: {message}"),
            )
        return _record(
            settings,
            Outcome(
                state="retry", error=error, message=f"the cloud answered {exc.code}: {message}"
            ),
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return _record(
            settings,
            Outcome(
                state="retry", error="unreachable", message=f"{url} cannot be reached: {reason}"
            ),
        )
    try:
        mqtt = _checked(answer, settings.store)
    except ValueError as exc:
        return _record(
            settings, Outcome(state="retry", error="bad_answer", message=f"{url}: {exc}")
        )
    try:
        _write_private(settings.mqtt_password_file, mqtt["password"] + "\n")
        _apply_broker(settings, mqtt)
    except OSError as exc:
        # The cloud has used the code up: a retry would be refused, so say what to do.
        return _record(
            settings,
            Outcome(
                state="refused",
                error="not_written",
                message=f"the broker password could not be written ({exc}); fix that, then"
                " ask IT for a new code",
            ),
        )
    code_file.unlink(missing_ok=True)
    _log.info("enrolled store %s with the cloud at %s", settings.store, url)
    return _record(
        settings,
        Outcome(state="enrolled", message=f"enrolled: broker {mqtt['host']}:{mqtt['port']}"),
    )


def _error_of(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """The one error shape's code and message, or the HTTP reason."""
    try:
        shape = json.loads(exc.read(16 * 1024))
        return str(shape["error"]), str(shape["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"http_{exc.code}", str(exc.reason)


def _checked(answer: Any, store: str) -> dict[str, Any]:
    """The answer's mqtt object, with the fields the appliance relies on checked."""
    mqtt = answer.get("mqtt") if isinstance(answer, dict) else None
    if not isinstance(mqtt, dict) or answer.get("store") != store:
        raise ValueError("the answer is not an enrolment for this store")
    password, host, port = mqtt.get("password"), mqtt.get("host"), mqtt.get("port")
    if not isinstance(password, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{16,128}", password):
        raise ValueError("the answer has no usable password")
    if not isinstance(host, str) or not host or not isinstance(port, int):
        raise ValueError("the answer has no broker host and port")
    if not isinstance(mqtt.get("tls"), bool):
        raise ValueError("the answer does not say whether the broker uses TLS")
    ca = mqtt.get("ca")
    if ca is not None and (not isinstance(ca, str) or "-----BEGIN CERTIFICATE-----" not in ca):
        raise ValueError("the answer's CA is not a PEM certificate")
    return mqtt


def _apply_broker(settings: Settings, mqtt: dict[str, Any]) -> None:
    """Keep the broker's host, port, TLS and CA as the cloud gave them, when they differ."""
    changes: dict[str, Any] = {}
    if mqtt["host"] != settings.mqtt_host:
        changes["mqtt_host"] = mqtt["host"]
    if mqtt["port"] != settings.mqtt_port:
        changes["mqtt_port"] = mqtt["port"]
    if mqtt["tls"] != settings.mqtt_tls:
        changes["mqtt_tls"] = mqtt["tls"]
    if mqtt.get("ca") and settings.mqtt_tls_ca is None:
        ca = settings.data_dir / CA_FILE
        _write_private(ca, mqtt["ca"].strip() + "\n", mode=0o644)
        changes["mqtt_tls_ca"] = ca
    if changes:
        write_settings_file(settings, **changes)
        _log.warning(
            "enrolment changed the broker settings (%s): a running server uses them after"
            " its next restart",
            ", ".join(sorted(changes)),
        )


def _write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write `path` whole or not at all, with `mode` from its first byte; run as root (IT's
    `sudo tillbox appliance enrol`), it belongs to the directory's owner (the store user),
    or the service could not read its own password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            if os.geteuid() == 0:
                directory = path.parent.stat()
                os.fchown(out.fileno(), directory.st_uid, directory.st_gid)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _record(settings: Settings, outcome: Outcome) -> Outcome:
    """Keep the last outcome for `doctor` and the admin pages."""
    document = {
        "state": outcome.state,
        "error": outcome.error,
        "message": outcome.message,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "url": enrol_url(settings) if settings.mqtt_host or settings.enrol_url else None,
    }
    try:
        _write_private(settings.data_dir / STATUS_FILE, json.dumps(document) + "\n", mode=0o640)
    except OSError as exc:
        _log.error("cannot record the enrolment outcome: %s", exc)
    if outcome.state != "enrolled":
        _log.warning("enrolment %s: %s", outcome.state, outcome.message)
    return outcome


def last_outcome(settings: Settings) -> dict[str, Any] | None:
    """The last exchange's outcome as recorded, if any."""
    try:
        document = json.loads((settings.data_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def set_code(settings: Settings, code: str) -> Path:
    """A new code from IT (after a refusal): written to the code file, 0600."""
    if not CODE_RE.fullmatch(code.strip()):
        raise ValueError("an enrolment code is four groups of five letters and digits 2-7")
    path = settings.enrol_code_file or settings.data_dir / CODE_FILE
    _write_private(path, code.strip().upper() + "\n")
    if settings.enrol_code_file is None:
        write_settings_file(settings, enrol_code_file=path)
    (settings.data_dir / STATUS_FILE).unlink(missing_ok=True)
    return path


class Enroller:
    """`serve`'s background exchange: retries with backoff (5 s doubling to 5 min) until
    enrolled or refused; `on_enrolled` then starts the uplink."""

    def __init__(
        self,
        settings: Settings,
        on_enrolled: Callable[[], None],
        *,
        first_wait_s: float = 5.0,
        max_wait_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.on_enrolled = on_enrolled
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s
        self.outcome: Outcome | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tillbox-enrol", daemon=True)

    def start(self) -> None:
        """Begin exchanging in the background; returns at once."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop retrying (an exchange in flight ends by its own timeout)."""
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        wait = self.first_wait_s
        while not self._stopping.is_set():
            try:
                self.outcome = exchange(self.settings)
            except Exception:  # a bug must not end the retries silently
                _log.exception("enrolment attempt failed")
                self.outcome = Outcome(state="retry", error="internal", message="see the log")
            if self.outcome.state == "enrolled":
                self.on_enrolled()
                return
            if self.outcome.state == "refused":
                return
            if self._stopping.wait(wait):
                return
            wait = min(wait * 2, self.max_wait_s)
