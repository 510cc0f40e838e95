"""Request and response shapes of the HTTP API (msgspec Structs; OpenAPI comes from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from appliance.catalog.records import CategoryDoc, VariantDoc
from appliance.oneline import ONE_LINE_PATTERN
from appliance.staff.overrides import LogEntry

Pin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,6}$", description="4 to 6 digits")]
PinOrPairingCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([0-9]{4,6}|[0-9]{8})$",
        description="a manager's PIN (4 to 6 digits) or a pairing code from the admin pages (8)",
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=ONE_LINE_PATTERN)]
RegisterName = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=ONE_LINE_PATTERN)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE_PATTERN)]
StaffId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
RoleName = Literal["cashier", "supervisor", "manager"]
ActionName = Literal[
    "price_override",
    "discount_over_threshold",
    "line_void",
    "post_void",
    "return_without_receipt",
    "no_sale",
    "pay_in",
    "pay_out",
    "shift_close",
    "stock_adjust",
    "stock_count_approve",
    "staff_unlock",
    "register_manage",
    "staff_manage",
]
Amount = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Minor units, e.g. cents")]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields, so a typo is an error and not a silent no-op."""


class Health(msgspec.Struct, kw_only=True):
    """The appliance is up."""

    status: Literal["ok"]
    store: str
    version: str
    catalog_version: int


# ---- registers ---------------------------------------------------------------------------


class PairBody(Strict):
    """Pair this tablet as a register; a manager approves with their PIN, or with a one-time
    pairing code made on the admin pages (Registers)."""

    name: RegisterName
    manager_pin: PinOrPairingCode


class RegisterOut(msgspec.Struct, kw_only=True):
    """A register."""

    id: str
    name: str
    created_at: str
    paired_by: str | None
    revoked: bool
    revoked_at: str | None
    locked_until_ms: int | None


class Paired(msgspec.Struct, kw_only=True):
    """A new register and its device token, shown once."""

    register: RegisterOut
    token: str
    store: str


class RegisterList(msgspec.Struct, kw_only=True):
    """Every register, revoked ones included."""

    registers: list[RegisterOut]


# ---- staff -------------------------------------------------------------------------------


class StaffOut(msgspec.Struct, kw_only=True):
    """A staff member (never the PIN)."""

    id: str
    name: str
    role: RoleName
    active: bool
    locked: bool
    locked_until_ms: int | None


class StaffList(msgspec.Struct, kw_only=True):
    """Staff for the login screen's tiles."""

    staff: list[StaffOut]


class NewStaffBody(Strict):
    """Add a staff member."""

    name: Name
    role: RoleName
    pin: Pin


class StaffChangeBody(Strict):
    """Change a staff member; omitted fields stay as they are."""

    name: Name | None = None
    role: RoleName | None = None
    pin: Pin | None = None
    active: bool | None = None


class UnlockBody(Strict):
    """Lift a PIN lockout. A cashier needs a supervisor's approval token."""

    approval: Annotated[str, msgspec.Meta(max_length=200)] | None = None


# ---- sessions ----------------------------------------------------------------------------


class LoginBody(Strict):
    """Log a staff member in on this register."""

    staff: StaffId
    pin: Pin


class SessionOut(msgspec.Struct, kw_only=True):
    """A new staff session; the token is shown once."""

    token: str
    staff: StaffOut
    register: RegisterOut
    idle_timeout_s: int
    expires_at: str


class WhoAmI(msgspec.Struct, kw_only=True):
    """The current session."""

    staff: StaffOut
    register: RegisterOut
    store: str


# ---- overrides ---------------------------------------------------------------------------


class OverrideBody(Strict):
    """Ask for an on-the-spot approval. The approver types their PIN on this register."""

    action: ActionName
    reason: Reason
    approver_pin: Pin
    approver: StaffId | None = None
    amount: Amount | None = None


class ApprovalOut(msgspec.Struct, kw_only=True):
    """A single-use approval token, bound to the action, amount, requester and register."""

    id: str
    approval: str
    action: ActionName
    amount: int | None
    currency: str | None
    approver: StaffOut
    expires_at: str


class OverrideQuery(Strict):
    """Filters for the override log."""

    staff: StaffId | None = None
    action: ActionName | None = None
    since: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    until: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100


class OverrideLog(msgspec.Struct, kw_only=True):
    """The override log, newest first."""

    overrides: list[LogEntry]


class PermissionOut(msgspec.Struct, kw_only=True):
    """One row of the permission table."""

    action: ActionName
    label: str
    min_role: RoleName
    approvable: bool
    amount_bound: bool


class PermissionTable(msgspec.Struct, kw_only=True):
    """Who may do what, and what a higher role can approve on the spot."""

    permissions: list[PermissionOut]


# ---- catalog -----------------------------------------------------------------------------


