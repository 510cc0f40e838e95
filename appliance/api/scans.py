"""Scans: a register's Server-Sent Events stream, and the fake scanner that feeds it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import msgspec
from flask import Response, request

from appliance.api.registry import Call
from appliance.api.schemas import ScanBody, ScanEvent, ScanMisreadEvent, ScanOut
from appliance.api.v1 import api
from appliance.errors import Forbidden, NotFound
from appliance.runtime import Runtime
from appliance.scans import Scan, Stream, StreamEnd
from appliance.staff.registers import get_register
from protocol.envelope import format_at
from protocol.permissions import Role

_log = logging.getLogger(__name__)

FAKE_SOURCE = "fake"
# Threads a stream may never take: one to answer pushes and logins, one for the rest.
_THREADS_KEPT_FREE = 2

_encoder = msgspec.json.Encoder()


@api.route(
    "GET",
    "/scans/stream",
    summary="Scans for this register, as Server-Sent Events",
    tag="scans",
    auth="device",
    response=ScanEvent,
    media_type="text/event-stream",
    headers={
        "Last-Event-ID": {
            "type": "string",
            "maxLength": 64,
            "description": "The id of the last scan this register saw: the scans after it "
            "(kept 60 s, up to 50) are sent first",
        }
    },
)
def scan_stream(call: Call) -> Response:
    """Scans from the scanners bound to the caller's register (its device token, or a staff
    session on it). Each is `id: …`, `event: scan`, `data: {"code", "source", "at", "id"}`;
    `retry: 1000` comes first and a `: keepalive` comment every 15 s. A register has one
    stream: a newer one ends the older with `event: superseded` (do not reconnect after it).
    A scanner's misread (a bad GS1 check digit, a key its layout cannot type) comes as
    `event: misread` with the same fields and `error`: show it, never add it to the sale.
    Reconnect with `Last-Event-ID` to get the scans missed meanwhile. Beyond the server's
    stream limit the answer is 503 `too_many_streams`. A browser's EventSource cannot send a
    bearer token: read the stream with fetch()."""
    rt = call.rt
    register = call.device_caller().register
    limit = max(1, rt.settings.threads - _THREADS_KEPT_FREE)
    stream, replay = rt.scans.subscribe(
        register.id, request.headers.get("Last-Event-ID"), limit=limit
    )
    # Waitress sets this after a write to the client has failed; polling it ends the stream
    # before the next keepalive would raise.
    disconnected: Callable[[], bool] = request.environ.get(
        "waitress.client_disconnected", lambda: False
    )
    _log.info("scan stream opened register=%s replay=%d", register.id, len(replay))
    response = Response(
        _events(rt, stream, replay, disconnected), mimetype="text/event-stream", status=200
    )
    response.headers["Cache-Control"] = "no-cache"
    # nginx in front of waitress must pass each event on at once.
    response.headers["X-Accel-Buffering"] = "no"
    # If the body is never iterated (the client left before it started), the bus must still
    # let go of the stream.
    response.call_on_close(lambda: rt.scans.unsubscribe(stream))
    return response


def _events(
    rt: Runtime, stream: Stream, replay: list[Scan], disconnected: Callable[[], bool]
) -> Iterator[bytes]:
    """The event stream. Ends when another stream of the register takes over, the register is
    revoked, the server stops, or the client has gone (waitress then also closes it early)."""
    bus = rt.scans
    tick = min(1.0, bus.keepalive_s)
    try:
        # Sent at once, so the client sees the stream open before the first scan.
        yield b"retry: 1000\n\n"
        for scan in replay:
            yield _frame(scan)
        last_write = time.monotonic()
        while True:
            item = stream.next(tick)
            if isinstance(item, Scan):
                yield _frame(item)
                last_write = time.monotonic()
                continue
            if isinstance(item, StreamEnd):
                if item.reason == "superseded":
                    yield b"event: superseded\ndata: {}\n\n"
                return
            if disconnected():
                return
            if time.monotonic() - last_write >= bus.keepalive_s:
                if not _still_paired(rt, stream.register):
                    return
                yield b": keepalive\n\n"
                last_write = time.monotonic()
    finally:
        bus.unsubscribe(stream)
        _log.info("scan stream closed register=%s", stream.register)


def _frame(scan: Scan) -> bytes:
    if scan.error is not None:
        # Its own event name, so a register that does not know it ignores it rather than
        # looking a misread up as a code.
        misread = ScanMisreadEvent(
            code=scan.code,
            source=scan.source,
            at=format_at(scan.at_ms),
            id=scan.id,
            error=scan.error,
        )
        data = _encoder.encode(misread)
        return b"id: " + scan.id.encode() + b"\nevent: misread\ndata: " + data + b"\n\n"
    data = _encoder.encode(
        ScanEvent(code=scan.code, source=scan.source, at=format_at(scan.at_ms), id=scan.id)
    )
    return b"id: " + scan.id.encode() + b"\nevent: scan\ndata: " + data + b"\n\n"


def _still_paired(rt: Runtime, register_id: str) -> bool:
    """False once the register has been revoked: its stream ends, and reconnecting gets 401."""
    return bool(
        rt.db.scalar(
            "SELECT revoked_at IS NULL FROM register WHERE id = ?",
            (register_id,),
        )
    )


@api.route(
    "POST",
    "/scans",
    summary="Send a scan to a register (the fake scanner)",
    tag="scans",
    auth="device",
    body=ScanBody,
    response=ScanOut,
    status=202,
    errors=(404,),
)
def publish_scan(call: Call, body: ScanBody) -> ScanOut:
    """As if the scanner bound to `register` had read `code`: the register's scan stream gets
    it (source `fake`). For managers; with the `fake_scanner` setting on, any paired register
    may send. It stands in for a scanner attached to the appliance (demos, tests)."""
    rt = call.rt
    caller = call.device_caller()
    if not rt.settings.fake_scanner:
        staff = caller.require_staff()
        if staff.role < Role.MANAGER:
            raise Forbidden(
                f"sending a scan needs a manager; {staff.name} is a {staff.role.slug}",
                code="role_required",
                details={"min_role": Role.MANAGER.slug},
            )
    try:
        target = get_register(rt, body.register)
    except NotFound:
        target = None
    if target is None or target.revoked_at is not None:
        raise NotFound(f"no paired register {body.register}", code="unknown_register")
    published = rt.scans.publish(target.id, body.code, source=FAKE_SOURCE, at_ms=rt.now_ms())
    _log.info(
        "fake scan register=%s by register=%s staff=%s id=%s",
        target.id,
        caller.register.id,
        caller.staff.id if caller.staff else None,
        published.scan.id,
    )
    scan = published.scan
    return ScanOut(
        id=scan.id,
        register=scan.register,
        code=scan.code,
        source=scan.source,
        at=format_at(scan.at_ms),
        streaming=published.streaming,
    )
