"""Catalog benchmark: 100,000 variants with 150,000 barcodes, through the real waitress server.

Measures import time, search and barcode-lookup latency over HTTP (keep-alive, one client
thread), the raw SQLite time of the same queries, and the server's RSS after start.

    .venv/bin/python bench/catalog_bench.py [--variants N] [--queries N] [--record]

`--record` rewrites the catalog section of docs/benchmarks.md with this run's figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.catalog import queries  # noqa: E402
from appliance.catalog.barcodes import lookup_key  # noqa: E402
from appliance.catalog.queries import fts_query  # noqa: E402
from appliance.db import PRAGMAS, Database  # noqa: E402
from appliance.demo.catalog import generate_catalog, write_catalog_csv  # noqa: E402

OUT = ROOT / "bench" / "out"
TILLBOX = str(Path(sys.executable).parent / "tillbox")
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- catalog-bench:begin -->", "<!-- catalog-bench:end -->"


@dataclass(frozen=True, slots=True)
class Stats:
    """Latency figures in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        ordered = sorted(samples)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return cls(len(ordered), pick(0.50), pick(0.95), pick(0.99), ordered[-1] * 1000)

    def row(self, label: str) -> str:
        return f"| {label} | {self.n} | {self.p50:.2f} | {self.p95:.2f} | {self.p99:.2f} | {self.max:.2f} |"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env)


def make_catalog(variants: int, share: float) -> tuple[Path, list[dict[str, str]]]:
    path = OUT / f"catalog-{variants}.csv"
    rows = [row.as_dict() for row in generate_catalog(variants=variants, extra_barcode_share=share)]
    if not path.exists():
        write_catalog_csv(path, generate_catalog(variants=variants, extra_barcode_share=share))
    return path, rows


def raw_import(rows: list[dict[str, str]], target: Path) -> float:
    """The same rows into plain tables plus FTS5 with executemany: the floor for an import."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    conn = sqlite3.connect(target, isolation_level=None)
    for name, value in PRAGMAS:
        conn.execute(f"PRAGMA {name} = {value}")
    conn.execute(
        "CREATE TABLE variant (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, product TEXT, options TEXT,"
        " price TEXT, cost TEXT)"
    )
    conn.execute("CREATE TABLE barcode (code TEXT PRIMARY KEY, variant_id INTEGER) WITHOUT ROWID")
    conn.execute("CREATE VIRTUAL TABLE search USING fts5 (title, sku, barcodes, prefix = '1 2 3')")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO variant VALUES (?, ?, ?, ?, ?, ?)",
        (
            (i, r["sku"], r["product"], r["options"], r["price"], r["cost"])
            for i, r in enumerate(rows, 1)
        ),
    )
    conn.executemany(
        "INSERT INTO barcode VALUES (?, ?)",
        (
            (code.zfill(14), i)
            for i, r in enumerate(rows, 1)
            for code in r["barcodes"].split("|")
            if code
        ),
    )
    conn.executemany(
        "INSERT INTO search (rowid, title, sku, barcodes) VALUES (?, ?, ?, ?)",
        (
            (i, f"{r['product']} {r['options']}", r["sku"], r["barcodes"])
            for i, r in enumerate(rows, 1)
        ),
    )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def search_terms(rows: list[dict[str, str]], count: int, rng: random.Random) -> list[str]:
    """What cashiers type: name prefixes (1–3 words), SKU prefixes, barcode prefixes."""
    words = sorted(
        {
            w
            for r in rows[:: max(1, len(rows) // 5000)]
            for w in re.findall(r"[A-Za-zÀ-ÿ]{3,}", r["product"])
        }
    )
    terms: list[str] = []
    for _ in range(count):
        kind = rng.random()
        row = rows[rng.randrange(len(rows))]
        if kind < 0.45:
            word = rng.choice(words)
            terms.append(word[: rng.randint(2, len(word))].lower())
        elif kind < 0.65:
            picked = re.findall(r"[A-Za-zÀ-ÿ]{3,}", row["product"])[:2] or ["tee"]
            terms.append(" ".join(w[: rng.randint(3, len(w))] for w in picked).lower())
        elif kind < 0.82:
            sku = row["sku"]
            terms.append(sku[: rng.randint(4, len(sku))])
        else:
            code = row["barcodes"].split("|")[0] or row["sku"]
            terms.append(code[: rng.randint(5, len(code))])
    return terms


def lookup_codes(rows: list[dict[str, str]], count: int, rng: random.Random) -> list[str]:
    codes = [c for r in rows for c in r["barcodes"].split("|") if c]
    return [rng.choice(codes) for _ in range(count)]


def timed_http(port: int, token: str, paths: list[str]) -> tuple[list[float], dict[int, int]]:
    """GET each path on one keep-alive connection; per-request wall time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    statuses: dict[int, int] = {}
    try:
        for path in paths:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            samples.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    finally:
        connection.close()
    return samples, statuses


