"""Reorder suggestions: how many of each variant each store should order, and which stock to
move between stores first (issue 7, "Low stock and reorder"; docs/hq.md explains it to buyers).

The engine (`plan`, `assess`, `is_low`) is pure: it takes `Item`s (one store × variant with its
weekly sales, stock and the vendor's terms) and returns integer quantities. `load_items` and
`suggest` are the thin layer that reads them from PostgreSQL for a scope of stores, a category
or a vendor; `bench/reorder_sim.py` drives the same engine in a simulation.

The rule, per store × variant (a periodic review, order-up-to policy):

- velocity: the last `trailing_weeks` full ISO weeks of sales, weighted linearly (the latest
  week counts `n`, the one before `n - 1`, … the oldest 1), as units per day;
- seasonality: the SKU's sales (all stores in the plan) in the same ISO weeks last year, the
  weeks ahead against the trailing weeks weighted the same way; shrunk towards 1 when last
  year sold little, and clamped;
- safety stock = k × σ_week × √(max(P, 7) / 7), σ_week the trailing weeks' standard
  deviation (at least √mean, the Poisson floor), P = lead time + review period in days, and
  k balancing a run-out's cost against the item's carrying cost (`safety_factor`), or z of
  the service level for an item without a cost; a week running far above its forecast is
  taken at its own rate;
- order-up-to S = forecast per day × P + safety stock; inventory position = max(on-hand, 0) +
  in transit; order S − position when positive, at least the minimum order, rounded up to
  whole packs.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any, TextIO

import psycopg

from protocol.money import Money
from webui.spreadsheet import csv_cell

Conn = psycopg.Connection[Any]
Week = tuple[int, int]  # (ISO year, ISO week)

# Used when a vendor has no terms set (catalog_vendor.lead_time_days / review_days NULL).
DEFAULT_LEAD_TIME_DAYS = 7
DEFAULT_REVIEW_DAYS = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The chain's reorder settings: the service level and how transfers are costed."""

    # Chance of not running out within a review cycle: z of the safety stock for an item
    # without a cost, or for every item when stockout_cost is None.
    service_level: float = 0.995
    trailing_weeks: int = 8
    # Units sold last year in the trailing weeks (chain-wide) at which last year's seasonal
    # ratio counts half; fewer pull the factor towards 1, more trust it.
    season_shrink_units: int = 30
    # What one run-out of one item in one store costs the chain (minor units): when set,
    # each item's safety stock balances it against the item's carrying cost instead of
    # using one service level for all (see safety_factor), within these bounds.
    stockout_cost: int | None = 500
    service_min: float = 0.95
    service_max: float = 0.9999
    season_min: float = 0.33
    season_max: float = 3.0
    # Safety stock covers at least this many days of variability: sales are read by the
    # week, so a shorter protection period would miss which weekdays are busy.
    min_safety_days: int = 7
    # A week selling this many standard deviations above its forecast, two days in or more,
    # is a surge (a promotion, a hot item) and its own rate is used until the week is over.
    surge_sigmas: float = 2.0
    # Carrying cost of stock per year, as a share of its cost (capital, space, shrink).
    holding_rate: float = 0.25
    # Moving stock between two stores: per unit handled, and per shipment (store pair).
    transfer_unit_cost: int = 30
    transfer_shipment_cost: int = 1500
    transfer_days: int = 2

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1:
            raise ValueError("service_level must be at least 0.5 and below 1")
        if self.trailing_weeks < 1:
            raise ValueError("trailing_weeks must be at least 1")

    @property
    def z(self) -> float:
        """Standard normal quantile of the service level (0.95 → 1.645)."""
        return NormalDist().inv_cdf(self.service_level)


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One store × variant as the engine needs it; quantities in units, money in minor units."""

    store: str
    sku: str
    on_hand: int
    # Units already coming: open transfers to this store.
    in_transit: int = 0
    # Units on open purchase orders (draft or sent, not yet received) for this store.
    on_order: int = 0
    # Sales (sold minus post-voided) by ISO week; a week missing from it sold nothing.
    weekly: Mapping[Week, int] = field(default_factory=dict)
    # The first day the store had the variant; weeks before it are not history. None: never
    # stocked or sold (a new SKU).
    since: date | None = None
    lead_time_days: int = DEFAULT_LEAD_TIME_DAYS
    review_days: int = DEFAULT_REVIEW_DAYS
    pack_size: int = 1
    min_order_qty: int = 0
    # A reorder point set by hand in the catalog; None: the engine's own.
    reorder_point: int | None = None
    # Used with a hand-set reorder point when the variant has no sales history.
    reorder_qty: int | None = None
    unit_cost: int | None = None
    unit_price: int | None = None
    vendor: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    """What the engine makes of one store × variant."""

    store: str
    sku: str
    vendor: str | None
    category: str | None
    on_hand: int
    in_transit: int
    on_order: int
    # Planned transfers: + coming from another store, − going to one.
    transfer: int
    weeks_of_history: int
    per_day: float  # forecast units per day, seasonality applied
    season: float
    safety_stock: int
    # The hand-set point, else the engine's: a lead time's sales plus its safety (None when
    # nothing sells and none is set).
    reorder_point: int | None
    order_up_to: int
    days_of_cover: float | None  # None: nothing sells
    order_qty: int
    packs: int
    order_value: int | None
    low: bool
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """Move `qty` of a SKU from one store to another, with what it costs and saves."""

    sku: str
    from_store: str
    to_store: str
    qty: int
    cost: int
    saves: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Suggestions for every item asked about, and the transfers to make before buying."""

    suggestions: tuple[Suggestion, ...]
    transfers: tuple[Transfer, ...]

    def orders_by_vendor(self) -> dict[str | None, list[Suggestion]]:
        """Lines to order, grouped by vendor (a draft purchase order each)."""
        out: dict[str | None, list[Suggestion]] = defaultdict(list)
        for s in self.suggestions:
            if s.order_qty > 0:
                out[s.vendor].append(s)
        return dict(out)


