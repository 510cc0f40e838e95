"""HQ benchmark: page times over two years of a chain's history, and ingest with HQ's projections.

Three parts, each with its raw limit measured in the same run:

1. **Seeding** (server-side SQL, no Python per row): a dedicated database per data set
   (`tillbox_bench_hq5`: 5 stores × 2 years; `tillbox_bench_hq500`: 500 stores, about 10 M
   sale lines; `tillbox_bench_hqsmall` for the smoke test) migrated to the base schema (ingest,
   catalog, directory: migrations up to BASE_SCHEMA), filled as ingest would have left it:
   catalog, stores with names and time zones, origins, events with their envelopes (sales,
   returns with reason codes, post-voids, overrides, shifts, deliveries, adjustments, counts,
   transfers), sale facts, the stock ledger, on-hand by the fold, shift and Z summaries, the
   stores' directories. Then the later migrations run over it, as on an upgrade (their
   backfills are the HQ projections' first fill), and each HQ projection module's
   `rebuild(conn, store=None)`, where it has one. A database is reused while its seed, spec,
   seeding code and migrations are the same (`--reseed` forces).
2. **Pages**: the real HQ (`cloud.hq.create_app` on waitress, a free port) over the seeded
   database; every GET route without path arguments, plus the filtered variants its own GET
   forms offer (a store, a category, a vendor, a date range) and every CSV link, N times each
   after a warm-up, as an HQ admin and as a store manager of one store. Raw limit: the
   trivial page (`/hq/account`) on the same server, and a plain SQL scan of the sales facts the
   analytics pages summarise.
3. **Ingest**: the same backlog (a store's realistic sales, returns, deliveries, counts, shifts)
   ingested by `cloud.ingest.ingest_batch` into fresh databases with the HQ projections on, and
   with `cloud.ingest._HQ_PROJECTIONS` set to () in this process, alternating; plain COPY of
   the same event rows as the raw rate.

    .venv/bin/python bench/hq_bench.py --small                 # a quick end-to-end check
    .venv/bin/python bench/hq_bench.py --sets hq5,hq500 --record
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import http.client
import importlib
import json
import secrets
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalog_bench import machine, record_section  # noqa: E402

from cloud import ingest  # noqa: E402
from cloud.hq import accounts, create_app  # noqa: E402
from cloud.hq.core import COOKIE, ROUTES  # noqa: E402
from cloud.hq.settings import HqSettings  # noqa: E402
from cloud.migrate import Migration, connect, migrate, migrations  # noqa: E402
from protocol.envelope import envelope_dict  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
BEGIN, END = "<!-- hq-bench:begin -->", "<!-- hq-bench:end -->"
# Migrations up to this one make the schema the seeder writes (ingest, catalog, directory,
# users); later ones (HQ's projections) run over the seeded rows as an upgrade would.
BASE_SCHEMA = 15
# Bump when the seeding changes what it writes: a database seeded by another version is redone.
SEED_VERSION = 1
TARGETS_MS = {"hq5": 300.0, "hq500": 800.0, "small": 300.0, "mid": 800.0}


# ---- data sets --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """One data set: how many stores and days, how dense, and its seed."""

    name: str
    stores: int
    registers: int
    days: int
    # Sale lines to aim at over the whole history (the daily sales are scaled to it).
    lines: int
    variants: int = 2000
    # Deliveries replenish what a store sold in the last `delivery_days`.
    delivery_days: int = 7
    seed: int = 7

    # Appended to the database's name (a test's own copy).
    suffix: str = ""

    @property
    def database(self) -> str:
        return f"tillbox_bench_{self.name}{self.suffix}"


SPECS = {
    "small": Spec(name="hqsmall", stores=3, registers=2, days=120, lines=40_000, variants=300),
    "hq5": Spec(name="hq5", stores=5, registers=4, days=730, lines=1_900_000),
    # A tenth of hq500, for trying the seeding at scale.
    "mid": Spec(name="hqmid", stores=50, registers=1, days=730, lines=1_000_000, delivery_days=28),
    "hq500": Spec(
        name="hq500", stores=500, registers=1, days=730, lines=10_000_000, delivery_days=28
    ),
}

CATEGORIES = (
    "Apparel",
    "Footwear",
    "Accessories",
    "Home",
    "Kitchen",
    "Toys",
    "Stationery",
    "Beauty",
    "Garden",
    "Electronics",
    "Sports",
    "Food",
)
TOWNS = (
    "Dublin",
    "Cork",
    "Galway",
    "Limerick",
    "Belfast",
    "Leeds",
    "Bristol",
    "Lyon",
    "Porto",
    "Leipzig",
    "Bilbao",
    "Turku",
    "Gdansk",
    "Ghent",
    "Utrecht",
    "Aarhus",
)
ZONES = (
    "Europe/Dublin",
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Helsinki",
    "Europe/Warsaw",
)
# Any argon2id hash will do: nobody signs in on a seeded register.
PIN_HASH = "$argon2id$v=19$m=65536,t=3,p=4$YmVuY2hiZW5jaGJlbmNo$" + "A" * 43


# ---- seeding ----------------------------------------------------------------------------------


def _seed_functions(seed: int) -> list[str]:
    """Deterministic draws in SQL: u(n, salt) is uniform in [0, 1) for a bigint and a salt."""
    return [
        "CREATE FUNCTION bench.u(n bigint, salt integer) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE"
        f" AS $$ SELECT (hashint8extended(n, salt + {seed * 1000}) & 9007199254740991)::float8"
        " / 9007199254740992.0 $$",
        # A UUIDv7 whose time is `at` and whose rest is drawn from (ns, n): ids made in time
        # order, as the registers make them (the event index stays as local as in production).
        "CREATE FUNCTION bench.uid7(at timestamptz, ns text, n bigint) RETURNS uuid"
        " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (lpad(to_hex((date_part('epoch', at)"
        " * 1000)::bigint), 12, '0') || '7' || overlay(substr(md5(ns || n), 1, 19) placing '8'"
        " from 4 for 1))::uuid $$",
        "CREATE FUNCTION bench.vuid(store text, sku text) RETURNS uuid LANGUAGE sql IMMUTABLE"
        " PARALLEL SAFE AS $$ SELECT md5(store || ':' || sku)::uuid $$",
        "CREATE FUNCTION bench.iso(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE"
        """ PARALLEL SAFE AS $$ SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$""",
        "CREATE FUNCTION bench.wall(at timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE"
        " PARALLEL SAFE AS $$ SELECT round(date_part('epoch', at) * 1000)::bigint $$",
    ]


def seed_steps(spec: Spec) -> list[tuple[str, str]]:
    """The seeding, as (what, SQL) steps run in order in one session."""
    s = spec
    cats = ",".join(f"({n}, '{name}')" for n, name in enumerate(CATEGORIES, start=1))
    towns = "ARRAY[" + ",".join(f"'{t}'" for t in TOWNS) + "]"
    zones = "ARRAY[" + ",".join(f"'{z}'" for z in ZONES) + "]"
    products = max(1, s.variants * 2 // 5)
    width = 2 if s.stores < 100 else 3
    first_day = f"current_date - {s.days - 1}"
    # Stocktakes: the opening count (day 0), and one a year later when the history is long.
    stocktake_day = f"current_date - {s.days - 1} + {365 if s.days > 400 else s.days // 2}"
    return [
        (
            "catalog",
            f"""
INSERT INTO catalog_category (id, name) SELECT * FROM (VALUES {cats}) AS c(id, name);
SELECT setval('catalog_category_id_seq', {len(CATEGORIES)});
INSERT INTO catalog_vendor (id, name, lead_time_days, review_days)
SELECT n, 'Vendor ' || lpad(n::text, 2, '0') || ' ' || (ARRAY['Ltd','GmbH','BV','SA','Oy'])[1 + n % 5],
    3 + (bench.u(n, 1) * 19)::int, (ARRAY[7, 7, 14, 28])[1 + n % 4]
FROM generate_series(1, 30) n;
SELECT setval('catalog_vendor_id_seq', 30);
INSERT INTO catalog_product (id, name, category_id, vendor_id)
SELECT n, (ARRAY['Classic','Urban','Nordic','Coastal','Studio','Field','Metro','Alpine'])[1 + n % 8]
    || ' ' || (ARRAY['Tee','Mug','Lamp','Boot','Scarf','Pen','Kit','Bag','Cap','Set'])[1 + (n / 8) % 10]
    || ' ' || lpad(n::text, 4, '0'),
    1 + (bench.u(n, 2) * bench.u(n, 3) * {len(CATEGORIES)})::int % {len(CATEGORIES)},
    1 + (bench.u(n, 4) * 30)::int % 30
FROM generate_series(1, {products}) n;
SELECT setval('catalog_product_id_seq', {products});
-- Prices log-uniform from 1.99 to 199.99 (ending in 99), cost 35-65 % of it; sizes S-XL.
INSERT INTO catalog_variant (id, sku, product_id, options, cost, price, tax_class,
    reorder_point, reorder_qty, pack_size)
SELECT i, 'SKU-' || lpad(i::text, 5, '0'), p,
    jsonb_build_array(jsonb_build_array('Size', (ARRAY['S','M','L','XL'])[1 + (i - 1) % 4])),
    price * (35 + (bench.u(i, 6) * 30)::int) / 100, price,
    CASE WHEN (SELECT category_id FROM catalog_product WHERE id = p) = {len(CATEGORIES)}
         THEN 'reduced' ELSE 'standard' END,
    2 + (bench.u(i, 7) * 18)::int, 12 + (bench.u(i, 8) * 36)::int,
    (ARRAY[1, 1, 1, 6, 12])[1 + (bench.u(i, 9) * 5)::int % 5]
FROM (SELECT i, 1 + (i - 1) * {products} / {s.variants} AS p,
        (round(exp(ln(2) + bench.u(i, 5) * (ln(200) - ln(2)))) * 100 - 1)::bigint AS price
      FROM generate_series(1, {s.variants}) i) v;
SELECT setval('catalog_variant_id_seq', {s.variants});
-- Long tail: rank 1 sells most; a sale line draws rank 1 + floor(V * u^2.2).
CREATE UNLOGGED TABLE bench.variant AS
SELECT v.id AS idx, row_number() OVER (ORDER BY bench.u(v.id, 10))::int AS rank, v.sku,
    v.price, v.cost, v.pack_size, v.tax_class = 'reduced' AS reduced
FROM catalog_variant v;
CREATE UNIQUE INDEX ON bench.variant (rank);
CREATE UNIQUE INDEX ON bench.variant (idx);
""",
        ),
        (
            "stores, origins, directories",
            f"""
CREATE UNLOGGED TABLE bench.store AS
SELECT n, 's' || lpad(n::text, {width}, '0') AS store,
    ({towns})[1 + (n - 1) % {len(TOWNS)}] || CASE WHEN n > {len(TOWNS)} THEN ' ' || n ELSE '' END
        AS name,
    ({zones})[1 + (n - 1) % {len(ZONES)}] AS tz,
    -- Store size: most are average, a few flagships and small ones.
    0.45 + 1.5 * bench.u(n, 11) * bench.u(n, 12) + 0.3 * bench.u(n, 13) AS size
FROM generate_series(1, {s.stores}) n;
INSERT INTO store (id, name) SELECT store, name FROM bench.store;
INSERT INTO store_cursor (store) SELECT store FROM bench.store;
INSERT INTO origin (id, store) SELECT store || '-ap', store FROM bench.store;
INSERT INTO origin (id, store)
SELECT store || '-r' || lpad(r::text, 2, '0'), store FROM bench.store, generate_series(1, {s.registers}) r;
INSERT INTO store_directory (store, version, settings)
SELECT store, 1, jsonb_build_object('name', name, 'timezone', tz, 'currency', 'EUR',
    'receipt_footer', 'Thank you')
FROM bench.store;
INSERT INTO store_register (store, id, name, token_hash, created_at, paired_by)
SELECT store, store || '-r' || lpad(r::text, 2, '0'), 'Till ' || r, encode(sha256((store || r)::bytea), 'hex'),
    '2024-01-01T09:00:00.000Z', store || '-mgr'
FROM bench.store, generate_series(1, {s.registers}) r;
INSERT INTO store_staff (store, id, name, role, pin_hash, active, created_at, updated_at)
SELECT store, store || '-' || code, initcap(code) || ' ' || name, role, '{PIN_HASH}', true,
    '2024-01-01T09:00:00.000Z', '2024-01-01T09:00:00.000Z'
FROM bench.store, (VALUES ('c1', 'cashier'), ('c2', 'cashier'), ('c3', 'cashier'),
    ('c4', 'cashier'), ('c5', 'cashier'), ('c6', 'cashier'), ('sup1', 'supervisor'),
    ('sup2', 'supervisor'), ('mgr', 'manager')) AS s(code, role);
INSERT INTO store_reason (store, code, kind, label, disposition, active)
SELECT store, code, kind, label, disposition, true
FROM bench.store, (VALUES ('changed_mind', 'return', 'Changed mind', 'restock'),
    ('wrong_size', 'return', 'Wrong size or fit', 'restock'),
    ('not_as_described', 'return', 'Not as described', 'restock'),
    ('defective', 'return', 'Defective', 'damaged'),
    ('damaged_on_arrival', 'return', 'Damaged when bought', 'rtv'),
    ('recall', 'return', 'Vendor recall', 'rtv'),
    ('damaged', 'adjust', 'Damaged in store', NULL), ('theft', 'adjust', 'Theft or loss', NULL),
    ('found', 'adjust', 'Found stock', NULL), ('expired', 'adjust', 'Expired', NULL))
    AS r(code, kind, label, disposition);
INSERT INTO store_variant (store, uid, sku, local_id)
SELECT s.store, bench.vuid(s.store, v.sku), v.sku, v.idx FROM bench.store s, bench.variant v;
INSERT INTO appliance_status (store, online, version, outbox_depth, oldest_unsynced_age_s,
    printer, raw, received_at, last_online_at)
SELECT store, n % 97 <> 0, '1.4.' || (n % 3), CASE WHEN n % 97 = 0 THEN 140 ELSE 0 END, 0,
    jsonb_build_object('printers', jsonb_build_array(jsonb_build_object('name', 'Receipt printer',
        'online', true, 'paper_out', n % 53 = 0, 'queued', 0)), 'trouble', n % 53 = 0),
    '{{}}'::jsonb, now() - (n % 7) * interval '1 minute', now() - (n % 7) * interval '1 minute'
FROM bench.store;
""",
        ),
        (
            "store-days (weekday, season, growth)",
            f"""
CREATE UNLOGGED TABLE bench.day AS
SELECT s.store, s.n, s.tz, d::date AS day,
    s.size
    * (ARRAY[0.8, 0.82, 0.86, 0.92, 1.0, 1.22, 1.42])[1 + extract(isodow FROM d)::int % 7]
    * (1 + 0.18 * cos(2 * pi() * (extract(doy FROM d)::float8 - 200) / 365.0)
         + 0.9 * exp(greatest(-40, -power((extract(doy FROM d)::float8 - 354) / 9.0, 2)))
         - 0.12 * exp(greatest(-40, -power((extract(doy FROM d)::float8 - 20) / 10.0, 2))))
    * (1 + 0.08 * (d::date - (current_date - {s.days})) / 365.0)
    * (0.85 + 0.3 * bench.u(s.n * 100000 + (d::date - date '2000-01-01'), 14)) AS weight