def timed_sql(db: Path, queries: list[tuple[str, tuple[object, ...]]]) -> list[float]:
    conn = sqlite3.connect(db)
    samples = []
    for sql, params in queries:
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        samples.append(time.perf_counter() - started)
    conn.close()
    return samples


BARE_FTS_SQL = "SELECT rowid FROM catalog_search WHERE catalog_search MATCH ? LIMIT 20"


def timed_calls(path: Path, calls: list[Callable[[Database], object]]) -> list[float]:
    """The appliance's own query code, in-process on the same file: HTTP stack excluded."""
    db = Database(path)
    samples = []
    for call in calls:
        started = time.perf_counter()
        call(db)
        samples.append(time.perf_counter() - started)
    db.close()
    return samples


def login_storm(port: int, token: str, staff: str, pin: str, count: int) -> list[float]:
    """Staff PIN logins, each on a new connection, so they land on many server threads."""
    samples = []
    body = json.dumps({"staff": staff, "pin": pin})
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.perf_counter()
        connection.request(
            "POST",
            "/api/v1/sessions",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        samples.append(time.perf_counter() - started)
        connection.close()
        if response.status != 201:
            raise RuntimeError(f"login failed with {response.status}")
    return samples


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not come up")


def record_section(begin: str, end: str, report: str) -> None:
    """Put `report` (which starts with `begin` and ends with `end`) into docs/benchmarks.md,
    replacing the section between those markers, or appending it the first time."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in text:
        text = re.sub(
            re.escape(begin) + r".*?" + re.escape(end), lambda _: report, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + report + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(f"recorded in {DOC}")


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.5, help="extra barcodes per variant")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument(
        "--record", action="store_true", help="write the figures into docs/benchmarks.md"
    )
    args = parser.parse_args()
    rng = random.Random(2026)
    OUT.mkdir(parents=True, exist_ok=True)

    print(f"generating {args.variants} variants …", flush=True)
    csv_path, rows = make_catalog(args.variants, args.share)
    barcodes = sum(len([c for c in r["barcodes"].split("|") if c]) for r in rows)

    data = OUT / "store"
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "TILLBOX_DATA": str(data)}
    run(TILLBOX, "appliance", "init", "--store", "b01", env=env)
    token = run(TILLBOX, "appliance", "register", "add", "Bench till", env=env).stdout.strip()
    run(
        TILLBOX,
        "appliance",
        "staff",
        "add",
        "--name",
        "Bench Cashier",
        "--role",
        "cashier",
        "--pin",
        "2580",
        env=env,
    )

    print("importing through `tillbox appliance import-catalog` …", flush=True)
    started = time.perf_counter()
    result = run(TILLBOX, "appliance", "import-catalog", str(csv_path), env=env)
    import_s = time.perf_counter() - started
    print("  " + result.stdout.strip())
    raw_s = raw_import(rows, OUT / "raw.sqlite3")

    db_path = data / "tillbox.sqlite3"
    db_mb = db_path.stat().st_size / 1e6
    terms = search_terms(rows, args.queries, rng)
    codes = lookup_codes(rows, args.queries, rng)

    port = free_port()
    proc = subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(port, proc)
        rss_start = rss_mb(proc.pid)
        from urllib.parse import quote

        warm = [f"/api/v1/catalog/search?q={quote(t)}&limit=20" for t in terms[:200]]
        timed_http(port, token, warm)
        search_paths = [f"/api/v1/catalog/search?q={quote(t)}&limit=20" for t in terms]
        search_s, search_status = timed_http(port, token, search_paths)
        code_paths = [f"/api/v1/catalog/barcodes/{c}" for c in codes]
        code_s, code_status = timed_http(port, token, code_paths)
        health_s, _ = timed_http(port, token, ["/api/v1/health"] * args.queries)
        rss_after = rss_mb(proc.pid)
        # argon2id allocates 19 MiB per check: PIN logins are what could grow memory.
        login_s = login_storm(port, token, "b01-staff-1", "2580", args.logins)
        rss_logins = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    fts = [q for q in (fts_query(t) for t in terms) if q]
    raw_search = timed_calls(
        db_path, [lambda db, t=t: queries.search(db, t, limit=20) for t in terms]
    )
    bare_fts = timed_sql(db_path, [(BARE_FTS_SQL, (q,)) for q in fts])
    raw_code = timed_calls(
        db_path, [lambda db, c=c: queries.by_barcode(db, lookup_key(c)) for c in codes]
    )

    s_http, s_raw, s_bare = Stats.of(search_s), Stats.of(raw_search), Stats.of(bare_fts)
    c_http, c_raw, h_http = Stats.of(code_s), Stats.of(raw_code), Stats.of(health_s)
    l_http = Stats.of(login_s)
    today = time.strftime("%Y-%m-%d")
    report = "\n".join(
        [
            BEGIN,
            f"### Catalog: {args.variants:,} variants, {barcodes:,} barcodes ({today})",
            "",
            "Command: `.venv/bin/python bench/catalog_bench.py --record` (or `make bench`)",
            "",
            f"Machine: {machine()}",
            "",
            "| what | target | measured | raw limit, same run | ratio |",
            "|---|---|---|---|---|",
            f"| import (CLI, end to end) | ≤ 15 s | {import_s:.1f} s | {raw_s:.1f} s plain executemany + FTS5 | {import_s / raw_s:.1f}× |",
            f"| `catalog/search` p95 | ≤ 5 ms | {s_http.p95:.2f} ms | {s_raw.p95:.2f} ms same search in-process; {s_bare.p95:.2f} ms bare FTS5 | {s_http.p95 / s_bare.p95:.1f}× bare FTS5 |",
            f"| barcode lookup p95 | ≤ 2 ms | {c_http.p95:.2f} ms | {c_raw.p95:.3f} ms same lookup in-process | {c_http.p95 / max(c_raw.p95, 1e-6):.0f}× |",
            f"| RSS after start | ≤ 120 MB | {rss_start:.0f} MB | | |",
            f"| RSS after {3 * args.queries + 200:,} requests, then {args.logins} PIN logins | | {rss_after:.0f} MB, then {rss_logins:.0f} MB | | |",
            "",
            "Latency in ms, one keep-alive client on the same machine:",
            "",
            "| request | n | p50 | p95 | p99 | max |",
            "|---|---|---|---|---|---|",
            s_http.row("HTTP `catalog/search`"),
            s_raw.row("the same search in-process (SQL + JSON assembly)"),
            s_bare.row("bare FTS5 MATCH, no join or rank"),
            c_http.row("HTTP `catalog/barcodes/{code}`"),
            c_raw.row("the same lookup in-process"),
            h_http.row("HTTP `health` (the HTTP stack alone)"),
            l_http.row("HTTP `sessions` PIN login (argon2id, m=19 MiB, t=2)"),
            "",
            f"Search statuses {search_status}, lookup statuses {code_status}; database {db_mb:.0f} MB.",
            END,
        ]
    )
    print(report)
    (OUT / "catalog-bench.json").write_text(
        json.dumps(
            {
                "variants": args.variants,
                "barcodes": barcodes,
                "import_s": import_s,
                "raw_import_s": raw_s,
                "search_http": asdict(s_http),
                "search_sql": asdict(s_raw),
                "search_bare_fts": asdict(s_bare),
                "barcode_http": asdict(c_http),
                "barcode_sql": asdict(c_raw),
                "health_http": asdict(h_http),
                "login_http": asdict(l_http),
                "rss_start_mb": rss_start,
                "rss_after_mb": rss_after,
                "rss_after_logins_mb": rss_logins,
            },
            indent=2,
        )
    )
    if args.record:
        record_section(BEGIN, END, report)


if __name__ == "__main__":
    main()