def iso_week(day: date) -> Week:
    """The ISO (year, week) of a day."""
    iso = day.isocalendar()
    return (iso.year, iso.week)


def week_start(day: date) -> date:
    """The Monday of a day's ISO week."""
    return day - timedelta(days=day.weekday())


def same_week_last_year(week: Week) -> Week:
    """The same ISO week a year earlier; week 53 maps to 52 when last year had none."""
    year, number = week
    if number == 53 and date(year - 1, 12, 28).isocalendar().week < 53:
        number = 52
    return (year - 1, number)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """The weeks a plan looks at, worked out once per plan: trailing (latest first)."""

    trailing: tuple[Week, ...]
    trailing_starts: tuple[date, ...]
    weights: tuple[int, ...]
    this_week: Week
    # Whole days of the current week before as_of (0 on a Monday).
    elapsed: int


def _calendar(as_of: date, weeks: int) -> _Calendar:
    this_monday = week_start(as_of)
    starts = tuple(this_monday - timedelta(weeks=i) for i in range(1, weeks + 1))
    return _Calendar(
        trailing=tuple(iso_week(s) for s in starts),
        trailing_starts=starts,
        weights=tuple(range(weeks, 0, -1)),
        this_week=iso_week(this_monday),
        elapsed=(as_of - this_monday).days,
    )


@dataclass(frozen=True, slots=True)
class _Demand:
    weeks: int
    per_week: float  # weighted mean of the known trailing weeks
    sigma_week: float


def _demand(item: Item, cal: _Calendar) -> _Demand:
    """Weighted weekly velocity and its spread over the trailing weeks the item existed."""
    total = weight = 0.0
    seen: list[int] = []
    for week, start, w in zip(cal.trailing, cal.trailing_starts, cal.weights, strict=True):
        # A week counts once the item was there on its Monday (a part week would read low).
        if item.since is None or item.since > start:
            continue
        q = max(0, item.weekly.get(week, 0))
        seen.append(q)
        total += w * q
        weight += w
    if not seen:
        return _Demand(weeks=0, per_week=0.0, sigma_week=0.0)
    mean_w = total / weight
    n = len(seen)
    if n >= 2:
        plain = sum(seen) / n
        sd = math.sqrt(sum((q - plain) ** 2 for q in seen) / (n - 1))
    else:
        sd = 0.0
    return _Demand(weeks=n, per_week=mean_w, sigma_week=max(sd, math.sqrt(mean_w)))