FROM bench.store s, generate_series(current_date - {s.days - 1}, current_date, interval '1 day') d;
-- 2.6 lines a sale on average: scale the weights to the lines aimed at, rounding at random
-- (a quiet store's day is 3 sales or 4, not always 3).
ALTER TABLE bench.day ADD COLUMN sales integer;
UPDATE bench.day d SET sales = floor(d.weight * k.f
    + bench.u(d.n * 100000 + (d.day - date '2000-01-01'), 15))::int
FROM (SELECT {s.lines} / 2.6 / sum(weight) AS f FROM bench.day) k;
""",
        ),
        (
            "sales and their lines",
            f"""
CREATE SEQUENCE bench.sale_no;
-- Open 09:00 to 21:00 local, busiest mid-afternoon; lines 1 + geometric (mean 2.6).
CREATE UNLOGGED TABLE bench.sale0 AS
SELECT nextval('bench.sale_no') AS sale_no, d.store, d.n, d.day, d.tz,
    1 + (bench.u(x.key, 16) * {s.registers})::int % {s.registers} AS reg,
    ((d.day + time '09:00') + (720 * (bench.u(x.key, 17) + bench.u(x.key, 18)) / 2)
        * interval '1 minute') AT TIME ZONE d.tz AS at
FROM bench.day d, generate_series(1, d.sales) k,
    LATERAL (SELECT (d.n::bigint * 100000 + (d.day - date '2000-01-01')) * 10000 + k AS key) x;
DELETE FROM bench.sale0 WHERE at > now() - interval '2 minutes';
CREATE UNLOGGED TABLE bench.sale AS
SELECT sale_no, store, n, day, tz, reg, at,
    store || '-r' || lpad(reg::text, 2, '0') AS origin,
    least(12, 1 + floor(-ln(1 - bench.u(sale_no, 19)) * 2.06))::int AS lines,
    bench.u(sale_no, 20) < 0.35 AS cash,
    store || '-c' || (1 + (bench.u(n * 100000 + (day - date '2000-01-01') * 10 + reg, 21) * 6)::int % 6) AS actor,
    md5('shift' || store || reg || day)::uuid AS shift,
    bench.uid7(at, 'sale', sale_no) AS id,
    -- Receipt numbers from the chain-wide sale number: unique per register and rising day by
    -- day, though not dense (a register's own count would need a sort of every sale).
    store || '-r' || lpad(reg::text, 2, '0') || '-' || lpad(sale_no::text, 7, '0') AS receipt
FROM bench.sale0;
DROP TABLE bench.sale0;
CREATE UNIQUE INDEX ON bench.sale (sale_no);
-- Quantity mostly 1; one line in 16 at 10 % off; tax included (20 %, food 9 %).
CREATE UNLOGGED TABLE bench.line AS
SELECT l.sale_no, l.line, v.idx, v.sku, l.qty, v.price AS unit_price,
    v.price * l.qty AS gross,
    CASE WHEN l.off THEN v.price * l.qty / 10 ELSE 0 END AS discount,
    CASE WHEN v.reduced THEN 90000 ELSE 200000 END AS rate_ppm
FROM (SELECT s.sale_no, k AS line,
        1 + floor({s.variants} * power(bench.u(s.sale_no * 16 + k, 22), 2.2))::int AS rank,
        CASE WHEN bench.u(s.sale_no * 16 + k, 23) < 0.84 THEN 1
             WHEN bench.u(s.sale_no * 16 + k, 23) < 0.96 THEN 2 ELSE 3 END AS qty,
        bench.u(s.sale_no * 16 + k, 24) < 1 / 16.0 AS off
      FROM bench.sale s, generate_series(1, s.lines) k) l
JOIN bench.variant v ON v.rank = least(l.rank, {s.variants});
ALTER TABLE bench.line ADD COLUMN net bigint, ADD COLUMN tax bigint;
UPDATE bench.line SET tax = round((gross - discount) * rate_ppm / (1000000.0 + rate_ppm)),
    net = (gross - discount) - round((gross - discount) * rate_ppm / (1000000.0 + rate_ppm));
CREATE UNLOGGED TABLE bench.sale_body AS
SELECT l.sale_no, sum(l.gross) AS subtotal, sum(l.discount) AS discount, sum(l.tax) AS tax,
    sum(l.gross - l.discount) AS total,
    jsonb_agg(jsonb_strip_nulls(jsonb_build_object('line', l.line,
        'variant', bench.vuid(s.store, l.sku), 'qty', l.qty, 'unit_price', l.unit_price,
        'discount', CASE WHEN l.discount > 0 THEN jsonb_build_object('kind', 'percent', 'value', 10)
            END)) ORDER BY l.line) AS lines
FROM bench.line l JOIN bench.sale s ON s.sale_no = l.sale_no GROUP BY l.sale_no;
CREATE UNIQUE INDEX ON bench.sale_body (sale_no);
""",
        ),
        (
            "returns, post-voids, overrides, shifts",
            """
-- One sale in 40 sees a line returned 1-30 days later (if that is in the past).
CREATE UNLOGGED TABLE bench.ret AS
SELECT s.sale_no, s.store, s.n, s.tz, s.receipt AS original, l.idx, l.sku, l.qty,
    l.gross - l.discount AS refund, l.tax,
    s.at + (1 + bench.u(s.sale_no, 31) * 29) * interval '1 day' AS at0,
    CASE WHEN bench.u(s.sale_no, 32) < 0.35 THEN 'changed_mind'
         WHEN bench.u(s.sale_no, 32) < 0.65 THEN 'wrong_size'
         WHEN bench.u(s.sale_no, 32) < 0.83 THEN 'defective'
         WHEN bench.u(s.sale_no, 32) < 0.93 THEN 'not_as_described'
         WHEN bench.u(s.sale_no, 32) < 0.98 THEN 'damaged_on_arrival' ELSE 'recall' END AS reason
FROM bench.sale s JOIN bench.line l ON l.sale_no = s.sale_no AND l.line = 1
WHERE bench.u(s.sale_no, 30) < 0.025;
-- Returns are taken during opening hours on the return day, at the sale's register.
CREATE UNLOGGED TABLE bench.ret2 AS
SELECT r.*, sa.reg, sa.origin, sa.actor,
    md5('shift' || r.store || sa.reg || (r.at0 AT TIME ZONE r.tz)::date)::uuid AS shift,
    ((r.at0 AT TIME ZONE r.tz)::date + time '10:00' + bench.u(r.sale_no, 33) * interval '10 hours')
        AT TIME ZONE r.tz AS at
FROM bench.ret r JOIN bench.sale sa ON sa.sale_no = r.sale_no;
DROP TABLE bench.ret;
DELETE FROM bench.ret2 WHERE at > now() - interval '2 minutes';
ALTER TABLE bench.ret2 ADD COLUMN id uuid, ADD COLUMN receipt text;
UPDATE bench.ret2 SET id = bench.uid7(at, 'ret', sale_no),
    receipt = origin || '-9' || lpad(sale_no::text, 8, '0');
-- One sale in 300 is post-voided a few minutes later, by a supervisor's override.
CREATE UNLOGGED TABLE bench.void AS
SELECT s.sale_no, s.store, s.origin, s.receipt, s.shift, s.actor,
    s.at + (2 + bench.u(s.sale_no, 35) * 18) * interval '1 minute' AS at
FROM bench.sale s WHERE bench.u(s.sale_no, 34) < 1 / 300.0
    AND s.at < now() - interval '30 minutes';
ALTER TABLE bench.void ADD COLUMN id uuid;
UPDATE bench.void SET id = bench.uid7(at, 'void', sale_no);
-- Overrides: a price override or a discount approved just before one sale in 90, and the
-- post-voids' approvals.
CREATE UNLOGGED TABLE bench.override AS
SELECT s.sale_no, s.store, s.origin, s.actor AS requester,
    s.store || '-sup' || (1 + (bench.u(s.sale_no, 37) * 2)::int % 2) AS approver,
    CASE WHEN bench.u(s.sale_no, 38) < 0.6 THEN 'price_override' ELSE 'discount_over_threshold' END
        AS action,
    b.total AS amount, s.at - interval '20 seconds' AS at,
    bench.u(s.sale_no, 39) < 0.04 AS offline
FROM bench.sale s JOIN bench.sale_body b ON b.sale_no = s.sale_no
WHERE bench.u(s.sale_no, 36) < 1 / 90.0
UNION ALL
SELECT v.sale_no, v.store, v.origin, v.actor, v.store || '-sup1', 'post_void', b.total,
    v.at - interval '10 seconds', false
FROM bench.void v JOIN bench.sale_body b ON b.sale_no = v.sale_no;
ALTER TABLE bench.override ADD COLUMN id uuid;
UPDATE bench.override SET id = bench.uid7(at, 'ovr' || action, sale_no);
-- One shift per register and trading day: opened 08:45, closed 21:15 local (if past).
CREATE UNLOGGED TABLE bench.shift AS
SELECT s.shift, s.store, s.n, s.reg, s.origin, s.day, s.tz, min(s.actor) AS actor,
    ((s.day + time '08:45') AT TIME ZONE s.tz) AS opened_at,
    ((s.day + time '21:15') AT TIME ZONE s.tz) AS closed_at,
    count(*) AS sales, sum(b.total) AS sales_total,
    sum(CASE WHEN s.cash THEN b.total ELSE 0 END) AS cash_sales
FROM bench.sale s JOIN bench.sale_body b ON b.sale_no = s.sale_no
GROUP BY s.shift, s.store, s.n, s.reg, s.origin, s.day, s.tz;
UPDATE bench.shift h SET sales = h.sales - v.n, sales_total = h.sales_total - v.total
FROM (SELECT v.shift, count(*) AS n, sum(b.total) AS total FROM bench.void v
      JOIN bench.sale_body b ON b.sale_no = v.sale_no GROUP BY v.shift) v
WHERE v.shift = h.shift;
ALTER TABLE bench.shift ADD COLUMN returns integer NOT NULL DEFAULT 0,
    ADD COLUMN refunds bigint NOT NULL DEFAULT 0;
UPDATE bench.shift h SET returns = r.n, refunds = r.total
FROM (SELECT shift, count(*) AS n, sum(refund) AS total FROM bench.ret2 GROUP BY shift) r
WHERE r.shift = h.shift;
-- Counted cash: the float plus cash taken less refunds (paid in cash); one close in 6 is
-- over or short by up to 20.00.
ALTER TABLE bench.shift ADD COLUMN counted bigint, ADD COLUMN open_id uuid, ADD COLUMN close_id uuid;
UPDATE bench.shift SET counted = 20500 + cash_sales - refunds
    + CASE WHEN bench.u(hashtext(shift::text), 40) < 1 / 6.0
           THEN (round((bench.u(hashtext(shift::text), 41) - 0.55) * 4000))::bigint ELSE 0 END,
    open_id = bench.uid7(opened_at, 'open', hashtext(shift::text)),
    close_id = bench.uid7(closed_at, 'close', hashtext(shift::text));
""",
        ),
        (
            "deliveries, adjustments, counts, transfers",
            f"""
-- Deliveries at 07:30 local replenish what the store sold in the period before (in packs).
CREATE UNLOGGED TABLE bench.delivery AS
SELECT s.store, s.n, s.tz, (d.day - date '2000-01-01') / {s.delivery_days} AS period,
    l.idx, l.sku,
    ceil(sum(l.qty)::numeric / v.pack_size)::bigint * v.pack_size AS qty, v.cost
FROM bench.sale s JOIN bench.day d ON d.store = s.store AND d.day = s.day
JOIN bench.line l ON l.sale_no = s.sale_no JOIN bench.variant v ON v.idx = l.idx
GROUP BY 1, 2, 3, 4, 5, 6, v.pack_size, v.cost;
CREATE UNLOGGED TABLE bench.delivery_ev AS
SELECT store, n, period, min(tz) AS tz,
    ((date '2000-01-01' + (period + 1) * {s.delivery_days}) + time '07:30') AT TIME ZONE min(tz) AS at
FROM bench.delivery GROUP BY store, n, period;
DELETE FROM bench.delivery_ev WHERE at > now() - interval '2 minutes';
ALTER TABLE bench.delivery_ev ADD COLUMN id uuid;
UPDATE bench.delivery_ev SET id = bench.uid7(at, 'dlv' || store, period);
-- About two adjustments a week per store: damage, theft, expiry, found stock.
CREATE UNLOGGED TABLE bench.adjust AS
SELECT d.store, d.n, d.day, k,
    ((d.day + time '18:00') + bench.u(d.n * 100000 + (d.day - date '2000-01-01') * 10 + k, 51) * interval '2 hours')
        AT TIME ZONE d.tz AS at,
    v.idx, v.sku, v.cost,
    (ARRAY['damaged', 'damaged', 'theft', 'expired', 'found', 'correction'])
        [1 + (bench.u(d.n * 100000 + (d.day - date '2000-01-01') * 10 + k, 52) * 6)::int % 6] AS reason
FROM bench.day d, generate_series(1, 2) k, bench.variant v
WHERE bench.u(d.n * 100000 + (d.day - date '2000-01-01') * 10 + k, 50) < 2 / 14.0
    AND v.rank = 1 + floor({s.variants} * power(bench.u(d.n * 100000 + (d.day - date '2000-01-01') * 10 + k, 53), 1.6))::int % {s.variants};
DELETE FROM bench.adjust WHERE at > now() - interval '2 minutes';
ALTER TABLE bench.adjust ADD COLUMN id uuid, ADD COLUMN qty bigint;
UPDATE bench.adjust SET id = bench.uid7(at, 'adj' || store || k, n),
    qty = CASE WHEN reason = 'found' THEN 1 WHEN reason = 'correction' THEN 2 ELSE -1 END;
-- Transfers: about two a month per store to a neighbour, 2-5 lines, shipped at 11:00,
-- received the next morning, now and then one short (received less than shipped).
CREATE UNLOGGED TABLE bench.transfer AS
SELECT d.store AS from_store, d.n AS from_n, t.store AS to_store, d.day, d.tz AS from_tz, t.tz AS to_tz,
    md5('xfer' || d.store || d.day)::uuid AS transfer
FROM bench.day d JOIN bench.store t ON t.n = 1 + d.n % {s.stores}
WHERE {s.stores} > 1 AND bench.u(d.n * 100000 + (d.day - date '2000-01-01'), 60) < 2 / 30.0;
CREATE UNLOGGED TABLE bench.transfer_line AS
SELECT t.transfer, k AS line, v.idx, v.sku,
    (2 + (bench.u(hashtext(t.transfer::text)::bigint * 10 + k, 62) * 10)::int) AS qty,
    CASE WHEN bench.u(hashtext(t.transfer::text)::bigint * 10 + k, 63) < 0.05 THEN 1 ELSE 0 END AS short
FROM bench.transfer t, generate_series(1, 2 + (bench.u(hashtext(t.transfer::text), 61) * 4)::int) k,
    bench.variant v
WHERE v.rank = 1 + (bench.u(hashtext(t.transfer::text)::bigint * 10 + k, 64) * least(200, {s.variants}))::int % {s.variants};
DELETE FROM bench.transfer_line a USING bench.transfer_line b
WHERE a.transfer = b.transfer AND a.idx = b.idx AND a.line > b.line;
-- Each transfer's four events: requested by the receiving store the afternoon before,
-- approved and shipped by the sender, received the next morning (those in the past).
CREATE UNLOGGED TABLE bench.transfer_ev AS
SELECT * FROM (
    SELECT t.transfer, 'transfer.requested' AS type, md5('req' || t.transfer)::uuid AS id,
        t.to_store AS store, ((t.day - 1 + time '16:00') AT TIME ZONE t.to_tz) AS at
    FROM bench.transfer t
    UNION ALL
    SELECT t.transfer, 'transfer.approved', md5('apr' || t.transfer)::uuid, t.from_store,
        ((t.day + time '09:00') AT TIME ZONE t.from_tz) FROM bench.transfer t
    UNION ALL
    SELECT t.transfer, 'transfer.shipped', md5('shp' || t.transfer)::uuid, t.from_store,
        ((t.day + time '11:00') AT TIME ZONE t.from_tz) FROM bench.transfer t
    UNION ALL
    SELECT t.transfer, 'transfer.received', md5('rcv' || t.transfer)::uuid, t.to_store,
        ((t.day + 1 + time '08:30') AT TIME ZONE t.to_tz) FROM bench.transfer t
) e WHERE at < now() - interval '2 minutes' AND at >= (current_date - {s.days})::timestamp AT TIME ZONE 'UTC';
-- Stocktakes: every variant, at 06:00 local on the opening day and a year on. The opening
-- count is six weeks of the variant's expected sales plus its reorder point; the later one
-- is filled in from the book (see "stocktakes").
CREATE UNLOGGED TABLE bench.count_ev AS
SELECT s.store, s.n, k, ((CASE k WHEN 1 THEN {first_day} ELSE {stocktake_day} END) + time '06:00')
    AT TIME ZONE s.tz AS at, md5('count' || s.store || k)::uuid AS count
FROM bench.store s, generate_series(1, 2) k;
DELETE FROM bench.count_ev WHERE at > now() - interval '2 minutes';
ALTER TABLE bench.count_ev ADD COLUMN id uuid;
UPDATE bench.count_ev SET id = bench.uid7(at, 'cnt' || store, k);
""",
        ),
    ]


def seed_events_steps(spec: Spec) -> list[tuple[str, str]]:
    """The events of everything staged, numbered per origin and per store, then the
    projections ingest writes beside them."""
    s = spec
    return [
        (
            "event envelopes",
            """
CREATE UNLOGGED TABLE bench.ev (id uuid, store text, origin text, type text, at timestamptz,
    actor text, override jsonb, body jsonb);
INSERT INTO bench.ev
SELECT s.id, s.store, s.origin, 'sale.completed', s.at, s.actor,
    CASE WHEN o.id IS NOT NULL THEN jsonb_build_object('id', o.id, 'action', o.action,
        'approver', o.approver, 'offline', o.offline) END,
    jsonb_build_object('receipt', s.receipt, 'shift', s.shift, 'catalog_version', 1,
        'currency', 'EUR',
        'lines', b.lines,
        'tenders', jsonb_build_array(CASE WHEN s.cash
            THEN jsonb_build_object('kind', 'cash', 'amount', b.total, 'tendered', (b.total + 499) / 500 * 500)
            ELSE jsonb_build_object('kind', 'card', 'amount', b.total, 'reference', 'A' || s.sale_no) END),
        'totals', jsonb_build_object('subtotal', b.subtotal, 'discount', b.discount, 'tax', b.tax,
            'total', b.total))
FROM bench.sale s JOIN bench.sale_body b ON b.sale_no = s.sale_no
LEFT JOIN bench.override o ON o.sale_no = s.sale_no AND o.action <> 'post_void';
INSERT INTO bench.ev
SELECT r.id, r.store, r.origin, 'return.completed', r.at, r.actor, NULL,
    jsonb_build_object('receipt', r.receipt, 'shift', r.shift, 'original', r.original,
        'lines', jsonb_build_array(jsonb_build_object('line', 1, 'original_line', 1,
            'variant', bench.vuid(r.store, r.sku), 'qty', r.qty, 'refund', r.refund,
            'tax', r.tax, 'reason', r.reason)),
        'tenders', jsonb_build_array(jsonb_build_object('kind', 'cash', 'amount', r.refund)),
        'totals', jsonb_build_object('total', r.refund, 'tax', r.tax))
FROM bench.ret2 r;
INSERT INTO bench.ev
SELECT v.id, v.store, v.origin, 'sale.voided', v.at, v.actor,
    jsonb_build_object('id', o.id, 'action', 'post_void', 'approver', o.approver, 'offline', false),
    jsonb_build_object('sale', s.id, 'receipt', v.receipt, 'reason', 'customer changed mind')
FROM bench.void v JOIN bench.sale s ON s.sale_no = v.sale_no
JOIN bench.override o ON o.sale_no = v.sale_no AND o.action = 'post_void';
INSERT INTO bench.ev
SELECT o.id, o.store, o.origin, 'override.granted', o.at, o.approver, NULL,
    jsonb_build_object('approval', o.id, 'action', o.action, 'amount', o.amount, 'currency', 'EUR',
        'requester', o.requester, 'approver', o.approver, 'register', o.origin,
        'reason', CASE o.action WHEN 'post_void' THEN 'customer changed mind'
            WHEN 'price_override' THEN 'price match' ELSE 'loyal customer' END,
        'expires_at', bench.iso(o.at + interval '60 seconds'), 'offline', o.offline)
FROM bench.override o;
INSERT INTO bench.ev
SELECT h.open_id, h.store, h.origin, 'shift.opened', h.opened_at, h.actor, NULL,
    jsonb_build_object('shift', h.shift, 'float', jsonb_build_object('counts',
        jsonb_build_object('2000', 5, '1000', 5, '500', 4, '100', 20), 'total', 20500))
FROM bench.shift h WHERE h.opened_at < now();
INSERT INTO bench.ev
SELECT h.close_id, h.store, h.origin, 'shift.closed', h.closed_at, h.actor, NULL,
    jsonb_build_object('shift', h.shift, 'cash', jsonb_build_object('counts',
        jsonb_build_object('100', greatest(h.counted, 0) / 100, '1', greatest(h.counted, 0) % 100),
        'total', greatest(h.counted, 0)),
        'counted', jsonb_build_object('cash', greatest(h.counted, 0)))
FROM bench.shift h WHERE h.closed_at < now();
INSERT INTO bench.ev
SELECT e.id, e.store, e.store || '-ap', 'stock.received', e.at, e.store || '-mgr', NULL,
    jsonb_build_object('reference', 'PO-' || e.store || '-' || e.period, 'vendor', NULL,
        'lines', d.lines)
FROM bench.delivery_ev e JOIN (SELECT store, period, jsonb_agg(jsonb_build_object('variant',
        bench.vuid(store, sku), 'qty', qty, 'cost', cost) ORDER BY idx) AS lines
    FROM bench.delivery GROUP BY store, period) d ON d.store = e.store AND d.period = e.period;
INSERT INTO bench.ev
SELECT a.id, a.store, a.store || '-ap', 'stock.adjusted', a.at, a.store || '-mgr', NULL,
    jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('variant',
        bench.vuid(a.store, a.sku), 'qty', a.qty, 'reason', a.reason)))