class ChangesQuery(Strict):
    """Where to continue the change feed."""

    since: Annotated[int, msgspec.Meta(ge=0, le=2**53)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000


class VariantChange(msgspec.Struct, kw_only=True, tag_field="kind", tag="variant"):
    """The latest document of one variant."""

    version: int
    id: str
    data: VariantDoc


class CategoryChange(msgspec.Struct, kw_only=True, tag_field="kind", tag="category"):
    """The latest document of one category."""

    version: int
    id: str
    data: CategoryDoc


class ChangesOut(msgspec.Struct, kw_only=True):
    """A page of the change feed. Continue from `next` until it equals `head`."""

    changes: list[VariantChange | CategoryChange]
    next: int
    head: int


class SearchQuery(Strict):
    """Search-as-you-type."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class SearchOut(msgspec.Struct, kw_only=True):
    """Matching active variants, best first."""

    variants: list[VariantDoc]


# ---- events and selling ------------------------------------------------------------------


class PushBody(Strict):
    """A batch of envelopes from this register, in any order (applied by seq).

    Each event is an envelope as in protocol/schemas/envelope.json, with a body as in
    protocol/schemas/bodies.json. `live` events that break a rule are refused (422);
    `replay` events (sent from the offline outbox) are kept and flagged instead.
    """

    events: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=5000)]
    mode: Literal["live", "replay"] = "live"


class FlagOut(msgspec.Struct, kw_only=True):
    """Why an event was flagged for a manager."""

    code: str
    message: str


class FlaggedEvent(msgspec.Struct, kw_only=True):
    """An event that was kept but needs review."""

    id: str
    seq: int
    flags: list[FlagOut]


class PushOut(msgspec.Struct, kw_only=True):
    """What the appliance now holds: the highest seq per origin (delete up to it)."""

    acked: dict[str, int]
    flagged: list[FlaggedEvent]
    applied: int
    duplicates: int


class ReceiptLineOut(msgspec.Struct, kw_only=True):
    """A sold line and how much of it can still come back."""

    line: int
    variant: str
    sku: str | None
    title: str | None
    qty: int
    qty_scale: int
    unit_price: int
    gross: int
    discount: int
    tax: int
    total: int
    tax_rate_ppm: int
    voided: bool
    returned: int
    returnable: int
    refunded: int


class ReceiptTenderOut(msgspec.Struct, kw_only=True):
    """How the sale was paid, and what was refunded to each tender."""

    kind: str
    paid: int
    refunded: int
    reference: str | None


class ReceiptOut(msgspec.Struct, kw_only=True):
    """A sale, for a return or a reprint."""

    id: str
    receipt: str
    store: str
    register: str
    shift: str
    actor: str | None
    at: str
    currency: str
    catalog_version: int
    subtotal: int
    discount: int
    tax: int
    total: int
    voided: bool
    void: dict[str, Any] | None
    lines: list[ReceiptLineOut]
    tenders: list[ReceiptTenderOut]


class ShiftOut(msgspec.Struct, kw_only=True):
    """A shift."""

    id: str
    register: str
    opened_at: str
    opened_by: str | None
    float_total: int
    closed: bool
    closed_at: str | None
    closed_by: str | None
    z_number: int | None


class ShiftList(msgspec.Struct, kw_only=True):
    """Shifts, newest first."""

    shifts: list[ShiftOut]


class ShiftQuery(Strict):
    """Filters for the shift list."""

    date: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    register: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9]{1,15}-r[0-9]{2,4}$")] | None = (
        None
    )
    open: bool | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100


class ReportQuery(Strict):
    """Which report."""

    kind: Literal["x", "z"] = "x"


class DayQuery(Strict):
    """Which day (the store's calendar day in its `timezone`)."""

    date: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


class StockQuery(Strict):
    """A variant by id or SKU."""

    variant: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class LastCount(msgspec.Struct, kw_only=True):
    """The count that anchors on-hand."""

    at: str
    counted: int
    expected: int
    shrink: int


class StockOut(msgspec.Struct, kw_only=True):
    """On-hand here, and in other stores as last known (once synced)."""

    variant: str
    sku: str
    title: str | None
    store: str
    on_hand: int
    negative: bool
    reorder_point: int | None
    below_reorder_point: bool
    last_count: LastCount | None
    as_of: str
    other_stores: list[dict[str, Any]]


class ReasonOut(msgspec.Struct, kw_only=True):
    """A reason code."""

    code: str
    kind: Literal["return", "adjust", "cash"]
    label: str
    disposition: Literal["restock", "damaged", "rtv"] | None


class ReasonList(msgspec.Struct, kw_only=True):
    """Reason codes for returns, stock adjustments and cash moves."""

    reasons: list[ReasonOut]


class TaxRateOut(msgspec.Struct, kw_only=True):
    """One tax class."""

    tax_class: str
    rate_ppm: int


class StoreOut(msgspec.Struct, kw_only=True):
    """What a register needs to sell offline exactly as the appliance will check it."""

    store: str
    name: str
    currency: str
    locale: str
    tax_mode: Literal["inclusive", "exclusive"]
    tax_rounding: Literal["line", "total"]
    tax_rates: list[TaxRateOut]
    discount_threshold_bp: int
    no_receipt_refunds: list[str]
    denominations: list[int]
    override_ttl_seconds: int
    catalog_version: int


class FlagEntry(msgspec.Struct, kw_only=True):
    """An event kept for review, and why."""

    id: int
    event: str
    type: str
    origin: str
    seq: int
    at: str
    actor: str | None
    code: str
    message: str
    resolved_by: str | None
    resolved_at: str | None
    note: str | None


class FlagList(msgspec.Struct, kw_only=True):
    """Review flags, oldest open first."""

    flags: list[FlagEntry]


class FlagQuery(Strict):
    """Which flags."""

    open: bool = True
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200


class ResolveBody(Strict):
    """A manager's note on a reviewed flag."""

    note: Reason


# ---- scans -------------------------------------------------------------------------------

RegisterId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9]{1,15}-r[0-9]{2,4}$")]
# What a scanner types: printable ASCII, no surrounding spaces (a scanner's Enter ends it).
ScanCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[!-~]([ -~]{0,126}[!-~])?$",
        description="1 to 128 printable ASCII characters, no leading or trailing space",
    ),
]


