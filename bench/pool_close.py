"""工会排队's daily close over a deep pool: ``python -m bench.pool_close`` (``make bench-pool``).

    python -m bench.pool_close                       # 1,000,000 waiting entries, days paying 10 % and 50 %
    python -m bench.pool_close --entries 100000 --shares 1,10

For each share it creates a fresh database (``qr_bench_pool_<share>``; the schema by the
migrations), loads by COPY 100,000 members with empty wallets and ``--entries`` waiting pool
entries (quotas of 1.1 × the dataset's 8 prices) plus one funding entry that is already paid (a
line whose contribution is the pool's balance, with its ``pool_in`` posting) and the previous
day's statement, which carried that balance — chosen as the quotas of exactly the first
``share`` % of the queue, so the measured close pays that many entries in full and carries 0.
Then ``VACUUM ANALYZE`` (autovacuum is off on this machine), ``pgbench -N`` on the same database
for the ratio, and the close itself: ``services.pool.close.close_day`` in a child process of its
own (``--close-only``) that reports

- **seconds**: wall time of ``close_day`` (one transaction: read, pay, post, statement), by
  ``time.perf_counter`` around the call, after the ORM and the settings cache are warm;
- **peak memory**: the child's ``getrusage(RUSAGE_SELF).ru_maxrss`` just before the call and
  after it — its growth is what the close held at its high-water mark (the child does nothing
  else); ``--tracemalloc`` re-runs it under ``tracemalloc`` for the Python heap's own peak;
- the pool's balance read after the close, over all its postings and from the statement
  (``balance_reads``);
- the statement's figures, then the checks: every chosen entry paid, the pool at 0, and
  ``queue-rebate check`` (``check_conservation``) finding nothing.

Foreign-key triggers are off during the load (``session_replication_role = replica``), as in
``bench.dataset``: entries name orders and lines that are not loaded — the close never reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bench.dataset import (
    MEMBERS,
    PRICES_FEN,
    T_PRELOAD,
    _copy_members,
    asyncpg_url,
    drop_database,
    recreate_database,
)
from bench.pgbench import pgbench_init, pgbench_tps
from ledger.postings import COLUMNS as POSTING_COLUMNS
from rebate.money import apply_bp
from rebate.settings import OrderSource
from rebate.union_pool import DEFAULT_QUOTA_BP
from rebate.union_pool_settings import PoolSettings
from runtime.config import Settings
from runtime.db import tortoise_config
from server.database import migrate_database
from services.pool.settings import to_doc

ADMIN_URL = os.environ.get(
    "QR_BENCH_PG", os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
)
CLOSED = date(2026, 11, 30)  # the previous close, loaded
DAY = CLOSED + timedelta(days=1)  # the day the benchmark closes
CHUNK = 100_000
ENTRY_COLUMNS = (
    "id", "member_id", "order_id", "line_id", "source", "profit_fen", "contribution_fen",
    "accelerated_out_fen", "quota_fen", "paid_fen", "accelerated_in_fen", "status",
    "created_at", "completed_at",
)  # fmt: skip


def say(text: str) -> None:
    print(text, flush=True)


async def create_schema(url: str) -> None:
    """The schema by the migrations, as ``queue-rebate migrate`` creates it."""
    await migrate_database(Settings().with_database_url(url), io.StringIO())
    EXECUTOR_CACHE.clear()


def quotas(entries: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [apply_bp(rng.choice(PRICES_FEN), DEFAULT_QUOTA_BP) for _ in range(entries)]


async def load(url: str, *, entries: int, share_pct: int, members: int, seed: int = 1) -> int:
    """Members, ``entries`` waiting entries, the funding entry and the previous close; the
    balance carried (what pays the first ``share_pct`` % of the queue in full)."""
    owed = quotas(entries, seed)
    balance = sum(owed[: entries * share_pct // 100])
    rng = random.Random(seed + 1)
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await conn.execute("SET session_replication_role = replica")
        await _copy_members(conn, members)
        for start in range(0, entries, CHUNK):
            await conn.copy_records_to_table(
                "union_pool_entry",
                columns=ENTRY_COLUMNS,
                records=[
                    _waiting(i + 1, rng.randint(1, members), owed[i])
                    for i in range(start, min(start + CHUNK, entries))
                ],
            )
        await _fund(conn, entries + 1, balance)
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return balance


def _waiting(i: int, member: int, quota: int) -> tuple[Any, ...]:
    at = T_PRELOAD - timedelta(days=20)
    return (i, member, i, i, "mall", 0, 0, 0, quota, 0, 0, "waiting", at, None)


async def _fund(conn: asyncpg.Connection, entry_id: int, balance: int) -> None:
    """The line that filled the pool (owed nothing: already paid), its ``pool_in`` posting, the
    previous day's statement carrying the balance, and the settings (mall orders join)."""
    at = T_PRELOAD - timedelta(days=1)
    await conn.copy_records_to_table(
        "union_pool_entry",
        columns=ENTRY_COLUMNS,
        records=[(entry_id, 1, entry_id, entry_id, "mall", balance, balance, 0, 0, 0, 0, "paid",
                  at, at)],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "posting",
        columns=POSTING_COLUMNS,
        records=[(f"pool_in:{entry_id}", "pool_in", "platform:sales", "platform:union_pool",
                  "cash", balance, None, None, None, "mall", at)],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO union_pool_day (day, last_entry_id, last_acceleration_id, closed_at,"
        " opening_fen, contributed, accelerated_fen, taken_back_fen, paid_fen, paid_count,"
        " closing_fen, waiting_count, waiting_owed_fen)"
        " VALUES ($1, $2, 0, $3, 0, $4, 0, 0, 0, 0, $5, 0, 0)",
        CLOSED, entry_id, at, json.dumps({"mall": balance}), balance,
    )  # fmt: skip
    doc = json.dumps(to_doc(PoolSettings(sources=(OrderSource.MALL,))))
    await conn.execute(
        "INSERT INTO union_pool_config (id, doc, updated_at) VALUES (1, $1, $2)", doc, at
    )


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def timed_phases(module: Any) -> dict[str, float]:
    """Wrap the close's ways to the database — reads (``fetch``), row updates (``execute``)
    and the payouts' postings with the wallets (``post``, or ``post_by_copy`` on PostgreSQL) —
    to add up the seconds each takes: where the close spends its time."""
    spent = {"read": 0.0, "update": 0.0, "post": 0.0}
    ways = (("fetch", "read"), ("execute", "update"), ("post", "post"), ("post_by_copy", "post"))
    for name, phase in ways:
        original = getattr(module, name)

        async def wrapper(*args: Any, _original: Any = original, _phase: str = phase) -> Any:
            started = time.perf_counter()
            try:
                return await _original(*args)
            finally:
                spent[_phase] += time.perf_counter() - started

        setattr(module, name, wrapper)
    return spent


async def close_only(url: str, *, trace: bool) -> dict[str, Any]:
    """The child's work: warm up, then time ``close_day`` and read its memory high-water mark."""
    from services.pool import close as pool_close
    from services.pool.close import close_day
    from services.pool.settings import load_pool

    phases = timed_phases(pool_close)

    ctx = await Tortoise.init(config=tortoise_config(url))
    try:
        settings = await load_pool()
        now = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC)
        if trace:
            tracemalloc.start()
        before = max_rss_kib()
        started = time.perf_counter()
        statement = await close_day(DAY, now, settings)
        seconds = time.perf_counter() - started
        after = max_rss_kib()
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        reads = await balance_reads()
        return {
            "seconds": seconds, "rss_before_kib": before, "rss_peak_kib": after,
            "tracemalloc_peak_bytes": traced, "paid_count": statement.paid_count,
            "paid_fen": statement.paid_fen, "closing_fen": statement.closing_fen,
            "waiting_count": statement.waiting_count, "phases_s": phases, **reads,
        }  # fmt: skip
    finally:
        await ctx.close_connections()


async def balance_reads() -> dict[str, float]:
    """After the close: milliseconds to read the pool's balance over all its postings
    (``ledger.balances.balance_of``, what every read did before the statement's watermark) and
    from the statement (``services.pool.balance.pool_balance``), median of 3; they must agree."""
    from ledger.accounts import UNION_POOL
    from ledger.balances import balance_of
    from services.pool.balance import pool_balance

    figures, values = {}, set()
    for name, read in (
        ("balance_all_ms", lambda: balance_of(UNION_POOL)),
        ("balance_ms", pool_balance),
    ):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            values.add(await read())
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = sorted(times)[1]
    if len(values) != 1:
        raise SystemExit(f"the pool's balance read two ways differs: {sorted(values)}")
    return figures


def run_child(url: str, *, trace: bool = False) -> dict[str, Any]:
    """``close_only`` in a fresh Python process: its figures, the last line it prints."""
    argv = [sys.executable, "-m", "bench.pool_close", "--close-only", url]
    out = subprocess.run(
        [*argv, "--tracemalloc"] if trace else argv,
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


async def checked(url: str, expected_paid: int, balance: int) -> list[str]:
    """What is wrong after the close: entries paid, the pool emptied, the books' own check."""
    from services.checks import check_conservation

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        paid = await conn.fetchval(
            "SELECT COUNT(*) FROM union_pool_entry WHERE status = 'paid' AND quota_fen > 0"
        )
        total = await conn.fetchval("SELECT COALESCE(SUM(cash_fen), 0) FROM wallet")
    finally:
        await conn.close()
    problems = [] if paid == expected_paid else [f"{paid} entries paid, {expected_paid} expected"]
    problems += [] if total == balance else [f"wallets hold {total}, {balance} paid"]
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    try:
        problems += [str(p) for p in await check_conservation()]
    finally:
        await ctx.close_connections()
    return problems


async def bench_share(url: str, share: int, a: argparse.Namespace) -> dict[str, Any]:
    """One share on a loaded database (``url``, its schema made): load, pgbench, close, check."""
    started = time.perf_counter()
    balance = await load(url, entries=a.entries, share_pct=share, members=a.members)
    loaded = time.perf_counter() - started
    expected = a.entries * share // 100
    say(f"[{share} %] loaded {a.entries:,} waiting entries in {loaded:.0f} s; the day pays"
        f" {expected:,} of them ({balance / 100:,.2f} 元)")  # fmt: skip
    tps = None
    if a.pgbench_seconds:
        await pgbench_init(url, scale=a.pgbench_scale)
        tps = await pgbench_tps(url, clients=a.pgbench_clients, seconds=a.pgbench_seconds)
        say(f"[{share} %] pgbench -N -c {a.pgbench_clients}: {tps:,.0f} tps")
    fig = await asyncio.to_thread(run_child, url)
    say(f"[{share} %] {_line(fig)}")
    if fig["paid_count"] != expected or fig["closing_fen"] != 0:
        raise SystemExit(f"the close paid {fig['paid_count']}, carried {fig['closing_fen']}")
    if a.check:
        started = time.perf_counter()
        problems = await checked(url, expected, balance)
        say(f"[{share} %] checks in {time.perf_counter() - started:.0f} s: "
            + ("; ".join(problems) if problems else "the books balance"))  # fmt: skip
        if problems:
            raise SystemExit("the close left the books wrong")
    return {"share_pct": share, "entries": a.entries, "expected_paid": expected,
            "load_s": loaded, "pgbench_tps": tps, **fig}  # fmt: skip


def _line(fig: dict[str, Any]) -> str:
    grew = (fig["rss_peak_kib"] - fig["rss_before_kib"]) / 1024
    traced = fig.get("tracemalloc_peak_bytes")
    return (
        f"close_day paid {fig['paid_count']:,} in {fig['seconds']:.1f} s"
        f" = {fig['paid_count'] / fig['seconds']:,.0f} entries/s; peak RSS"
        f" {fig['rss_peak_kib'] / 1024:,.0f} MiB (+{grew:,.0f} MiB during the close)"
        + ("" if traced is None else f"; tracemalloc peak {traced / 2**20:,.0f} MiB")
        + "; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in fig["phases_s"].items())
        + f"; the pool's balance then read over all its postings in {fig['balance_all_ms']:,.1f}"
        f" ms, from the statement in {fig['balance_ms']:,.1f} ms"
    )


def summary(results: list[dict[str, Any]]) -> str:
    lines = ["", "share | paid | close s | entries/s | RSS +MiB | pgbench -N tps | ratio"]
    for r in results:
        per_s = r["paid_count"] / r["seconds"]
        tps = r["pgbench_tps"]
        lines.append(
            f"{r['share_pct']} % | {r['paid_count']:,} | {r['seconds']:.1f} | {per_s:,.0f} | "
            f"{(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:,.0f} | "
            + (f"{tps:,.0f} | {per_s / tps:.2f}×" if tps else "— | —")
        )
    return "\n".join(lines)


async def main_async(a: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for share in a.shares:
        name = f"qr_bench_pool_{share}"
        url = await recreate_database(ADMIN_URL, name)
        await create_schema(url)
        results.append(await bench_share(url, share, a))
        if a.tracemalloc:
            url = await recreate_database(ADMIN_URL, name)  # the close changed the first
            await create_schema(url)
            await load(url, entries=a.entries, share_pct=share, members=a.members)
            fig = await asyncio.to_thread(run_child, url, trace=True)
            say(f"[{share} %] under tracemalloc: {_line(fig)}")
            results[-1]["tracemalloc_peak_bytes"] = fig["tracemalloc_peak_bytes"]
        if not a.keep:
            await drop_database(ADMIN_URL, name)
    say(summary(results))
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.pool_close", description=__doc__.split("\n")[0]
    )
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--shares", default="10,50", help="percent of the queue each day pays")
    p.add_argument("--members", type=int, default=MEMBERS)
    p.add_argument("--pgbench-seconds", type=int, default=10, help="0: no pgbench")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--tracemalloc", action="store_true", help="again, under tracemalloc")
    p.add_argument("--no-check", dest="check", action="store_false")
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--close-only", metavar="URL", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.shares = [int(s) for s in a.shares.split(",") if s]
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    if a.close_only:
        print(json.dumps(asyncio.run(close_only(a.close_only, trace=a.tracemalloc))), flush=True)
        return
    results = asyncio.run(main_async(a))
    if a.json:
        with open(a.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