FROM bench.adjust a;
CREATE UNLOGGED TABLE bench.transfer_json AS
SELECT t.transfer,
    jsonb_agg(jsonb_build_object('variant', bench.vuid(t.from_store, l.sku), 'qty', l.qty)
        ORDER BY l.line) AS sent,
    jsonb_agg(jsonb_build_object('variant', bench.vuid(t.to_store, l.sku), 'qty', l.qty - l.short)
        ORDER BY l.line) AS got,
    sum(l.short) AS short
FROM bench.transfer t JOIN bench.transfer_line l ON l.transfer = t.transfer GROUP BY t.transfer;
INSERT INTO bench.ev
SELECT e.id, e.store, e.store || '-ap', e.type, e.at, e.store || '-mgr', NULL,
    CASE e.type
    WHEN 'transfer.requested' THEN jsonb_build_object('transfer', t.transfer,
        'from_store', t.from_store, 'to_store', t.to_store, 'lines', j.sent)
    WHEN 'transfer.approved' THEN jsonb_build_object('transfer', t.transfer)
    WHEN 'transfer.shipped' THEN jsonb_build_object('transfer', t.transfer,
        'to_store', t.to_store, 'lines', j.sent)
    ELSE jsonb_build_object('transfer', t.transfer, 'from_store', t.from_store,
        'lines', j.got, 'reason', CASE WHEN j.short > 0 THEN 'one broken in transit' END) END
FROM bench.transfer_ev e JOIN bench.transfer t ON t.transfer = e.transfer
JOIN bench.transfer_json j ON j.transfer = t.transfer;
""",
        ),
        (
            "sale facts",
            """
INSERT INTO sale_fact (event, line, kind, store, register, receipt, at, variant, qty, qty_scale,
    net, tax, discount, currency)
SELECT s.id, l.line, 'sale', s.store, s.origin, s.receipt, s.at, bench.vuid(s.store, l.sku),
    l.qty, 1, l.net, l.tax, l.discount, 'EUR'
FROM bench.sale s JOIN bench.line l ON l.sale_no = s.sale_no;
INSERT INTO sale_fact (event, line, kind, store, register, receipt, at, variant, qty, qty_scale,
    net, tax, discount, currency)
SELECT v.id, l.line, 'void', v.store, v.origin, v.receipt, v.at, bench.vuid(v.store, l.sku),
    -l.qty, 1, -l.net, -l.tax, -l.discount, 'EUR'
FROM bench.void v JOIN bench.line l ON l.sale_no = v.sale_no;
INSERT INTO sale_fact (event, line, kind, store, register, receipt, at, variant, qty, qty_scale,
    net, tax, discount, currency)
SELECT r.id, 1, 'return', r.store, r.origin, r.receipt, r.at, bench.vuid(r.store, r.sku),
    -r.qty, 1, -(r.refund - r.tax), -r.tax, 0, NULL
FROM bench.ret2 r;
""",
        ),
        (
            "ledger",
            """
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT s.id, l.line, s.store, bench.vuid(s.store, l.sku), 'sale', -l.qty, bench.wall(s.at), 0,
    s.origin, s.origin, s.at, NULL
FROM bench.sale s JOIN bench.line l ON l.sale_no = s.sale_no;
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT v.id, l.line, v.store, bench.vuid(v.store, l.sku), 'void', l.qty, bench.wall(v.at), 0,
    v.origin, v.origin, v.at, NULL
FROM bench.void v JOIN bench.line l ON l.sale_no = v.sale_no;
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT r.id, 1, r.store, bench.vuid(r.store, r.sku), 'return', r.qty, bench.wall(r.at), 0,
    r.origin, r.origin, r.at, r.reason
FROM bench.ret2 r WHERE r.reason IN ('changed_mind', 'wrong_size', 'not_as_described');
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT e.id, row_number() OVER (PARTITION BY e.id ORDER BY d.idx), e.store,
    bench.vuid(e.store, d.sku), 'receipt', d.qty, bench.wall(e.at), 0, e.store || '-ap',
    e.store || '-ap', e.at, 'PO-' || e.store || '-' || e.period
FROM bench.delivery_ev e JOIN bench.delivery d ON d.store = e.store AND d.period = e.period;
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT a.id, 1, a.store, bench.vuid(a.store, a.sku), 'adjust', a.qty, bench.wall(a.at), 0,
    a.store || '-ap', a.store || '-ap', a.at, a.reason
FROM bench.adjust a;
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT e.id, l.line, e.store, bench.vuid(e.store, l.sku),
    CASE e.type WHEN 'transfer.shipped' THEN 'transfer_out' ELSE 'transfer_in' END,
    CASE e.type WHEN 'transfer.shipped' THEN -l.qty ELSE l.qty - l.short END,
    bench.wall(e.at), 0, e.store || '-ap', e.store || '-ap', e.at, e.transfer::text
FROM bench.transfer_ev e JOIN bench.transfer_line l ON l.transfer = e.transfer
WHERE e.type IN ('transfer.shipped', 'transfer.received');
""",
        ),
        (
            "stocktakes",
            """
-- The opening count, then the later stocktake from the book at that moment, less a little
-- shrink (one variant in 12 short by one or two, one in 60 over by one).
CREATE UNLOGGED TABLE bench.count_line AS
SELECT c.id, c.store, c.at, v.idx, v.sku,
    ceil(6 * 7 * 2.6 * d.daily * power((v.rank)::float8, 1 / 2.2 - 1) / (2.2 * power({variants}::float8, 1 / 2.2)))::bigint
        + cv.reorder_point AS counted
FROM bench.count_ev c JOIN bench.variant v ON true JOIN catalog_variant cv ON cv.id = v.idx
JOIN (SELECT store, avg(sales) AS daily FROM bench.day GROUP BY store) d ON d.store = c.store
WHERE c.k = 1;
INSERT INTO bench.count_line
SELECT c.id, c.store, c.at, v.idx, v.sku,
    greatest(0, o.counted + COALESCE(b.qty, 0)
        - CASE WHEN bench.u(hashtext(c.store)::bigint * 10000 + v.idx, 70) < 1 / 12.0
               THEN 1 + (bench.u(hashtext(c.store)::bigint * 10000 + v.idx, 71) * 2)::int % 2
               WHEN bench.u(hashtext(c.store)::bigint * 10000 + v.idx, 70) > 59 / 60.0 THEN -1 ELSE 0 END)
FROM bench.count_ev c JOIN bench.variant v ON true
JOIN bench.count_line o ON o.store = c.store AND o.idx = v.idx
LEFT JOIN (SELECT l.store, l.variant, sum(l.qty) AS qty FROM stock_ledger l
           JOIN bench.count_ev c2 ON c2.store = l.store AND c2.k = 2
           WHERE l.at < c2.at GROUP BY l.store, l.variant) b
    ON b.store = c.store AND b.variant = bench.vuid(c.store, v.sku)
WHERE c.k = 2;
INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
    origin, at, reason)
SELECT c.id, row_number() OVER (PARTITION BY c.id ORDER BY c.idx), c.store,
    bench.vuid(c.store, c.sku), 'count', c.counted, bench.wall(c.at), 0, c.store || '-ap',
    c.store || '-ap', c.at, NULL
FROM bench.count_line c;
INSERT INTO bench.ev
SELECT c.id, c.store, c.store || '-ap', 'stock.counted', c.at, c.store || '-mgr', NULL,
    jsonb_build_object('count', c.count, 'scope', 'full', 'blind', false,
        'lines', l.lines)
FROM bench.count_ev c JOIN (SELECT id, jsonb_agg(jsonb_build_object('variant',
        bench.vuid(store, sku), 'counted', counted) ORDER BY idx) AS lines
    FROM bench.count_line GROUP BY id) l ON l.id = c.id;
""".replace("{variants}", str(s.variants)),
        ),
        (
            "event numbers",
            """
-- seq per origin and store_seq per store in time order; prev links each origin's chain
-- (the hashes are stand-ins: 64 hex digits, not the envelope's SHA-256).
CREATE UNLOGGED TABLE bench.num AS
SELECT id, origin, store, row_number() OVER (PARTITION BY origin ORDER BY at, id) AS seq,
    row_number() OVER (PARTITION BY store ORDER BY at, origin, id) AS store_seq,
    lag(id) OVER (PARTITION BY origin ORDER BY at, id) AS prev
FROM bench.ev;
CREATE FUNCTION bench.fakehash(id uuid) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT md5(id::text) || md5(id::text || 'h') $$;
UPDATE origin o SET last_seq = n.seq, last_hash = bench.fakehash(n.id)
FROM (SELECT DISTINCT ON (origin) origin, id, seq FROM bench.num ORDER BY origin, seq DESC) n
WHERE n.origin = o.id;
UPDATE store_cursor c SET applied_through = n.last
FROM (SELECT store, max(store_seq) AS last FROM bench.num GROUP BY store) n WHERE n.store = c.store;
""",
        ),
        *[
            (
                f"events {half + 1} of 2",
                f"""
INSERT INTO event (id, store, origin, seq, store_seq, type, hlc, at, actor, envelope, received_at)
SELECT e.id, e.store, e.origin, n.seq, n.store_seq, e.type,
    bench.wall(e.at) || '.0.' || e.origin, e.at, e.actor,
    jsonb_build_object('v', 1, 'id', e.id, 'type', e.type, 'store', e.store, 'origin', e.origin,
        'seq', n.seq, 'hlc', bench.wall(e.at) || '.0.' || e.origin, 'at', bench.iso(e.at),
        'actor', e.actor, 'override', e.override, 'body', e.body,
        'prev', CASE WHEN n.prev IS NULL THEN NULL ELSE bench.fakehash(n.prev) END,
        'hash', bench.fakehash(e.id)),
    e.at + interval '3 seconds'
FROM bench.ev e JOIN bench.num n ON n.id = e.id
WHERE hashtext(e.store) & 1 = {half};
""",
            )
            for half in (0, 1)
        ],
        (
            "on-hand (the fold), shifts and Z reports",
            """
INSERT INTO on_hand (store, variant, qty, anchor_event, anchor_wall, anchor_counter, anchor_node,
    anchor_origin, as_of)
SELECT a.store, a.variant, a.qty + COALESCE(sum(l.qty), 0), a.event, a.hlc_wall, 0, a.hlc_node,
    a.origin, now()
FROM (SELECT DISTINCT ON (store, variant) store, variant, event, qty, hlc_wall, hlc_node, origin
      FROM stock_ledger WHERE kind = 'count'
      ORDER BY store, variant, hlc_wall DESC) a
LEFT JOIN stock_ledger l ON l.store = a.store AND l.variant = a.variant AND l.kind <> 'count'
    AND l.hlc_wall > a.hlc_wall
GROUP BY a.store, a.variant, a.event, a.qty, a.hlc_wall, a.hlc_node, a.origin;
INSERT INTO shift_summary (store, shift, register, opened_at, closed_at, opening_float,
    counted_cash, sales, sales_total, returns, refunds_total)
SELECT h.store, h.shift, h.origin, h.opened_at,
    CASE WHEN h.closed_at < now() THEN h.closed_at END, 20500,
    CASE WHEN h.closed_at < now() THEN greatest(h.counted, 0) END,
    h.sales, h.sales_total, h.returns, h.refunds
FROM bench.shift h WHERE h.opened_at < now();
INSERT INTO z_summary (store, number, shift, event, register, closed_at, sales, sales_total,
    returns, refunds_total, counted_cash)
SELECT h.store, row_number() OVER (PARTITION BY h.store ORDER BY h.closed_at, h.origin),
    h.shift, h.close_id, h.origin, h.closed_at, h.sales, h.sales_total, h.returns, h.refunds,
    greatest(h.counted, 0)
FROM bench.shift h WHERE h.closed_at < now();
-- A few dead letters and alerts, as a real fleet has.
INSERT INTO dead_letter (topic, store, raw, reason, received_at)
SELECT 'tillbox/v1/stores/' || store || '/events', store, convert_to('{"from": 1, "to": ', 'UTF8'),
    'not a batch: truncated JSON', now() - n * interval '3 days'
FROM bench.store WHERE n % 40 = 1;
INSERT INTO alert (kind, store, details, raised_at)
SELECT 'dead_letter', store, jsonb_build_object('reason', 'not a batch: truncated JSON'),
    now() - n * interval '3 days'
FROM bench.store WHERE n % 40 = 1;
""",
        ),
    ]


def _load_indexes(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes and keys of the bulk-loaded tables (and foreign keys that point at
    them); the statements that put them back, in order."""
    rows = conn.execute(
        "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid), c.contype"
        " FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'f')"
        " AND (c.conrelid::regclass::text = ANY(%s) OR (c.contype = 'f'"
        "      AND c.confrelid::regclass::text = ANY(%s)))",
        (list(tables), list(tables)),
    ).fetchall()
    keys = [r for r in rows if r[3] in "pu"]
    fkeys = [r for r in rows if r[3] == "f"]
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid::regclass::text = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (list(tables),),
    ).fetchall()
    restore = []
    for name, table, _, _ in fkeys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'.encode())
    for name, table, definition, _ in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'.encode())
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}".encode())
        restore.append(definition)
    restore += [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for n, t, d, _ in fkeys]
    return restore


BULK_TABLES = ("event", "sale_fact", "stock_ledger", "on_hand")
PROJECTION_MODULES = ("transfers", "audit_facts", "low_stock", "rollups")


def seed_key(spec: Spec) -> dict[str, Any]:
    """What a seeded database must match to be reused: spec, seeding code, migrations, day."""
    sql = _seed_functions(spec.seed) + [s for _, s in seed_steps(spec) + seed_events_steps(spec)]
    code = hashlib.sha256("\n".join(sql).encode()).hexdigest()[:12]
    return {
        "spec": asdict(spec),
        "seed_version": SEED_VERSION,
        "seeder": code,
        # By content: a migration edited in place (before it ships) changes the schema too.
        "migrations": [
            f"{m.name}:{hashlib.sha256(m.sql.encode()).hexdigest()[:8]}" for m in migrations()
        ],
        "day": date.today().isoformat(),
    }


def _database_comment(admin: str, name: str) -> str | None:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if row is None else (row[0] or "")


def ensure_seeded(
    admin: str, spec: Spec, *, reseed: bool, verbose: bool = False, rebuild_too: bool = False
) -> tuple[str, dict[str, Any]]:
    """The seeded database's DSN and what seeding it took (reused when it matches)."""
    key = seed_key(spec)
    comment = _database_comment(admin, spec.database)
    if comment and not reseed:
        try:
            stored = json.loads(comment)
        except ValueError:
            stored = {}
        if stored.get("key") == key:
            print(f"{spec.database}: seeded at the same key, reused", flush=True)
            return dsn_for(admin, spec.database), stored["report"]
    report = seed(admin, spec, verbose=verbose, rebuild_too=rebuild_too)
    with psycopg.connect(admin, autocommit=True) as conn:
        text = json.dumps({"key": key, "report": report}).replace("'", "''")
        conn.execute(f"COMMENT ON DATABASE \"{spec.database}\" IS '{text}'".encode())
    return dsn_for(admin, spec.database), report


