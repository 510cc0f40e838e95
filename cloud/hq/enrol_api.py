"""`POST /hq/enrol`: a new store appliance trades its one-time enrolment code for its broker
password (cloud/enrolment.py, decisions.md §53). A machine API: JSON in and out, no session
and no CSRF token (the code is the credential), throttled per client address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, request

from cloud import enrolment
from cloud.hq.core import client_address, db, hq_route, settings
from webui.errors import (
    BadRequest,
    Invalid,
    TooLarge,
    TooManyRequests,
    Unavailable,
    UnsupportedMediaType,
)
from webui.throttle import LoginThrottle

# A code and a store id fit in far less; anything bigger is not an enrolment.
MAX_BODY = 1024


def _broker() -> enrolment.Broker:
    """Where enrolled stores connect, from HQ's settings; 503 when enrolment is not set up."""
    config = settings()
    if not config.enrol_broker_host or not config.broker_password_file:
        raise Unavailable(
            "enrolment is not set up on this cloud (TILLBOX_HQ_ENROL_BROKER_HOST and"
            " TILLBOX_CLOUD_MQTT_PASSWD)",
            code="enrolment_unavailable",
            details={"retry_after_s": 300},
        )
    ca = None
    if config.enrol_broker_ca_file:
        try:
            ca = Path(config.enrol_broker_ca_file).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise Unavailable(
                f"the broker's CA file cannot be read: {exc}",
                code="enrolment_unavailable",
                details={"retry_after_s": 300},
            ) from None
    return enrolment.Broker(
        host=config.enrol_broker_host,
        port=config.enrol_broker_port,
        tls=config.enrol_broker_tls,
        ca_pem=ca,
        password_file=Path(config.broker_password_file),
        pid_file=Path(config.broker_pid_file) if config.broker_pid_file else None,
    )


def _body() -> dict[str, str]:
    """{"store": …, "code": …} or a 4xx in the one error shape."""
    if (request.content_length or 0) > MAX_BODY:
        raise TooLarge(f"the body is over {MAX_BODY} bytes")
    if not request.is_json:
        raise UnsupportedMediaType("send JSON (Content-Type: application/json)")
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object", code="malformed_json")
    unknown = sorted(set(body) - {"store", "code"})
    problems = dict.fromkeys(unknown, "unknown field")
    for key in ("store", "code"):
        if not isinstance(body.get(key), str) or not body[key]:
            problems[key] = "required, a string"
    if problems:
        raise Invalid("the enrolment request has errors", details=problems)
    return {"store": body["store"], "code": body["code"]}


@hq_route("/enrol", roles=None, methods=("POST",), machine=True)
def enrol() -> Response:
    """Trade a one-time code for the store's broker password and where to use it."""
    address = client_address()
    throttle: LoginThrottle = current_app.extensions["tillbox_hq_enrol_throttle"]
    try:
        throttle.take(f"address:{address}")
    except TooManyRequests as exc:
        raise TooManyRequests(
            "too many enrolment attempts from this address; wait and try again",
            details=exc.details,
        ) from None
    body = _body()
    done = enrolment.enrol(db(), _broker(), store=body["store"], code=body["code"], address=address)
    broker = done.broker
    answer = jsonify(
        store=done.store,
        mqtt={
            "host": broker.host,
            "port": broker.port,
            "tls": broker.tls,
            "ca": broker.ca_pem,
            "username": done.username,
            "password": done.password,
        },
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer
