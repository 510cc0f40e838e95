"""`tillbox appliance restore --from-cloud`: a replacement appliance rebuilt from the cloud.

The store's events, directory and catalog are in the cloud. A new appliance for the store
asks for them over MQTT 5 request/response (`rpc/restore`, `rpc/catalog`; decisions.md §42):

1. `begin`: the cloud takes the store's next appliance generation (its origin becomes
   `s01-ap2`, `s01-ap3` …, a chain of its own: the dead appliance may have sealed events
   under its origin that never reached the cloud) and answers its cursor, each origin's
   last seq, the directory (staff, registers, reason codes, settings) and the dead
   appliance's last heartbeat.
2. The variant ids the store's events name, then the catalog (the catalog pull's own pages,
   giving each SKU its old id), then every event through the cursor, in store_seq order:
   each goes into the journal at its store_seq and through the same projections a push
   runs (sales, returns, shifts, Z reports, the stock ledger and on-hand). The cloud has
   applied them already, so nothing is flagged, printed or sent again.
3. The cursors: the cloud cursor at the cloud's, so nothing is sent twice and the next
   event takes the next store_seq; the catalog version; the directory's.

Everything is built in a temporary directory beside the data directory and moved in only
when it is whole: a reply that is malformed, truncated or missing leaves no half-built store.
What the dead appliance had not synced is the gap, reported per origin: registers fill it
by pushing again what they still hold (`GET /api/v1/sync/status` shows it until then).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.db import Database
from appliance.db.migrate import migrate
from appliance.journal import _insert_event, verify
from appliance.push import Apply, Batch, _appliers, _body
from appliance.runtime import Runtime, open_runtime
from appliance.settings import (
    DATABASE_FILE,
    SETTINGS_FILE,
    Settings,
    appliance_origin,
    load_settings,
    write_settings_file,
)
from appliance.sync.catalog_pull import PageRefused, apply_page
from appliance.sync.directory import STORE_SETTINGS
from appliance.sync.mqtt import make_client
from protocol.catalog import ChangesReply, ChangesRequest
from protocol.directory import (
    RestoreBegin,
    RestoreError,
    RestoreEvents,
    RestoreRequest,
    RestoreVariants,
)
from protocol.envelope import EnvelopeError, decode_envelope, verify_hash
from protocol.hlc import HLC
from protocol.topics import rpc_reply_topic, rpc_request_topic

_log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE = 500
# Events that only ever did something at the moment they were made: a receipt sent (the
# customer had it, or not, long ago).
_NOT_PROJECTED = frozenset({"receipt.requested"})
VARIANT_PAGE = 2000


class RestoreFailed(RuntimeError):
    """The restore could not be completed; nothing was left in the data directory."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginGap:
    """One origin at the restore: the cloud's last seq; what came after it is the gap."""

    origin: str
    cloud_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    """What the restore rebuilt, and the gap the dead appliance left."""

    settings: Settings
    store: str
    generation: int
    origin: str
    events: int
    applied_through: int
    staff: int
    registers: int
    variants: int
    catalog_version: int
    origins: tuple[OriginGap, ...]
    last_outbox_depth: int | None
    last_online_ms: int | None
    unknown_variants: int