def dsn_for(admin: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


def seed(
    admin: str, spec: Spec, *, verbose: bool = False, rebuild_too: bool = False
) -> dict[str, Any]:
    """Create, migrate to the base schema, fill, migrate the rest, rebuild projections."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{spec.database}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{spec.database}"'.encode())
    dsn = dsn_for(admin, spec.database)
    steps: dict[str, float] = {}
    started = time.perf_counter()

    def step(what: str, run: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        print(f"  {spec.name}: {what} …", end="", flush=True)
        value = run()
        steps[what] = round(time.perf_counter() - t0, 2)
        print(f" {steps[what]:.1f} s", flush=True)
        return value

    with connect(dsn) as conn:
        step("base schema", lambda: _migrate_through(conn, BASE_SCHEMA))
        small = spec.lines < 1_000_000
        _session(conn, small=small)
        conn.execute("CREATE SCHEMA bench")
        for statement in _seed_functions(spec.seed):
            conn.execute(statement.encode())
        restore = _load_indexes(conn, BULK_TABLES)
        together: list[tuple[str, str]] = []
        for what, sql in seed_steps(spec) + seed_events_steps(spec):
            group = next((g for g in SIDE_BY_SIDE if what in g), None)
            if group is not None:
                together.append((what, sql))
                if len(together) < len(group):
                    continue
                step(
                    " + ".join(w for w, _ in together) + " (side by side)",
                    lambda together=together: _side_by_side(
                        dsn, together, verbose=verbose, small=small
                    ),
                )
                together = []
            else:
                step(what, lambda sql=sql: _statements(conn, sql, verbose=verbose))
        step("indexes and keys", lambda: _restore(dsn, restore, small=small))
        counts = {
            table: int(conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()[0])  # type: ignore[index]
            for table in ("event", "sale_fact", "stock_ledger", "on_hand", "shift_summary")
        }
        conn.execute("DROP SCHEMA bench CASCADE")
        # The HQ projections' migrations run over the history as on an upgrade: their
        # backfills are the projections' first fill.
        for m in migrations():
            if m.version > BASE_SCHEMA:
                step(f"migration {m.name}", lambda m=m: _apply(conn, m))
        migrate(conn)
        rebuilt, available, missing = [], [], []
        for name in PROJECTION_MODULES:
            module = importlib.import_module(f"cloud.{name}")
            rebuild = getattr(module, "rebuild", None)
            if rebuild is None:
                missing.append(name)
            elif not rebuild_too:
                available.append(name)
            else:
                step(f"{name}.rebuild", lambda rebuild=rebuild: _in_transaction(conn, rebuild))
                rebuilt.append(name)
        step("vacuum analyze", lambda: conn.execute("VACUUM (ANALYZE)"))
        size = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    total = round(time.perf_counter() - started, 1)
    print(f"  {spec.name}: seeded in {total:.0f} s: {counts}, {size[0] if size else '?'}")
    return {
        "seconds": total,
        "steps": steps,
        "counts": counts,
        "size": size[0] if size else "?",
        "rebuilt": rebuilt,
        "rebuild_not_called": available,
        "no_rebuild": missing,
    }


# Steps run each in a session of its own, at once (the box has two cores; one session uses
# one): they fill different tables from the staged rows, or halves of one.
SIDE_BY_SIDE = (("event envelopes", "sale facts", "ledger"), ("events 1 of 2", "events 2 of 2"))


def _session(conn: psycopg.Connection[Any], *, small: bool) -> None:
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET synchronous_commit = off")
    if small:
        # Compiling a statement's expressions takes about a second, more than a small set's
        # whole statement (the planner takes generate_series for 1,000 rows).
        conn.execute("SET jit = off")


def _side_by_side(dsn: str, steps: list[tuple[str, str]], *, verbose: bool, small: bool) -> None:
    def run(sql: str) -> None:
        with connect(dsn) as conn:
            _session(conn, small=small)
            _statements(conn, sql, verbose=verbose)

    with ThreadPoolExecutor(len(steps)) as pool:
        for future in [pool.submit(run, sql) for _, sql in steps]:
            future.result()


def _restore(dsn: str, restore: list[str], *, small: bool) -> None:
    """Keys first (two sessions: the tables' own), then indexes (two sessions), then the
    foreign keys (they need the keys)."""
    keys = [s for s in restore if " PRIMARY KEY " in s or " UNIQUE " in s]
    fkeys = [s for s in restore if " FOREIGN KEY " in s]
    indexes = [s for s in restore if s not in keys and s not in fkeys]

    def run(statements: list[str]) -> None:
        with connect(dsn) as conn:
            _session(conn, small=small)
            for statement in statements:
                conn.execute(statement.encode())

    for batch in (keys, indexes):
        # By table, so two sessions never wait on one table's lock.
        tables: dict[str, list[str]] = {}
        for statement in batch:
            table = (
                statement.split(" ON ")[1].split()[0]
                if " ON " in statement
                else statement.split()[2]
            )
            tables.setdefault(table, []).append(statement)
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(run, group) for group in tables.values()]:
                future.result()
    run(fkeys)


def _statements(conn: psycopg.Connection[Any], sql: str, *, verbose: bool) -> None:
    """Run a step's statements one at a time; with `verbose`, say which took a second or more."""
    for statement in (s for s in sql.split(";\n") if s.strip()):
        started = time.perf_counter()
        conn.execute(statement.encode())
        took = time.perf_counter() - started
        if verbose and took >= 1:
            head = " ".join(statement.split())[:90]
            print(f"\n    {took:6.1f} s  {head}", end="", flush=True)


def _in_transaction(conn: psycopg.Connection[Any], rebuild: Callable[..., Any]) -> None:
    with conn.transaction():
        rebuild(conn, store=None)


def _migrate_through(conn: psycopg.Connection[Any], last: int) -> None:
    """cloud.migrate.migrate's bookkeeping for the migrations up to `last` only."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for m in migrations():
        if m.version <= last:
            _apply(conn, m)


def _apply(conn: psycopg.Connection[Any], m: Migration) -> None:
    """One migration in its own transaction, recorded as cloud.migrate records it."""
    with conn.transaction():
        conn.execute(m.sql.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name)
        )


# ---- page timing ------------------------------------------------------------------------------


class _Forms(html.parser.HTMLParser):
    """The GET forms of a page (their fields and choices) and its links to CSV files."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, dict[str, Any]] = {}
        self.csv: list[str] = []
        self._form_get = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "form":
            self._form_get = a.get("method", "get").lower() == "get"
        elif tag == "a" and ".csv" in a.get("href", ""):
            self.csv.append(a["href"])
        elif tag == "option" and self._select is not None and a.get("value"):
            self.fields[self._select]["options"].append(a["value"])
        elif not self._form_get or not name:
            return
        elif tag == "select":
            self._select = name
            self.fields.setdefault(name, {"type": "select", "options": []})
        elif tag == "input" and a.get("type", "text") not in ("submit", "hidden", "button"):
            self.fields.setdefault(name, {"type": a.get("type", "text"), "options": []})

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form_get = False
        elif tag == "select":
            self._select = None


# Every statement HQ's request threads run, with its time, so a slow page can be traced to
# its slowest query (the server runs in this process: psycopg's Cursor.execute is wrapped).
STATEMENTS: list[tuple[float, Any, Any]] = []
_real_execute = psycopg.Cursor.execute


def _timed_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
    if not threading.current_thread().name.startswith("waitress"):
        return _real_execute(self, query, params, **kwargs)
    started = time.perf_counter()
    try:
        return _real_execute(self, query, params, **kwargs)
    finally:
        STATEMENTS.append(((time.perf_counter() - started) * 1000, query, params))


APP_NAME = "tillbox_hq_bench"
# A page that has not answered in this long is given up on (status 0, "timed out"): its
# queries are cancelled, so the next page does not queue behind them.
LIMIT_S = 10.0


class Client:
    """One keep-alive HTTP connection with a signed-in session cookie."""

    def __init__(self, base: str, cookie: str, dsn: str) -> None:
        self.parts = urllib.parse.urlsplit(base)
        self.cookie = cookie
        self.dsn = dsn
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            self.parts.hostname or "", self.parts.port, timeout=LIMIT_S
        )

    def get(self, path: str) -> tuple[int, bytes, float]:
        STATEMENTS.clear()
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers={"Cookie": f"{COOKIE}={self.cookie}"})
            answer = self.conn.getresponse()
            body = answer.read()
        except TimeoutError:
            self.conn.close()
            self._cancel()
            self.conn = self._connect()
            return 0, b"", LIMIT_S * 1000
        return answer.status, body, (time.perf_counter() - started) * 1000

    def _cancel(self) -> None:
        """Cancel HQ's queries until its request has given up (each cancel fails it)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for _ in range(100):
                row = conn.execute(
                    "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = %s AND state = 'active'",
                    (APP_NAME,),
                ).fetchone()
                if not row or not row[0]:
                    time.sleep(0.2)
                    again = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = %s AND state = 'active'",
                        (APP_NAME,),
                    ).fetchone()
                    if not again or not again[0]:
                        return
                time.sleep(0.05)


@contextmanager
def hq_server(dsn: str) -> Iterator[str]:
    """HQ on waitress on a free port (as `tillbox cloud serve` runs it), its base URL."""
    from waitress import wasyncore
    from waitress.server import create_server

    # A page whose query runs past LIMIT_S is cut off there (a 500, timed as such) rather
    # than holding the run for as long as it takes.
    guarded = psycopg.conninfo.make_conninfo(
        dsn, application_name=APP_NAME, options=f"-c statement_timeout={int(LIMIT_S * 1000)}"
    )
    app = create_app(HqSettings(dsn=guarded, cookie_secure="never"))
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="tillbox-hq")
    thread = threading.Thread(target=server.run, name="waitress-hq", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:

        def shut_down() -> None:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)

        server.trigger.pull_trigger(shut_down)
        thread.join(timeout=10)


def sign_in(dsn: str, role: str, stores: list[str]) -> str:
    """A session cookie for a bench user of this role (created the first time)."""
    username = f"bench-{role.replace('_', '-')}"
    hashes = accounts.Passwords(time_cost=1, memory_kib=64)
    password = secrets.token_urlsafe(12) + "-x1"
    with connect(dsn) as conn:
        row = conn.execute("SELECT id FROM hq_user WHERE username = %s", (username,)).fetchone()
        if row is None:
            accounts.add_user(
                conn,
                hashes,
                username=username,
                name=f"Bench {role}",
                role=role,
                password=password,
                stores=stores,
                by=None,
                address="bench",
            )
        else:
            accounts.set_password(
                conn, hashes, int(row[0]), password=password, by=None, address="bench"
            )
        started = accounts.sign_in(
            conn, hashes, username=username, password=password, address="127.0.0.1"
        )
    return started.token


@dataclass
class Timing:
    """One URL's times."""

    label: str
    path: str
    status: int
    times: list[float] = field(default_factory=list)
    size: int = 0
    # The warm-up GET's time (not among `times`).
    warm: float = 0.0
    # The request's slowest statement the last time: ms and its SQL (and, in `plan`, the
    # start of its EXPLAIN ANALYZE when the page missed its target).
    slowest_ms: float = 0.0
    slowest_sql: str = ""
    statements: int = 0
    plan: str = ""
    # Not in the JSON: the slowest statement's query and parameters, for EXPLAIN.
    _slowest: tuple[Any, Any] | None = field(default=None, repr=False)

    def note(self, statements: list[tuple[float, Any, Any]]) -> None:
        """Keep the request's slowest statement."""
        if not statements:
            return
        ms, query, params = max(statements, key=lambda s: s[0])
        self.slowest_ms, self.statements = ms, len(statements)
        self.slowest_sql = " ".join(_sql_text(query).split())[:400]
        self._slowest = (query, params)


Warm = tuple[int, bytes, float]


