"""``python -m bench.http_path`` (``make bench-http``): the payment path through HTTP.

Real ``queue-rebate serve`` processes (1, then 2) on PostgreSQL and Redis, the fake WeChat in its
own process. Per repeat: members log in and place orders over HTTP (prepay included), then
pre-signed WeChat Pay v3 payment notifications are fired at concurrency 16 and 64 and at a paced
rate; settlement lag is sampled through the member API. Then statements per notification are
counted in PostgreSQL's log, and ``pgbench -N`` runs in the same run for the ratio. Every repeat
ends with the checks (each paid order settled exactly once, ``queue-rebate check``), which fail
the benchmark loudly. Medians of the repeats are printed with how each figure was obtained.

The benchmark only talks HTTP to the servers and reads the database and the member API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.http_path import database, report
from bench.http_path.clients import Order
from bench.http_path.repeat import Repeat, make_orders, one_repeat
from bench.http_path.sqlcount import SqlCount, count_round
from bench.http_path.stack import Stack, run_cli, start_fake, start_servers, stop, stop_servers
from bench.pgbench import pgbench_init, pgbench_tps

REDIS_URL = os.environ.get("QR_BENCH_REDIS", "redis://127.0.0.1:6379/15")


STARTED = [time.monotonic()]


def elapsed() -> str:
    return f"{time.monotonic() - STARTED[0]:.0f} s"


def say(text: str) -> None:
    print(text, flush=True)


async def clear_redis(url: str) -> None:
    """Forget rate-limit windows and caches a previous run left in the benchmark's Redis DB."""
    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match="qr:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def pgbench(a: argparse.Namespace) -> float:
    name = f"{a.db_name}_pgbench"
    url = await database.recreate_database(database.ADMIN_URL, name)
    try:
        await pgbench_init(url, scale=a.pgbench_scale)
        return await pgbench_tps(url, clients=a.pgbench_clients, seconds=a.pgbench_seconds)
    finally:
        await database.drop_database(database.ADMIN_URL, name)


async def check(url: str, paid: list[str]) -> str:
    """Every paid order settled exactly once, and ``queue-rebate check``; SystemExit if not."""
    problems = await database.settled_once_problems(url, paid)
    if problems:
        raise SystemExit("CHECK FAILED: " + "; ".join(problems))
    try:
        out = await run_cli("check", "--db", url)
    except RuntimeError as exc:
        raise SystemExit(f"CHECK FAILED: {exc}") from None
    return out.strip().splitlines()[-1]


async def bench_processes(
    stack: Stack, url: str, processes: int, a: argparse.Namespace, paid: list[str], extra: int
) -> tuple[list[Repeat], str, list[Order]]:
    """The repeats with ``processes`` servers; then ``extra`` unpaid orders for later."""
    await start_servers(stack, processes)
    repeats, verdict = [], ""
    try:
        for r in range(a.repeat):
            rep = await one_repeat(
                stack, url, orders=a.orders, rate=a.rate, lag_every=a.lag_every,
                seed=processes * 1000 + r,
            )  # fmt: skip
            paid += rep.paid
            verdict = await check(url, paid)
            say(f"[{processes} process(es), repeat {r + 1}, {elapsed()}]")
            say(report.orders_line(rep.orders))
            for run in rep.runs:
                say(report.run_line(run))
            repeats.append(rep)
        unpaid: list[Order] = []
        if extra:
            products = await database.product_ids(url)
            unpaid, _ = await make_orders(stack, extra, products, seed=7)
    finally:
        await stop_servers(stack)
    return repeats, verdict, unpaid


async def run(a: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    STARTED[0] = time.monotonic()
    stack = Stack(scratch, a.db_name, "", a.redis, helper_commands=a.helpers)
    await clear_redis(a.redis)
    url = stack.db_url = await database.create(scratch, a.db_name)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    tps = await pgbench(a)
    say(f"[{elapsed()}] pgbench -N -c {a.pgbench_clients} -T {a.pgbench_seconds}: {tps:,.0f} tps")
    await start_fake(stack)
    paid: list[str] = []
    results: dict[int, list[Repeat]] = {}
    sql: SqlCount | None = None
    unpaid: list[Order] = []
    try:
        for i, processes in enumerate(a.processes):
            last = i == len(a.processes) - 1
            extra = a.sql_count + a.sql_warmup if last and a.sql_count else 0
            results[processes], verdict, unpaid = await bench_processes(
                stack, url, processes, a, paid, extra
            )
        if unpaid:
            sql = await count_round(stack, url, unpaid, a.sql_warmup, a.stats_wait)
            paid += [o.out_trade_no for o in unpaid]
            verdict = await check(url, paid)
    finally:
        await stop_servers(stack)
        if stack.fake is not None:
            await stop(stack.fake)
    say(report.summary(load, tps, results, sql, verdict, a))
    runs = {p: [asdict(r) for r in rs] for p, rs in results.items()}
    return {"pgbench_tps": tps, "results": runs, "sql": asdict(sql) if sql else None}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.http_path",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--processes", default="1,2", help="serve processes per round (default 1,2)")
    p.add_argument("--repeat", type=int, default=3, help="repeats per process count (default 3)")
    p.add_argument(
        "--orders", type=int, default=1000,
        help="notifications per run; each repeat creates 3× as many orders (default 1000)",
    )  # fmt: skip
    p.add_argument("--rate", type=float, default=1000.0, help="paced run's offered rate /s")
    p.add_argument("--lag-every", type=int, default=20, help="sample 1 order in N for lag")
    p.add_argument("--sql-count", type=int, default=100, help="notifications counted (0: skip)")
    p.add_argument("--sql-warmup", type=int, default=5)
    p.add_argument(
        "--stats-wait", type=float, default=11.0,
        help="seconds to wait for pg_stat_database before/after counting (0: skip it)",
    )  # fmt: skip
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--redis", default=REDIS_URL, help=f"Redis for the servers ({REDIS_URL})")
    p.add_argument("--db-name", default=database.DB_NAME, help="the benchmark database")
    p.add_argument(
        "--with", dest="helpers", action="append", default=[], metavar="COMMAND",
        help="also run `queue-rebate COMMAND` beside the servers (e.g. a settlement writer that"
        " runs in a process of its own); its CPU counts as the server's; repeatable",
    )  # fmt: skip
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the benchmark database")
    a = p.parse_args(argv)
    a.processes = [int(x) for x in a.processes.split(",") if x]
    return a


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="qr-bench-http-"))
    try:
        figures = await run(a, scratch)
    except BaseException:
        say(f"(server logs kept in {scratch})")
        raise
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1, default=str))
    shutil.rmtree(scratch)  # kept only when the run fails: the servers' logs
    if not a.keep:
        await database.drop_database(database.ADMIN_URL, a.db_name)
    return figures


def main(argv: list[str] | None = None) -> None:
    try:
        asyncio.run(main_async(parse(argv)))
    except KeyboardInterrupt:
        sys.exit(130)