class CloudRpc:
    """One short-lived MQTT 5 connection asking the cloud questions and waiting for answers."""

    def __init__(self, settings: Settings, *, timeout_s: float, attempts: int = 3) -> None:
        self.store = settings.store
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._replies: queue.Queue[tuple[str, bytes, bytes | None]] = queue.Queue()
        self._ready = threading.Event()
        self._refused: str | None = None
        self.client = make_client(
            settings, store=self.store, client_id=f"tillbox-{self.store}-restore"
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._host, self._port = settings.mqtt_host, settings.mqtt_port
        self._keepalive = settings.mqtt_keepalive_s

    def _on_connect(self, client: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._ready.set()
            return
        client.subscribe(
            [(rpc_reply_topic(self.store, name), 1) for name in ("restore", "catalog")]
        )

    def _on_subscribe(self, client: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
        if any(code.is_failure for code in codes):
            self._refused = f"the broker refused the reply subscriptions: {codes}"
        self._ready.set()

    def _on_message(self, client: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._replies.put((message.topic, bytes(message.payload), correlation))

    def __enter__(self) -> CloudRpc:
        try:
            self.client.connect(self._host, self._port, keepalive=self._keepalive)
        except OSError as exc:
            raise RestoreFailed(
                f"cannot reach the broker at {self._host}:{self._port}: {exc}"
            ) from None
        self.client.loop_start()
        if not self._ready.wait(self.timeout_s):
            self.__exit__()
            raise RestoreFailed(f"the broker at {self._host}:{self._port} did not answer")
        if self._refused is not None:
            self.__exit__()
            raise RestoreFailed(f"the broker refused the connection: {self._refused}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ask(self, name: str, request: bytes, decode: Callable[[bytes], T]) -> T:
        """Send a request on `rpc/{name}` and wait for its reply, asking again on a timeout."""
        topic, reply_topic = rpc_request_topic(self.store, name), rpc_reply_topic(self.store, name)
        for attempt in range(1, self.attempts + 1):
            correlation = uuid.uuid4().bytes
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = reply_topic
            props.CorrelationData = correlation
            self.client.publish(topic, request, qos=1, properties=props)
            deadline = time.monotonic() + self.timeout_s
            while (left := deadline - time.monotonic()) > 0:
                try:
                    heard, payload, corr = self._replies.get(timeout=left)
                except queue.Empty:
                    break
                if heard == reply_topic and corr == correlation:
                    return decode(payload)
            _log.warning("restore: no answer to %s request (attempt %s)", name, attempt)
        raise RestoreFailed(
            f"the cloud did not answer the {name} request in {self.timeout_s:.0f} s"
            f" ({self.attempts} tries): is `tillbox cloud catalog serve` running?"
        )


def _strict(kind: type[T], what: str) -> Callable[[bytes], T]:
    """A decoder that turns a reply the cloud should not have sent into RestoreFailed."""

    def decode(payload: bytes) -> T:
        try:
            error = msgspec.json.decode(payload, type=RestoreError)
        except (msgspec.DecodeError, msgspec.ValidationError):
            error = None
        if error is not None:
            raise RestoreFailed(f"the cloud refused the {what}: {error.error}")
        try:
            return msgspec.json.decode(payload, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RestoreFailed(f"the cloud's {what} reply could not be read: {exc}") from None

    return decode


def restore_from_cloud(
    data_dir: Path,
    *,
    store: str,
    overrides: dict[str, Any] | None = None,
    timeout_s: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Rebuild store `store` in `data_dir` from the cloud. The directory must hold no store,
    or only a new, empty one of the same id (what provisioning a Pi leaves: no events, no
    registers), which is moved to `backups/` once the restored store is in place."""
    say = progress or (lambda text: None)
    settings = load_settings(data_dir, overrides={"store": store, **(overrides or {})})
    named = load_settings(data_dir).store if settings.settings_path.exists() else ""
    if named not in ("", store):
        raise RestoreFailed(f"{settings.settings_path} names store {named}, not {store}")
    empty = settings.database_path.exists()
    if empty:
        _check_unused(settings.database_path, store)
    if not settings.mqtt_host:
        raise RestoreFailed("no cloud is configured: set mqtt_host (and the broker's settings)")
    data_dir.mkdir(parents=True, exist_ok=True)
    # Inside the data directory: the same file system (so the moves are renames), and a
    # place the appliance's user may write.
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        with CloudRpc(settings, timeout_s=timeout_s) as rpc:
            result = _build(rpc, settings, work, say, given=overrides or {})
        # Moved in whole: the settings first (naming a store whose database is not there yet
        # is what an interrupted init leaves too), the database last.
        os.replace(work / SETTINGS_FILE, settings.settings_path)
        if empty:
            _set_aside(settings)
        os.replace(work / DATABASE_FILE, settings.database_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dataclasses.replace(result, settings=load_settings(data_dir))


def _check_unused(path: Path, store: str) -> None:
    """Refuse a database that is not a new, unused store `store` (it may hold records)."""
    try:
        # Read as a file that does not change (serve is stopped): no lock, no -wal or -shm
        # files left behind by the look.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            owner = conn.execute("SELECT value FROM store_info WHERE key = 'store'").fetchone()
            used = conn.execute(
                "SELECT (SELECT count(*) FROM event) + (SELECT count(*) FROM register)"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RestoreFailed(f"{path} cannot be read ({exc}): move it away first") from None
    if owner is None or owner[0] != store or used is None or used[0] != 0:
        raise RestoreFailed(
            f"{path} holds a store with records (or another store): restore builds a new"
            " appliance, so give it an empty data directory (move the old one away first)"
        )


def _set_aside(settings: Settings) -> None:
    """Move the new, empty store that provisioning made into backups/, with its WAL files."""
    backups = settings.data_dir / "backups"
    backups.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{settings.database_path}{suffix}")
        if source.exists():
            os.replace(source, backups / f"tillbox-{stamp}-before-restore.sqlite3{suffix}")


def _build(
    rpc: CloudRpc,
    settings: Settings,
    work: Path,
    say: Callable[[str], None],
    *,
    given: dict[str, Any],
) -> RestoreResult:
    store = settings.store
    begin = rpc.ask("restore", b'{"op":"begin"}', _strict(RestoreBegin, "restore"))
    if begin.store != store:
        raise RestoreFailed(f"the cloud answered for store {begin.store}, not {store}")
    directory = begin.directory
    say(
        f"cloud: store {store}, {begin.applied_through} events, directory version"
        f" {directory.version}, appliance generation {begin.generation}"
    )
    # The new data directory's settings: the operator's (broker, paths, ports) and the
    # store's own policy as the cloud holds it.
    if settings.settings_path.exists():
        shutil.copyfile(settings.settings_path, work / SETTINGS_FILE)
    policy = {k: v for k, v in directory.settings.items() if k in STORE_SETTINGS}
    machine = {k: v for k, v in given.items() if k != "store" and k not in STORE_SETTINGS}
    built = settings.replace(data_dir=work)
    try:
        write_settings_file(built, store=store, **policy, **machine)
        built = load_settings(work)
    except ValueError as exc:
        raise RestoreFailed(f"the cloud's settings for {store} are not usable: {exc}") from None
    db = Database(built.database_path)
    try:
        migrate(db)
    finally:
        db.close()
    rt = open_runtime(built)
    try:
        _write_directory(rt, begin)
        uids = _variant_ids(rpc)
        version = _pull_catalog(rpc, rt, uids, say)
        unknown = _restore_events(rpc, rt, begin, say)
        _write_cursors(rt, begin)
        check = verify(rt.db)
        if not check.ok:
            # The cloud's copy of a chain is broken (it keeps such events and alerts): the
            # restore goes on, since they are the store's record, but says so.
            for problem in check.breaks:
                say(f"journal: {problem.origin} seq {problem.seq}: {problem.problem}")
        counts = rt.db.one(
            "SELECT (SELECT count(*) FROM staff) AS staff,"
            " (SELECT count(*) FROM register) AS registers,"
            " (SELECT count(*) FROM variant) AS variants"
        )
        assert counts is not None
    finally:
        rt.close()
    return RestoreResult(
        settings=built,
        store=store,
        generation=begin.generation,
        origin=appliance_origin(store, begin.generation),
        events=begin.applied_through,
        applied_through=begin.applied_through,
        staff=int(counts["staff"]),
        registers=int(counts["registers"]),
        variants=int(counts["variants"]),
        catalog_version=version,
        origins=tuple(OriginGap(origin=o, cloud_seq=s) for o, s in sorted(begin.origins.items())),
        last_outbox_depth=begin.last_outbox_depth,
        last_online_ms=begin.last_online_ms,
        unknown_variants=unknown,
    )


def _write_directory(rt: Runtime, begin: RestoreBegin) -> None:
    directory = begin.directory
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    db = rt.db
    with db.write():
        db.executemany(
            "INSERT INTO store_info (key, value) VALUES (?, ?)",
            [
                ("store", begin.store),
                ("name", rt.settings.store_name or f"Store {begin.store}"),
                ("currency", rt.settings.currency),
                ("demo", "0"),
                ("created_at", now),
                ("restored_at", now),
                ("appliance_generation", str(begin.generation)),
            ],
        )
        db.executemany(
            "INSERT INTO staff (id, name, role, pin_hash, active, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (s.id, s.name, s.role, s.pin_hash, int(s.active), s.created_at, s.updated_at)
                for s in directory.staff
            ],
        )
        db.executemany(
            "INSERT INTO register (id, name, token_hash, created_at, paired_by, revoked_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.id, r.name, r.token_hash, r.created_at, r.paired_by, r.revoked_at)
                for r in directory.registers
            ],
        )
        # The store's reason codes replace the defaults the migration wrote.
        db.execute("DELETE FROM reason_code")
        db.executemany(
            "INSERT INTO reason_code (code, kind, label, disposition, active) VALUES (?, ?, ?, ?, ?)",
            [(r.code, r.kind, r.label, r.disposition, int(r.active)) for r in directory.reasons],
        )


def _variant_ids(rpc: CloudRpc) -> dict[str, str]:
    """Upper-case SKU → the uid the dead appliance gave it (its events name it)."""
    uids: dict[str, str] = {}
    after: str | None = None
    while True:
        request = RestoreRequest(op="variants", after_uid=after, limit=VARIANT_PAGE)
        page = rpc.ask(
            "restore",
            msgspec.json.encode(request),
            _strict(RestoreVariants, "variant ids"),
        )
        for uid, sku in page.variants:
            uids[sku.upper()] = uid
        if len(page.variants) < VARIANT_PAGE:
            return uids
        after = page.variants[-1][0]


def _pull_catalog(
    rpc: CloudRpc, rt: Runtime, uids: dict[str, str], say: Callable[[str], None]
) -> int:
    """The cloud's catalog, by the catalog pull's own pages; the version applied."""
    since = 0
    while True:
        request = ChangesRequest(since=since, limit=rt.settings.sync_catalog_page)
        reply = rpc.ask("catalog", msgspec.json.encode(request), _strict(ChangesReply, "catalog"))
        if reply.next < since or (reply.next == since and reply.next != reply.head):
            raise RestoreFailed(f"the cloud's catalog went from {since} to {reply.next}")
        try:
            since = apply_page(rt, since, reply, uids=uids)
        except PageRefused as exc:
            raise RestoreFailed(f"the cloud's catalog could not be applied: {exc}") from None
        if since == reply.head:
            say(f"catalog: version {since}")
            return since


def _restore_events(
    rpc: CloudRpc, rt: Runtime, begin: RestoreBegin, say: Callable[[str], None]
) -> int:
    """Every event through the cloud's cursor into the journal and its projections; how many
    named a variant the restored catalog does not have."""
    appliers = _appliers()
    after = 0
    unknown = 0
    while after < begin.applied_through:
        request = RestoreRequest(
            op="events", after=after, through=begin.applied_through, limit=PAGE
        )
        page = rpc.ask("restore", msgspec.json.encode(request), _strict(RestoreEvents, "events"))
        if not page.events:
            raise RestoreFailed(
                f"the cloud's events end at store_seq {after}, not {begin.applied_through}"
            )
        with rt.db.write():
            batch = Batch()
            for item in page.events:
                if item.store_seq != after + 1:
                    raise RestoreFailed(
                        f"the cloud sent store_seq {item.store_seq} where {after + 1} was due"
                    )
                unknown += _restore_one(rt, appliers, batch, item.envelope, item.store_seq)
                after = item.store_seq
        say(f"events: {after} of {begin.applied_through}")
    return unknown


def _restore_one(
    rt: Runtime,
    appliers: Any,
    batch: Batch,
    raw: dict[str, Any],
    store_seq: int,
) -> int:
    try:
        env = decode_envelope(raw)
    except EnvelopeError as exc:
        raise RestoreFailed(f"store_seq {store_seq}: the cloud's event is not one: {exc}") from None
    if env.store != rt.store or not verify_hash(env):
        raise RestoreFailed(f"store_seq {store_seq}: event {env.id} is not this store's as sealed")
    hlc = HLC.parse(env.hlc)
    _insert_event(rt, env, hlc, store_seq)
    rt.db.execute(
        "INSERT INTO origin_cursor (origin, last_seq, last_hash) VALUES (?, ?, ?)"
        " ON CONFLICT (origin) DO UPDATE SET last_seq = excluded.last_seq,"
        " last_hash = excluded.last_hash",
        (env.origin, env.seq, env.hash),
    )
    if env.type in _NOT_PROJECTED:
        return 0
    applier = appliers.get(env.type)
    if applier is None:
        return 0
    step = Apply(rt=rt, env=env, body=_body(env), live=False, hlc=hlc, batch=batch)
    applier(step)
    # The dead appliance already checked these (its flags were its own, not the cloud's):
    # nothing is flagged again, but a variant missing from the catalog is counted.
    return sum(1 for code, _ in step.flags if code == "unknown_variant")


def _write_cursors(rt: Runtime, begin: RestoreBegin) -> None:
    db = rt.db
    now = rt.now_ms()
    with db.write():
        db.execute(
            "UPDATE cloud_cursor SET applied_through = ?, last_ack_ms = ? WHERE id = 1",
            (begin.applied_through, now),
        )
        db.execute(
            "INSERT INTO cloud_origin (origin, seq) SELECT origin, last_seq FROM origin_cursor"
        )
        # The snapshot is uploaded again under the next version (its content is rebuilt
        # here), and the variant ids with this database's rowids.
        db.execute(
            "UPDATE cloud_directory SET version = ?, acked_version = ?, hash = NULL,"
            " variants_through = 0 WHERE id = 1",
            (begin.directory.version, begin.directory.version),
        )
        db.execute(
            "INSERT INTO restore_report (id, restored_ms, generation, previous_origin,"
            " applied_through, last_outbox_depth, last_heartbeat_ms) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (
                now,
                begin.generation,
                appliance_origin(begin.store, begin.generation - 1),
                begin.applied_through,
                begin.last_outbox_depth,
                begin.last_online_ms,
            ),
        )
        db.executemany(
            "INSERT INTO restore_origin (origin, cloud_seq) VALUES (?, ?)",
            sorted(begin.origins.items()),
        )


def gap_report(result: RestoreResult) -> str:
    """The restore's report for the operator: what was rebuilt, and the gap to fill."""
    lines = [
        f"Restored store {result.store} as appliance {result.origin}"
        f" (generation {result.generation}).",
        f"  {result.events} events, {result.staff} staff, {result.registers} registers,"
        f" {result.variants} variants (catalog version {result.catalog_version}).",
    ]
    if result.unknown_variants:
        lines.append(
            f"  {result.unknown_variants} event lines name a variant the cloud's catalog lacks."
        )
    lines.append(
        f"The cloud held events through store_seq {result.applied_through}; whatever the old"
        " appliance had not sent is the gap:"
    )
    if result.last_outbox_depth is not None:
        lines.append(
            f"  its last heartbeat said {result.last_outbox_depth} events were waiting for the cloud."
        )
    for gap in result.origins:
        lines.append(f"  {gap.origin}: the cloud has seq 1–{gap.cloud_seq}")
    lines.append(
        "Registers push again what they still hold when they reconnect; "
        "GET /api/v1/sync/status shows the gap until then."
    )
    return "\n".join(lines)