def _sql_text(query: Any) -> str:
    if isinstance(query, bytes):
        return query.decode()
    if isinstance(query, str):
        return query
    return str(getattr(query, "_obj", None) or query)


def explain(dsn: str, query: Any, params: Any) -> str:
    """The first lines of EXPLAIN ANALYZE of one of HQ's statements, with its parameters."""
    with connect(dsn) as conn:
        conn.execute(f"SET statement_timeout = {int(LIMIT_S * 2000)}".encode())
        text = _sql_text(query)
        try:
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}".encode(), params).fetchall()
        except psycopg.Error as exc:
            return f"(EXPLAIN failed: {exc})"
    return "\n".join(r[0] if len(r[0]) <= 150 else r[0][:147] + "…" for r in rows[:14])


def page_urls(
    client: Client, role: str, first_store: str, *, variants: bool
) -> list[tuple[str, str, Warm | None]]:
    """(label, path, the GET that found it) for each GET page without path arguments, each
    CSV it links and, with `variants`, each filtered variant its own GET form offers."""
    urls: list[tuple[str, str, Warm | None]] = []
    seen: set[str] = set()

    def add(label: str, path: str, warm: Warm | None = None) -> None:
        if path not in seen:
            seen.add(path)
            urls.append((label, path, warm))

    today = date.today()
    q = urllib.parse.urlencode
    for endpoint, spec in sorted(ROUTES.items()):
        if "GET" not in spec.methods or "<" in spec.rule or spec.roles is None:
            continue
        if role not in {r.value for r in spec.roles}:
            continue
        if endpoint in ("hq.logout",):
            continue
        if spec.rule.endswith(".csv"):
            add(endpoint, spec.rule)
            continue
        found = client.get(spec.rule)
        add(endpoint, spec.rule, found)
        status, body, _ = found
        if status != 200:
            continue
        forms = _Forms()
        forms.feed(body.decode("utf-8", "replace"))
        for href in forms.csv:
            path = urllib.parse.urlsplit(urllib.parse.urljoin(spec.rule, href))
            add(f"{endpoint} CSV link", path.path + (f"?{path.query}" if path.query else ""))
        fields = forms.fields if variants else {}
        if "store" in fields:
            add(f"{endpoint} ?store", f"{spec.rule}?store={first_store}")
        for name in ("category", "vendor"):
            options = fields.get(name, {}).get("options", [])
            if options:
                add(f"{endpoint} ?{name}", f"{spec.rule}?{q({name: options[len(options) // 2]})}")
        dates = [n for n, f in fields.items() if f["type"] == "date"]
        if len(dates) >= 2:
            start, end = dates[0], dates[1]
            add(
                f"{endpoint} 90-day range",
                f"{spec.rule}?{q({start: today - timedelta(days=90), end: today})}",
            )
        for name, f in fields.items():
            if f["type"] == "select" and name not in ("store", "category", "vendor"):
                # The first choice is the page's default; two others.
                for option in f["options"][1:3]:
                    add(f"{endpoint} ?{name}={option}", f"{spec.rule}?{q({name: option})}")
    return urls


def time_pages(
    dsn: str,
    *,
    role: str,
    stores: list[str],
    repeat: int,
    budget_s: float,
    first_store: str,
    target_ms: float,
) -> list[Timing]:
    """Every page's times as this user: a warm-up GET, then up to `repeat` more in turn; a
    page stops after 5 when its times have used up `budget_s` (slow pages on a big set)."""
    psycopg.Cursor.execute = _timed_execute  # type: ignore[method-assign]
    try:
        return _time_pages(dsn, role, stores, repeat, budget_s, first_store, target_ms)
    finally:
        psycopg.Cursor.execute = _real_execute  # type: ignore[method-assign]


def _time_pages(
    dsn: str,
    role: str,
    stores: list[str],
    repeat: int,
    budget_s: float,
    first_store: str,
    target_ms: float,
) -> list[Timing]:
    with hq_server(dsn) as base:
        client = Client(base, sign_in(dsn, role, stores), dsn)
        urls = page_urls(client, role, first_store, variants=role == "admin")
        urls = [u for u in urls if u[1] != "/hq/account"]
        urls.append(("raw: /hq/account (the trivial page)", "/hq/account", None))
        timings = []
        for label, path, found in urls:
            # The GET that found a page is its warm-up.
            status, body, warm = found or client.get(path)
            timings.append(Timing(label=label, path=path, status=status, size=len(body), warm=warm))
            if found is None:
                timings[-1].note(STATEMENTS)
        for n in range(repeat):
            for t in timings:
                spent = t.warm + sum(t.times)
                # At least 5 times, or 2 when the warm-up alone took the budget, or 1 when the
                # page failed slowly; more while the budget lasts.
                if t.status != 200:
                    least = 0 if t.warm > budget_s * 1000 else 1
                else:
                    least = 2 if t.warm > budget_s * 1000 else 5
                if n >= least and spent > budget_s * 1000:
                    continue
                status, _, ms = client.get(t.path)
                t.note(STATEMENTS)
                t.status = status if t.status == 200 else t.status
                t.times.append(ms)
        client.conn.close()
    # The slowest statement of the worst pages that missed the target, explained (once per
    # statement text, at most 4 of them).
    missed = sorted(
        (t for t in timings if t._slowest and _p95(sorted(t.times or [t.warm])) > target_ms),
        key=lambda t: -_p95(sorted(t.times or [t.warm])),
    )
    explained: dict[str, str] = {}
    for t in missed:
        key = t.slowest_sql[:200]
        if key not in explained and len(explained) < 4 and t._slowest is not None:
            explained[key] = explain(dsn, *t._slowest)
        t.plan = explained.get(key, "")
    return timings


def raw_sql(dsn: str, repeat: int) -> dict[str, float]:
    """The raw limits in SQL: p95 ms of a plain scan summing every sale fact of the last 90
    days by day, and of the same over the whole history."""
    queries = {
        "sale_fact, 90 days summed by day (plain SQL)": "SELECT date_trunc('day', at), sum(net),"
        " sum(qty) FROM sale_fact WHERE at >= now() - interval '90 days' GROUP BY 1",
        "sale_fact, whole history summed by store (plain SQL)": "SELECT store, sum(net)"
        " FROM sale_fact GROUP BY 1",
    }
    out = {}
    with connect(dsn) as conn:
        for label, sql in queries.items():
            conn.execute(sql.encode()).fetchall()
            times = []
            for _ in range(max(3, repeat // 4)):
                started = time.perf_counter()
                conn.execute(sql.encode()).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[label] = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    return out


# ---- ingest with and without HQ's projections --------------------------------------------------


def _known_store(conn: psycopg.Connection[Any], store: str, variants: list[str]) -> None:
    """The store as HQ knows it before its backlog arrives: its name and time zone, the
    catalog with costs and reorder points, and which SKU each of its variant ids is (so the
    rollups find costs and the low-stock check finds reorder points, as in production)."""
    for statement in (
        "INSERT INTO store (id, name) VALUES (%(store)s, 'Drain bench')",
        "INSERT INTO store_cursor (store) VALUES (%(store)s)",
        "INSERT INTO store_directory (store, version, settings) VALUES (%(store)s, 1,"
        """ '{"timezone": "Europe/Dublin", "currency": "EUR"}')""",
        "INSERT INTO catalog_category (id, name) VALUES (1, 'Bench')",
        "INSERT INTO catalog_vendor (id, name, lead_time_days) VALUES (1, 'Bench Ltd', 7)",
        "INSERT INTO catalog_product (id, name, category_id, vendor_id)"
        " SELECT n, 'Product ' || n, 1, 1 FROM generate_series(1, %(n)s) n",
        "INSERT INTO catalog_variant (id, sku, product_id, cost, price, tax_class,"
        " reorder_point, reorder_qty) SELECT n, 'D-' || lpad(n::text, 5, '0'), n, 500, 999,"
        " 'standard', 5 + n %% 16, 24 FROM generate_series(1, %(n)s) n",
    ):
        conn.execute(statement, {"store": store, "n": len(variants)})
    conn.execute(
        "INSERT INTO store_variant (store, uid, sku, local_id) SELECT %s, v, 'D-' ||"
        " lpad(n::text, 5, '0'), n FROM unnest(%s::uuid[]) WITH ORDINALITY AS u(v, n)",
        (store, variants),
    )


def ingest_comparison(admin: str, events: int, rounds: int) -> dict[str, Any]:
    """events/s of ingest_batch with the projections and without, alternating, in fresh
    databases; and plain COPY of the same rows."""
    from sync_drain_bench import STORE, make_backlog, raw_copy, scratch_database
    from sync_drain_bench import drop as drop_database

    envelopes = make_backlog(events, store=STORE)
    # As the uplink sends them: 500 events a batch, store_seq from 1.
    payloads = [
        msgspec.json.encode(
            {
                "from": start + 1,
                "to": start + len(chunk),
                "events": [envelope_dict(e) for e in chunk],
            }
        )
        for start in range(0, len(envelopes), ingest.MAX_BATCH_EVENTS)
        for chunk in [envelopes[start : start + ingest.MAX_BATCH_EVENTS]]
    ]
    variants = sorted(
        {
            line["variant"]
            for e in envelopes
            for line in envelope_dict(e)["body"].get("lines", [])
            if "variant" in line
        }
    )
    projections = ingest._HQ_PROJECTIONS
    rates: dict[str, list[float]] = {"on": [], "off": []}
    # Each projection's own time in the rounds with them on, to say which costs what.
    spent: dict[str, float] = {f"{p.__module__}.{p.__name__}": 0.0 for p in projections}

    def timed(project: Callable[..., None]) -> Callable[..., None]:
        name = f"{project.__module__}.{project.__name__}"

        def run(*args: Any) -> None:
            started = time.perf_counter()
            try:
                project(*args)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    measured = tuple(timed(p) for p in projections)
    for n in range(rounds):
        for mode in ("on", "off") if n % 2 == 0 else ("off", "on"):
            name = scratch_database(admin)
            try:
                ingest._HQ_PROJECTIONS = measured if mode == "on" else ()
                with connect(dsn_for(admin, name)) as conn:
                    _known_store(conn, STORE, variants)
                    started = time.perf_counter()
                    for payload in payloads:
                        ack = ingest.ingest_batch(conn, STORE, payload)
                        assert "applied_through" in ack, ack
                    rates[mode].append(events / (time.perf_counter() - started))
            finally:
                ingest._HQ_PROJECTIONS = projections
                drop_database(admin, name)
            print(f"  ingest round {n + 1}, projections {mode}: {rates[mode][-1]:,.0f} events/s")
    copy_rate = events / raw_copy(admin, payloads)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "events": events,
        "rounds": rounds,
        "on": rates["on"],
        "off": rates["off"],
        "median_on": on,
        "median_off": off,
        "drop": 1 - on / off,
        "copy": copy_rate,
        "projections": [f"{p.__module__}.{p.__name__}" for p in projections],
        "projection_us_per_event": {
            name: seconds / (events * len(rates["on"])) * 1e6 for name, seconds in spent.items()
        },
    }


# ---- main -------------------------------------------------------------------------------------


def run_set(admin: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = replace(SPECS[name], suffix=args.suffix)
    dsn, seeding = ensure_seeded(
        admin, spec, reseed=args.reseed, verbose=args.verbose, rebuild_too=args.rebuild
    )
    with connect(dsn) as conn:
        first = conn.execute("SELECT min(id) FROM store").fetchone()
    first_store = str(first[0]) if first else ""
    results: dict[str, Any] = {"spec": asdict(spec), "seeding": seeding, "users": {}}
    if args.seed_only:
        return results
    for role, stores in (("admin", []), ("store_manager", [first_store])):
        print(f"{spec.database}: pages as {role} …", flush=True)
        timings = time_pages(
            dsn,
            role=role,
            stores=stores,
            repeat=args.repeat,
            budget_s=args.budget,
            first_store=first_store,
            target_ms=TARGETS_MS.get(name, 300.0),
        )
        results["users"][role] = [
            {f.name: getattr(t, f.name) for f in fields(t) if f.name != "_slowest"} for t in timings
        ]
        for t in timings:
            times = t.times or [t.warm]
            print(
                f"  {t.status} {t.label:<48} n {len(t.times):2} p50 {statistics.median(times):7.1f}"
                f" p95 {_p95(sorted(times)):7.1f} max {max(times):7.1f} ms  {t.path}"
            )
    results["raw_sql"] = raw_sql(dsn, args.repeat)
    for label, ms in results["raw_sql"].items():
        print(f"  raw {label}: p95 {ms:.1f} ms")
    if args.drop_after:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{spec.database}" WITH (FORCE)'.encode())
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    global LIMIT_S  # one setting for the client, the server and EXPLAIN
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the small set only, quickly")
    parser.add_argument("--sets", default="hq5,hq500", help="comma-separated: small, hq5, hq500")
    parser.add_argument("--repeat", type=int, default=20, help="timed GETs per page")
    parser.add_argument(
        "--budget", type=float, default=5.0, help="seconds per page after its first 5 GETs"
    )
    parser.add_argument("--events", type=int, default=20_000, help="ingest backlog size")
    parser.add_argument("--rounds", type=int, default=4, help="ingest rounds (on/off pairs)")
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument(
        "--limit", type=float, default=LIMIT_S, help="seconds before a page is given up on"
    )
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help="seed (or reuse), time nothing")
    parser.add_argument("--verbose", action="store_true", help="name slow seeding statements")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="also call each projection's rebuild() after the migrations' backfills",
    )
    parser.add_argument("--suffix", default="", help="appended to the seeded databases' names")
    parser.add_argument("--drop-after", action="store_true", help="drop the seeded databases")
    parser.add_argument("--dsn", default=ADMIN, help="an admin DSN that may create databases")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    LIMIT_S = args.limit
    if args.small:
        args.sets = "small"
        args.repeat = min(args.repeat, 5)
        args.events = min(args.events, 2000)
        args.rounds = min(args.rounds, 2)
    load_start = _load()
    results: dict[str, Any] = {
        "sets": {},
        "machine": machine(),
        "load_start": load_start,
        "command": " ".join(["bench/hq_bench.py", *(sys.argv[1:] if argv is None else argv)]),
        "method": {"repeat": args.repeat, "budget": args.budget, "limit": args.limit},
    }
    if not args.no_ingest:
        # First, on the quietest machine the run gets: the drop it measures is a ratio of
        # two rates taken a minute apart.
        print("ingest, HQ projections on and off …", flush=True)
        results["ingest"] = ingest_comparison(args.dsn, args.events, args.rounds)
        i = results["ingest"]
        print(
            f"  median on {i['median_on']:,.0f}, off {i['median_off']:,.0f} events/s:"
            f" drop {i['drop'] * 100:.1f} %; raw COPY {i['copy']:,.0f} rows/s"
        )
    for name in args.sets.split(","):
        results["sets"][name] = run_set(args.dsn, name.strip(), args)
        results["load_end"] = _load()
        if args.record:
            # Each set as it is done: a late set does not lose the earlier ones.
            record_section(BEGIN, END, report(results, args))
    results["load_end"] = _load()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if args.record:
        record_section(BEGIN, END, report(results, args))
    return results


