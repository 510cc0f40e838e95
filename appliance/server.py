"""Serving the app with waitress: in the foreground for `serve`, in a thread for tests."""

from __future__ import annotations

import errno
import gc
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from appliance.devices.print_queue import PrintWorker
from appliance.devices.scanners import ScannerService
from appliance.enrolment import Enroller
from appliance.enrolment import pending as enrolment_pending
from appliance.receipts.delivery import MessageWorker
from appliance.runtime import Runtime
from appliance.scans import ScanBus
from appliance.sdnotify import Watchdog, health_probe, notify, watchdog_interval_s
from appliance.settings import Settings
from appliance.sync.uplink import Uplink

_log = logging.getLogger(__name__)


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "threads": settings.threads,
        "ident": "tillbox",
        # nginx terminates TLS on the Pi and proxies from localhost; trust only its headers,
        # so lockouts by address see the tablet, not nginx.
        "trusted_proxy": "127.0.0.1",
        "trusted_proxy_count": 1,
        "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        "clear_untrusted_proxy_headers": True,
        # Flask enforces the real body limit with a JSON error; waitress (which buffers the
        # whole body before calling the app) only stops abuse far beyond it.
        "max_request_body_size": settings.max_body_bytes * 16,
        "channel_timeout": 120,
    }


@dataclass
class RunningServer:
    """A waitress server on a background thread (tests and benchmarks)."""

    server: Any
    thread: threading.Thread
    scans: ScanBus
    stopped: bool = False

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server.effective_port)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Finish running requests, close every socket, and wait for the thread.

        The closing runs on the server's own loop thread (through its trigger): closing from
        here would race with worker threads that wake the loop as they finish a request.
        """
        if self.stopped:  # a test that stopped it (an appliance going away) and its fixture
            return
        self.stopped = True
        server = self.server
        # A scan stream never finishes by itself: end them first, or the shutdown below
        # would wait for their threads.
        self.scans.close()

        def shut_down() -> None:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)

        try:
            server.trigger.pull_trigger(shut_down)
        except OSError as exc:
            # A worker finishing a request (an ending scan stream) woke the loop between
            # queuing shut_down and writing its wake-up byte, and shut_down has already
            # closed the trigger: the server is stopping, as asked.
            if exc.errno != errno.EBADF:
                raise
        self.thread.join(timeout=10)


def start_in_thread(
    app: Flask, settings: Settings, *, host: str = "127.0.0.1", port: int = 0
) -> RunningServer:
    """Start serving on a background thread and return once the socket is listening."""
    server = create_server(app, host=host, port=port, **_options(settings))
    scans = _scan_bus(app)
    scans.open()
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    return RunningServer(server=server, thread=thread, scans=scans)


def _scan_bus(app: Flask) -> ScanBus:
    """The scan bus of the store this app serves."""
    runtime: Runtime = app.extensions["tillbox"]
    return runtime.scans


def serve(
    app: Flask,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted. `on_ready` gets the URL once bound."""
    server = create_server(
        app, host=host or settings.host, port=port or settings.port, **_options(settings)
    )
    bound = getattr(server, "effective_port", port or settings.port)
    if on_ready is not None:
        on_ready(f"http://{host or settings.host}:{bound}")
    _log.info(
        "serving store %s on http://%s:%s",
        settings.store,
        host or settings.host,
        bound,
    )
    scans = _scan_bus(app)
    # The cloud uplink lives in this process, beside the API that reports on it
    # (decisions.md §34); no mqtt_host means no cloud, and no uplink.
    # A new appliance trades its enrolment code for the broker password first (in the
    # background, retried); the uplink starts once it has one (decisions.md §53).
    enroller: Enroller | None = None
    uplinks: list[Uplink] = []
    if settings.mqtt_host and enrolment_pending(settings):

        def enrolled() -> None:
            late = Uplink(app.extensions["tillbox"])
            uplinks.append(late)
            late.start()

        enroller = Enroller(settings, enrolled)
        uplink = None
    else:
        uplink = Uplink(app.extensions["tillbox"]) if settings.mqtt_host else None
    # Receipts and drawer kicks queued by committed events (appliance/devices/print_queue.py).
    printing = PrintWorker(app.extensions["tillbox"])
    # Emailed and texted receipts, when this appliance has a mail server or SMS gateway.
    messages = MessageWorker(app.extensions["tillbox"])
    # Barcode scanners attached to the Pi; off (with a warning) without evdev and pyudev.
    scanners = ScannerService(app.extensions["tillbox"])
    # Under systemd's WatchdogSec: pinged while the server answers its own health check.
    watchdog = _watchdog(host or settings.host, int(bound))

    def stop(signum: int, frame: object) -> None:
        # Waitress waits up to 5 s for busy threads before it stops, and a scan stream never
        # ends by itself: end them before the serving loop hears of the signal.
        scans.close()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(0)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # systemd stops the service with SIGTERM: let it finish like Ctrl-C (waitress ends
        # its loop and lets running requests finish) instead of dying mid-request.
        for handled in (signal.SIGTERM, signal.SIGINT):
            previous[handled] = signal.signal(handled, stop)
    # What start-up built (modules, the app, its routes) lives as long as the process. Out
    # of the collector's sight, a full collection walks only what requests made since: it
    # was a 30-40 ms pause of every thread, a few times a minute under load.
    gc.collect()
    gc.freeze()
    if uplink is not None:
        uplink.start()
    if enroller is not None:
        enroller.start()
    printing.start()
    messages.start()
    scanners.start()
    # Type=notify: systemd counts the service started (and units ordered after it start)
    # only now, with the port bound and the workers running.
    notify("READY=1")
    if watchdog is not None:
        watchdog.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _log.info("stopping")
        notify("STOPPING=1")
        if watchdog is not None:
            watchdog.stop()
        scans.close()
        if enroller is not None:
            enroller.stop()
        for started in [uplink, *uplinks]:
            if started is not None:
                started.stop()
        printing.stop()
        messages.stop()
        scanners.stop()
        server.close()
        for handled, handler in previous.items():
            if handler is not None:
                signal.signal(handled, handler)


def _watchdog(host: str, port: int) -> Watchdog | None:
    """The systemd watchdog for a server on host:port, or None when systemd asks for none."""
    interval = watchdog_interval_s()
    if interval is None:
        return None
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is probed on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    probe = health_probe(f"http://{host}:{port}/api/v1/health", timeout_s=max(1.0, interval / 2))
    _log.info("systemd watchdog: pinging every %.1f s while the server answers", interval)
    return Watchdog(probe, interval)