class ScanBody(Strict):
    """A scan for a register, as if the scanner bound to it had read it."""

    register: RegisterId
    code: ScanCode


class ScanOut(msgspec.Struct, kw_only=True):
    """A scan handed to its register. `streaming` says whether the register had a scan
    stream open; if not, the scan waits 60 s for a stream that resumes with Last-Event-ID."""

    id: str
    register: str
    code: str
    source: str
    at: str
    streaming: bool


class ScanEvent(msgspec.Struct, kw_only=True):
    """The data of one `scan` event on GET /scans/stream; `id` is also the event's SSE id."""

    code: str
    source: str
    at: str
    id: str


class ScanMisreadEvent(msgspec.Struct, kw_only=True):
    """The data of a `misread` event on GET /scans/stream: a scanner bound to the register read
    something that cannot be a good code. Show "misread, scan again"; never look `code` up.
    `error` is bad_check_digit (a GS1 number whose check digit does not add up), unknown_key
    (a key the scanner's layout cannot type: check its layout), too_long, missing_prefix or
    missing_suffix (the scanner's setup does not match what the appliance expects)."""

    code: str
    source: str
    at: str
    id: str
    error: str


# ---- sync --------------------------------------------------------------------------------


class OutboxOut(msgspec.Struct, kw_only=True):
    """Events the appliance holds that the cloud has not applied yet."""

    depth: int
    head: int
    oldest_received_at: str | None
    oldest_age_s: int | None


class OriginSyncOut(msgspec.Struct, kw_only=True):
    """One origin's chain: the highest seq the appliance holds, and the highest the cloud
    has applied (a register may forget its events up to `cloud`)."""

    held: int
    cloud: int


class CatalogSyncOut(msgspec.Struct, kw_only=True):
    """The cloud's catalog on this appliance: the version applied, the cloud's head as last
    heard (null before the first), and why the last page of changes was refused, if it was
    and still is."""

    version: int
    head: int | None
    applied_at: str | None
    problem: str | None
    problem_at: str | None


class ChainSyncOut(msgspec.Struct, kw_only=True):
    """How the last question to the cloud (other stores' stock, a receipt, a balance) went:
    when it last answered, and the last failure (`cloud_offline`, `cloud_timeout`,
    `bad_cloud_reply`, …); gift card and store credit payments made offline that the cloud
    does not have yet (how many, how much), and holds not yet used."""

    answered_at: str | None
    failure: str | None
    failure_at: str | None
    offline_redemptions: int
    offline_redeemed: int
    open_holds: int


class RestoredOriginOut(msgspec.Struct, kw_only=True):
    """An origin at the restore: the cloud had seq 1..`cloud_seq`; `recovered` of its events
    from before the restore have been pushed again since."""

    cloud_seq: int
    recovered: int


class RestoreSyncOut(msgspec.Struct, kw_only=True):
    """A restored appliance's report of what the dead one had not synced."""

    restored_at: str
    generation: int
    previous_origin: str
    applied_through: int
    last_outbox_depth: int | None
    last_heartbeat_at: str | None
    recovered: int
    gap_open: bool
    origins: dict[str, RestoredOriginOut]


class SyncStatus(msgspec.Struct, kw_only=True):
    """Where the appliance stands with the cloud. `applied_through` and `head` are store_seq."""

    store: str
    connected: bool
    cloud: str | None
    last_ack_at: str | None
    applied_through: int
    outbox: OutboxOut
    origins: dict[str, OriginSyncOut]
    catalog: CatalogSyncOut
    chain: ChainSyncOut
    # Only on an appliance restored from the cloud (decisions.md §42): the gap its
    # predecessor left and how much of it registers have brought back.
    restore: RestoreSyncOut | None = None


class PrinterStateOut(msgspec.Struct, kw_only=True):
    """A register's printer as last heard (null: never checked, or it cannot tell)."""

    name: str
    connection: str
    online: bool | None
    paper_out: bool | None
    paper_low: bool | None
    cover_open: bool | None
    drawer_open: bool | None
    checked_at: str | None
    queued: int
    failed_recently: int
    last_error: str | None