def _load() -> str:
    import os

    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    """The docs/benchmarks.md section."""
    lines = [
        BEGIN,
        f"### HQ pages and rollups ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `.venv/bin/python {results.get('command', 'bench/hq_bench.py')}`",
        "",
        f"Machine: {results['machine']}; PostgreSQL {_server_version(args.dsn)}; load average"
        f" {results['load_start']} at the start, {results['load_end']} at the end.",
        "",
    ]
    m = results.get("method", {"repeat": 20, "budget": 5.0, "limit": LIMIT_S})
    lines += [
        "Pages: HQ (`cloud.hq.create_app`) on waitress (4 threads) in the bench process, one"
        " keep-alive client signed in as an HQ admin, then as a store manager of one store"
        " (base pages and CSV links only). Each URL: the GET that found it as a warm-up, then"
        f" up to {m['repeat']} timed GETs in turn, at least 5 but no more once they have taken"
        f" {m['budget']:g} s (2 when the warm-up alone took that long). A page not answered in"
        f" {m['limit']:g} s is given up on and its queries cancelled: shown as"
        f" {m['limit'] * 1000:,.0f} (0). Times in ms; `(500)` an error page.",
        "",
    ]
    for name, res in results["sets"].items():
        spec, seeding = res["spec"], res["seeding"]
        target = TARGETS_MS.get(name, 300.0)
        c = seeding["counts"]
        lines += [
            f"**{name}**: {spec['stores']} stores × {spec['days']} days, {spec['variants']:,}"
            f" variants; {c['sale_fact']:,} sale facts, {c['event']:,} events,"
            f" {c['stock_ledger']:,} ledger rows, {c['on_hand']:,} on-hand rows;"
            f" database {seeding['size']}. Seeded in {seeding['seconds']:.0f} s ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in seeding["steps"].items() if v >= 0.5)
            + "; the rest under a second each"
            + "). The HQ projections were filled by their migrations' backfills"
            + (
                f"; `rebuild()` also called for {', '.join(seeding['rebuilt'])}"
                if seeding["rebuilt"]
                else ""
            )
            + (
                f"; `rebuild()` exists but was not called for"
                f" {', '.join(seeding['rebuild_not_called'])}"
                if seeding.get("rebuild_not_called")
                else ""
            )
            + f"; no `rebuild()`: {', '.join(seeding['no_rebuild']) or 'none'}.",
            "",
            f"| page ({name}; target p95 ≤ {target:.0f} ms) | admin n | admin p50 |"
            " admin p95 | admin max | manager n | manager p95 | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for role, timings in res["users"].items():
            for t in timings:
                rows.setdefault(t["path"], {})[role] = t
        missed = []
        for path, by_role in rows.items():
            cells = []
            worst = 0.0
            for role in ("admin", "store_manager"):
                t = by_role.get(role)
                if t is None:
                    cells.append(["—"] * (4 if role == "admin" else 2))
                    continue
                times = sorted(t["times"]) or [t["warm"]]
                p95 = _p95(times)
                failed = t["status"] != 200
                worst = max(worst, p95)
                shown = f"{p95:,.0f}" + (f" ({t['status']})" if failed else "")
                if role == "admin":
                    cells.append(
                        [
                            str(len(t["times"])),
                            f"{statistics.median(times):,.0f}",
                            shown,
                            f"{times[-1]:,.0f}",
                        ]
                    )
                else:
                    cells.append([str(len(t["times"])), shown])
                if failed:
                    worst = float("inf")
            raw = path == "/hq/account" and any(
                t["label"].startswith("raw") for t in by_role.values()
            )
            met = "raw" if raw else ("yes" if worst <= target else "**no**")
            if met == "**no**":
                missed.append(path)
            lines.append(
                f"| `{path}` | " + " | ".join(c for group in cells for c in group) + f" | {met} |"
            )
        for label, ms in res.get("raw_sql", {}).items():
            lines.append(f"| {label} | | | {ms:,.0f} | | | | raw |")
        lines += [
            "",
            f"{len(rows) - len(missed) - 1} of {len(rows) - 1} pages met the target on {name};"
            f" missed: {', '.join(f'`{p}`' for p in missed) or 'none'}.",
            "",
        ]
        slow = [
            t
            for role in ("admin", "store_manager")
            for t in res["users"].get(role, [])
            if t["path"] in missed and t["slowest_sql"]
        ]
        if slow:
            lines += [f"What dominates the pages that missed on {name} (slowest statement):", ""]
            shown: set[str] = set()
            for t in sorted(slow, key=lambda t: -t["slowest_ms"]):
                if t["path"] in shown:
                    continue
                shown.add(t["path"])
                lines.append(
                    f"- `{t['path']}`: {t['statements']} statements, the slowest"
                    f" {t['slowest_ms']:,.0f} ms: `{t['slowest_sql'][:150]}…`"
                )
            plans: dict[str, str] = {}
            for t in sorted(slow, key=lambda t: -t["slowest_ms"]):
                if t["plan"] and t["slowest_sql"][:200] not in plans and len(plans) < 3:
                    plans[t["slowest_sql"][:200]] = f"{t['path']}\n{t['plan']}"
            for plan in plans.values():
                lines += ["", "```", plan, "```"]
            lines.append("")
    if "ingest" in results:
        i = results["ingest"]
        lines += [
            f"**Ingest** of one store's backlog of {i['events']:,} events (sales, returns,"
            f" deliveries, adjustments, counts, shifts; batches of 500) into fresh databases,"
            f" {i['rounds']} rounds alternating:",
            "",
            "| what | events/s (median) | rounds | target |",
            "|---|---|---|---|",
            f"| `ingest_batch` with HQ's projections ({', '.join(i['projections'])}) |"
            f" {i['median_on']:,.0f} | {', '.join(f'{r:,.0f}' for r in i['on'])} | |",
            f"| the same with `_HQ_PROJECTIONS = ()` | {i['median_off']:,.0f} |"
            f" {', '.join(f'{r:,.0f}' for r in i['off'])} | |",
            f"| drop with the projections | {i['drop'] * 100:.1f} % | | ≤ 20 % |",
            f"| raw: COPY of the same event rows | {i['copy']:,.0f} rows/s | | |",
            "",
            "Time in each projection, with them on (µs per event): "
            + ", ".join(
                f"`{k.removeprefix('cloud.')}` {v:,.0f}"
                for k, v in i.get("projection_us_per_event", {}).items()
            )
            + f"; ingest without them: {1e6 / i['median_off']:,.0f} µs per event.",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def _p95(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def _server_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()