def season_factor(items: Sequence[Item], as_of: date, horizon_days: int, policy: Policy) -> float:
    """Last year's same ISO weeks, pooled over `items` (one SKU's stores): the weeks ahead
    against the trailing weeks (weighted as velocity is), shrunk towards 1 and clamped. 1.0
    when no item has a full year of history."""
    cal = _calendar(as_of, policy.trailing_weeks)
    ahead_weeks = max(1, math.ceil(horizon_days / 7))
    this_week = week_start(as_of)
    ahead = [iso_week(this_week + timedelta(weeks=i)) for i in range(ahead_weeks)]
    oldest_needed = week_start(as_of - timedelta(days=364)) - timedelta(weeks=policy.trailing_weeks)
    past_trailing = [same_week_last_year(w) for w in cal.trailing]
    past_ahead = [same_week_last_year(w) for w in ahead]
    trailing_total = trailing_units = ahead_total = 0.0
    pooled = False
    for item in items:
        if item.since is None or item.since > oldest_needed:
            continue
        pooled = True
        for week, w in zip(past_trailing, cal.weights, strict=True):
            q = max(0, item.weekly.get(week, 0))
            trailing_total += w * q
            trailing_units += q
        ahead_total += sum(max(0, item.weekly.get(week, 0)) for week in past_ahead)
    if not pooled or trailing_total <= 0:
        return 1.0
    raw = (ahead_total / len(past_ahead)) / (trailing_total / sum(cal.weights))
    trust = trailing_units / (trailing_units + policy.season_shrink_units)
    factor = 1.0 + (raw - 1.0) * trust
    return min(policy.season_max, max(policy.season_min, factor))


def round_order(need: int, pack_size: int, min_order_qty: int) -> int:
    """Units to order for a need: nothing for none, else at least the minimum order, in
    whole packs (always up: a short pack is the shortage the order was meant to prevent)."""
    if need <= 0:
        return 0
    qty = max(need, min_order_qty)
    return -(-qty // pack_size) * pack_size


def is_low(on_hand: int, reorder_point: int | None, per_day: float, lead_time_days: int) -> bool:
    """The low-stock alert: on-hand at or below the reorder point, or fewer days of cover
    than the vendor's lead time (an order placed now would arrive after the shelf empties).
    Cheap enough to call per ingested movement."""
    if reorder_point is not None and on_hand <= reorder_point:
        return True
    return per_day > 0 and on_hand < per_day * lead_time_days


@dataclass(frozen=True, slots=True)
class _Assessed:
    item: Item
    demand: _Demand
    season: float
    per_day: float
    safety: int
    reorder_point: int | None
    order_up_to: int


def _surge(item: Item, cal: _Calendar, per_day: float, sigma_week: float, policy: Policy) -> float:
    """The current week's own daily rate when it runs well above the forecast, else 0."""
    if cal.elapsed < 2 or policy.surge_sigmas <= 0:
        return 0.0
    sold = item.weekly.get(cal.this_week, 0)
    expected = per_day * cal.elapsed
    if sold > expected + policy.surge_sigmas * sigma_week * math.sqrt(cal.elapsed / 7):
        return sold / cal.elapsed
    return 0.0


def safety_factor(policy: Policy, unit_cost: int | None, sigma_p: float, review_days: int) -> float:
    """How many standard deviations of safety stock: z of the service level, or, with a
    stockout cost set and the unit cost known, the k that minimises carrying cost plus the
    cost of running out once per review cycle (Brown's rule, a cost per stockout occasion):
    B · φ(k) = h · R · σ_P, so k = √(2 · ln(B / (√(2π) · h · R · σ_P))), h the carrying cost
    of a unit per day. Kept within the policy's lowest and highest service levels."""
    if policy.stockout_cost is None or not unit_cost or sigma_p <= 0:
        return policy.z
    per_day = unit_cost * policy.holding_rate / 365
    x = policy.stockout_cost / (math.sqrt(2 * math.pi) * per_day * review_days * sigma_p)
    k = math.sqrt(2 * math.log(x)) if x > 1 else 0.0
    dist = NormalDist()
    return min(dist.inv_cdf(policy.service_max), max(dist.inv_cdf(policy.service_min), k))


def _assess(item: Item, cal: _Calendar, season: float, policy: Policy) -> _Assessed:
    demand = _demand(item, cal)
    per_day = demand.per_week / 7 * season
    sigma = demand.sigma_week * season
    if demand.weeks:
        per_day = max(per_day, _surge(item, cal, per_day, sigma, policy))
    lead = item.lead_time_days
    protect = lead + item.review_days
    safety_days = max(protect, policy.min_safety_days)
    sigma_p = sigma * math.sqrt(safety_days / 7)
    z = safety_factor(policy, item.unit_cost, sigma_p, item.review_days)
    safety = math.ceil(z * sigma_p - 1e-9) if demand.weeks else 0
    order_up_to = math.ceil(per_day * protect - 1e-9) + safety
    own_rop = math.ceil(per_day * lead + z * sigma * math.sqrt(lead / 7) - 1e-9)
    # Without sales there is no point of our own: only a hand-set one raises the alert.
    rop = item.reorder_point if item.reorder_point is not None else own_rop if per_day > 0 else None
    if demand.weeks == 0 and item.reorder_point is not None:
        # No history: the buyer's hand-set point and quantity are all there is.
        order_up_to = item.reorder_point + (item.reorder_qty or 0)
    return _Assessed(item, demand, season, per_day, safety, rop, order_up_to)


def _position(item: Item, transfer: int) -> int:
    # A negative on-hand is a record behind the shelf (sold before received): the shelf
    # holds nothing, and counting the minus would order stock to fill a hole in the books.
    return max(item.on_hand, 0) + item.in_transit + item.on_order + transfer


def _suggestion(a: _Assessed, transfer: int) -> Suggestion:
    item = a.item
    position = _position(item, transfer)
    if a.demand.weeks == 0 and item.reorder_point is None:
        qty = 0
        note = "no sales history yet: set a reorder point and quantity to order it"
    elif a.demand.weeks == 0:
        qty = (
            round_order(a.order_up_to - position, item.pack_size, item.min_order_qty)
            if a.reorder_point is not None and position <= a.reorder_point
            else 0
        )
        note = "no sales history: the catalog's reorder point and quantity"
    else:
        qty = round_order(a.order_up_to - position, item.pack_size, item.min_order_qty)
        note = ""
    cover = max(item.on_hand, 0) / a.per_day if a.per_day > 0 else None
    value = qty * item.unit_cost if item.unit_cost is not None else None
    return Suggestion(
        store=item.store,
        sku=item.sku,
        vendor=item.vendor,
        category=item.category,
        on_hand=item.on_hand,
        in_transit=item.in_transit,
        on_order=item.on_order,
        transfer=transfer,
        weeks_of_history=a.demand.weeks,
        per_day=a.per_day,
        season=a.season,
        safety_stock=a.safety,
        reorder_point=a.reorder_point,
        order_up_to=a.order_up_to,
        days_of_cover=cover,
        order_qty=qty,
        packs=qty // item.pack_size,
        order_value=value,
        low=is_low(item.on_hand, a.reorder_point, a.per_day, item.lead_time_days),
        note=note,
    )


def _transfers(group: Sequence[_Assessed], policy: Policy) -> list[Transfer]:
    """Candidate transfers for one SKU: from stores holding more than their own order-up-to
    level (from the shelf, not from what is still coming) to stores below theirs, the most
    urgent receiver first, from the donor with the most cover to spare. A line is kept when
    what it saves covers its per-unit cost; see `plan` for the per-shipment test."""
    spare: dict[str, int] = {}
    spare_days: dict[str, float] = {}
    for a in group:
        extra = min(max(a.item.on_hand, 0), _position(a.item, 0) - a.order_up_to)
        if extra > 0 and a.demand.weeks:
            spare[a.item.store] = extra
            spare_days[a.item.store] = extra / a.per_day if a.per_day > 0 else 365.0
    if not spare:
        return []
    receivers = sorted(
        (a for a in group if a.demand.weeks and a.order_up_to > _position(a.item, 0)),
        key=lambda a: _position(a.item, 0) / a.per_day if a.per_day > 0 else math.inf,
    )
    out: list[Transfer] = []
    for a in receivers:
        need = a.order_up_to - _position(a.item, 0)
        # What would be missed before a vendor delivery could arrive: the transfer's urgency.
        short = max(0.0, a.per_day * a.item.lead_time_days - _position(a.item, 0))
        margin = max(0, (a.item.unit_price or 0) - (a.item.unit_cost or 0))
        cost_each = a.item.unit_cost or 0
        for donor in sorted(spare, key=lambda s: (-spare_days[s], s)):
            if need <= 0:
                break
            qty = min(need, spare[donor])
            if qty <= 0 or donor == a.item.store:
                continue
            days = min(365.0, spare_days[donor])
            held = qty * cost_each * policy.holding_rate * days / 365
            missed = min(float(qty), short) * margin
            saves = round(held + missed)
            cost = qty * policy.transfer_unit_cost
            if saves < cost:
                continue
            out.append(
                Transfer(
                    sku=a.item.sku,
                    from_store=donor,
                    to_store=a.item.store,
                    qty=qty,
                    cost=cost,
                    saves=saves,
                )
            )
            spare[donor] -= qty
            short = max(0.0, short - qty)
            need -= qty
    return out


def plan(items: Iterable[Item], as_of: date, policy: Policy | None = None) -> Plan:
    """Suggestions for every item and the transfers to make first, as of a day (its ISO week
    is the current one, not yet history). Transfers are planned per SKU between the stores in
    `items`; a store pair's shipment is kept only when its lines together save at least the
    per-shipment cost too. Orders are then worked out with the transfers counted in."""
    policy = policy or Policy()
    cal = _calendar(as_of, policy.trailing_weeks)
    by_sku: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_sku[item.sku.upper()].append(item)
    assessed: dict[str, list[_Assessed]] = {}
    for key, group in by_sku.items():
        horizon = max(i.lead_time_days + i.review_days for i in group)
        season = season_factor(group, as_of, horizon, policy)
        assessed[key] = [_assess(i, cal, season, policy) for i in group]

    candidates = [t for group in assessed.values() for t in _transfers(group, policy)]
    by_pair: dict[tuple[str, str], list[Transfer]] = defaultdict(list)
    for t in candidates:
        by_pair[(t.from_store, t.to_store)].append(t)
    transfers: list[Transfer] = []
    for pair in sorted(by_pair):
        lines = by_pair[pair]
        if sum(t.saves - t.cost for t in lines) >= policy.transfer_shipment_cost:
            transfers.extend(lines)
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for t in transfers:
        moved[(t.to_store, t.sku.upper())] += t.qty
        moved[(t.from_store, t.sku.upper())] -= t.qty

    suggestions = [
        _suggestion(a, moved.get((a.item.store, key), 0))
        for key in sorted(assessed)
        for a in assessed[key]
    ]
    suggestions.sort(key=lambda s: (s.store, s.sku.upper()))
    return Plan(suggestions=tuple(suggestions), transfers=tuple(transfers))


def assess(item: Item, as_of: date, policy: Policy | None = None) -> Suggestion:
    """One item on its own (no transfers, seasonality from its own history)."""
    return plan([item], as_of, policy).suggestions[0]


# -- The thin layer over PostgreSQL ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which items a report covers: some stores (None: all), a category, a vendor (by name)."""

    stores: Sequence[str] | None = None
    category: str | None = None
    vendor: str | None = None


_ITEMS = """
SELECT sv.store, v.sku, COALESCE(SUM(o.qty), 0)::bigint, v.pack_size, v.min_order_qty,
    v.reorder_point, v.reorder_qty, v.cost, v.price, ve.name, c.name,
    ve.lead_time_days, ve.review_days, array_agg(sv.uid)
FROM catalog_variant v
JOIN catalog_product p ON p.id = v.product_id
LEFT JOIN catalog_category c ON c.id = p.category_id
LEFT JOIN catalog_vendor ve ON ve.id = p.vendor_id
JOIN store_variant sv ON upper(sv.sku) = upper(v.sku)
LEFT JOIN on_hand o ON o.store = sv.store AND o.variant = sv.uid
WHERE v.active AND p.active
    AND (%(stores)s::text[] IS NULL OR sv.store = ANY(%(stores)s::text[]))
    AND (%(category)s::text IS NULL OR lower(c.name) = lower(%(category)s::text))
    AND (%(vendor)s::text IS NULL OR lower(ve.name) = lower(%(vendor)s::text))
GROUP BY sv.store, v.id, ve.id, c.id
ORDER BY sv.store, v.sku
"""

# Sold minus post-voided (returns are stock coming back, not negative demand), by ISO week
# of the UTC day.
_WEEKLY = """
SELECT f.store, f.variant,
    EXTRACT(isoyear FROM f.at AT TIME ZONE 'UTC')::int,
    EXTRACT(week FROM f.at AT TIME ZONE 'UTC')::int,
    SUM(f.qty)::bigint
FROM sale_fact f
WHERE f.kind IN ('sale', 'void') AND f.store = ANY(%(stores)s::text[])
    AND f.variant = ANY(%(uids)s::uuid[]) AND f.at >= %(start)s AND f.at < %(end)s
GROUP BY 1, 2, 3, 4
"""

_SINCE = """
SELECT l.store, l.variant, min(l.at AT TIME ZONE 'UTC')::date
FROM stock_ledger l
WHERE l.store = ANY(%(stores)s::text[]) AND l.variant = ANY(%(uids)s::uuid[])
GROUP BY 1, 2
"""

# Shipped to a store and not yet received there: per transfer, the shipped lines of a
# transfer the receiving store has not booked (a received transfer is closed, any difference
# recorded with its reason), each sender's variant id turned into its SKU.
_IN_TRANSIT = """
SELECT e.envelope #>> '{body,to_store}', upper(sv.sku), SUM((l ->> 'qty')::bigint)::bigint
FROM event e
CROSS JOIN LATERAL jsonb_array_elements(e.envelope #> '{body,lines}') AS l
JOIN store_variant sv ON sv.store = e.store AND sv.uid = (l ->> 'variant')::uuid
WHERE e.type = 'transfer.shipped'
    AND (%(stores)s::text[] IS NULL OR e.envelope #>> '{body,to_store}' = ANY(%(stores)s::text[]))
    AND NOT EXISTS (
        SELECT 1 FROM event r WHERE r.type = 'transfer.received'
            AND r.envelope #>> '{body,transfer}' = e.envelope #>> '{body,transfer}')
GROUP BY 1, 2
"""


# Units on the chain's open purchase orders (draft or sent), by store and SKU
# (cloud/purchase_orders.py): what is already ordered is not suggested again.
_ON_ORDER = """
SELECT l.store, upper(l.sku), SUM(l.qty)::bigint
FROM purchase_order_line l JOIN purchase_order o ON o.id = l.order_id
WHERE o.state IN ('draft', 'sent') AND l.store = ANY(%(stores)s::text[])
GROUP BY 1, 2
"""


def load_items(
    conn: Conn, as_of: date, scope: Scope | None = None, *, weeks: int = 8
) -> list[Item]:
    """The items of a scope as of a day (its start, UTC): catalog terms, on-hand, open
    transfers and open purchase orders summed over a store's ids for the SKU, and weekly sales from a year and `weeks`
    before up to `as_of`."""
    scope = scope or Scope()
    stores = list(scope.stores) if scope.stores is not None else None
    params = {"stores": stores, "category": scope.category, "vendor": scope.vendor}
    rows = conn.execute(_ITEMS, params).fetchall()
    if not rows:
        return []
    uids = [str(u) for row in rows for u in row[13]]
    seen_stores = sorted({row[0] for row in rows})
    start = week_start(as_of - timedelta(days=364)) - timedelta(weeks=weeks + 1)
    # The current week's days before as_of are read too: the surge check looks at them.
    end = as_of
    weekly: dict[tuple[str, str], dict[Week, int]] = defaultdict(dict)
    for store, uid, year, week, qty in conn.execute(
        _WEEKLY, {"stores": seen_stores, "uids": uids, "start": start, "end": end}
    ):
        w = weekly[(store, str(uid))]
        w[(year, week)] = w.get((year, week), 0) + int(qty)
    since = {
        (store, str(uid)): first
        for store, uid, first in conn.execute(_SINCE, {"stores": seen_stores, "uids": uids})
    }
    transit = {
        (store, sku): int(qty)
        for store, sku, qty in conn.execute(_IN_TRANSIT, {"stores": seen_stores})
    }
    ordered = {
        (store, sku): int(qty)
        for store, sku, qty in conn.execute(_ON_ORDER, {"stores": seen_stores})
    }
    items = []
    for (
        store,
        sku,
        on_hand,
        pack,
        min_qty,
        rop,
        rqty,
        cost,
        price,
        vendor,
        category,
        lead,
        review,
        ids,
    ) in rows:
        sales: dict[Week, int] = {}
        firsts: list[date] = []
        for uid in ids:
            for week, qty in weekly.get((store, str(uid)), {}).items():
                sales[week] = sales.get(week, 0) + qty
            if (store, str(uid)) in since:
                firsts.append(since[(store, str(uid))])
        items.append(
            Item(
                store=store,
                sku=sku,
                on_hand=int(on_hand),
                in_transit=transit.get((store, sku.upper()), 0),
                on_order=ordered.get((store, sku.upper()), 0),
                weekly=sales,
                since=min(firsts) if firsts else None,
                lead_time_days=lead if lead is not None else DEFAULT_LEAD_TIME_DAYS,
                review_days=review if review is not None else DEFAULT_REVIEW_DAYS,
                pack_size=pack,
                min_order_qty=min_qty,
                reorder_point=rop,
                reorder_qty=rqty,
                unit_cost=cost,
                unit_price=price,
                vendor=vendor,
                category=category,
            )
        )
    return items


def suggest(
    conn: Conn, as_of: date, scope: Scope | None = None, policy: Policy | None = None
) -> Plan:
    """The reorder report's data for a scope: suggestions and transfers as of a day."""
    policy = policy or Policy()
    return plan(load_items(conn, as_of, scope, weeks=policy.trailing_weeks), as_of, policy)


SUGGESTION_COLUMNS = (
    "store", "sku", "vendor", "category", "on_hand", "in_transit", "on_order", "transfer",
    "per_day", "season", "safety_stock", "reorder_point", "order_up_to", "days_of_cover",
    "order_qty", "packs", "order_value", "low", "note",
)  # fmt: skip
TRANSFER_COLUMNS = ("sku", "from_store", "to_store", "qty", "cost", "saves")


def _amount(value: int | None, currency: str) -> str:
    return "" if value is None else Money(value, currency).to_decimal_string()


def write_csv(result: Plan, out: TextIO, currency: str, *, transfers: bool = False) -> None:
    """The plan's suggestions (or its transfers) as CSV, money as decimals in `currency`, each
    cell safe to open in a spreadsheet."""
    writer = csv.writer(out, lineterminator="\r\n")
    if transfers:
        writer.writerow(TRANSFER_COLUMNS)
        for t in result.transfers:
            writer.writerow(
                [csv_cell(t.sku), t.from_store, t.to_store, t.qty,
                 _amount(t.cost, currency), _amount(t.saves, currency)]
            )  # fmt: skip
        return
    writer.writerow(SUGGESTION_COLUMNS)
    for s in result.suggestions:
        writer.writerow(
            [
                s.store, csv_cell(s.sku), csv_cell(s.vendor or ""), csv_cell(s.category or ""),
                s.on_hand, s.in_transit, s.on_order, s.transfer, f"{s.per_day:.2f}",
                f"{s.season:.2f}",
                s.safety_stock, "" if s.reorder_point is None else s.reorder_point,
                s.order_up_to, "" if s.days_of_cover is None else f"{s.days_of_cover:.1f}",
                s.order_qty, s.packs, _amount(s.order_value, currency), int(s.low),
                csv_cell(s.note),
            ]
        )  # fmt: skip


class TermsError(ValueError):
    """Reorder terms that cannot be set; the message says why."""


def set_vendor_terms(
    conn: Conn, vendor: str, *, lead_time_days: int | None, review_days: int | None
) -> None:
    """Set (None: clear, back to the defaults) a vendor's lead time and review period."""
    if lead_time_days is not None and not 0 <= lead_time_days <= 365:
        raise TermsError("a lead time is 0 to 365 days")
    if review_days is not None and not 1 <= review_days <= 91:
        raise TermsError("a review period is 1 to 91 days")
    with conn.transaction():
        row = conn.execute(
            "UPDATE catalog_vendor SET lead_time_days = %s, review_days = %s"
            " WHERE lower(name) = lower(%s) RETURNING id",
            (lead_time_days, review_days, vendor),
        ).fetchone()
        if row is None:
            raise TermsError(f"no vendor is named {vendor}")


def set_min_order(conn: Conn, sku: str, qty: int) -> None:
    """Set a variant's minimum order quantity (0: none beyond its pack size)."""
    if qty < 0:
        raise TermsError("a minimum order must not be negative")
    with conn.transaction():
        row = conn.execute(
            "UPDATE catalog_variant SET min_order_qty = %s WHERE upper(sku) = upper(%s)"
            " RETURNING id",
            (qty, sku),
        ).fetchone()
        if row is None:
            raise TermsError(f"no variant has SKU {sku}")
