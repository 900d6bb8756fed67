"""``python -m bench.soak`` (``make soak``): the product under a steady load for a bounded time.

A fresh database ``qr_soak`` (``queue-rebate migrate``, the products), the fake WeChat in its own
process, ``--processes`` ``queue-rebate serve`` processes (each with its writer and scheduler)
and, with ``--with notifier`` (the default), a notifier. For ``--minutes``: orders at ``--rate``
per second, each paid by a signed WeChat Pay notification, ``--duplicates`` of them sent twice;
a settings change through the operators' API every ``--settings-every`` s and a job run (the
API and the command line in turn) every ``--jobs-every`` s. Then it waits for every paid line to
settle and checks: each paid order settled exactly once, ``queue-rebate check``.

Exit 0 when nothing failed; 1 when a request failed, a job failed, a server logged an error,
or a check found a problem. Every figure is printed; ``--json FILE`` writes them too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.http_path import database
from bench.http_path.cli import REDIS_URL, check, clear_redis
from bench.http_path.stack import Stack, start_fake, start_servers, stop, stop_servers
from bench.soak import report
from bench.soak.load import Load
from bench.soak.memory import Memory
from bench.soak.operations import Operator

DB_NAME = "qr_soak"
SETTLE_TIMEOUT = 300.0


# A traceback, a text log line at level ERROR or CRITICAL (``asctime levelname name message``),
# or a JSON log line at that level.
ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)| (ERROR|CRITICAL) "
    r'|"level(name)?": ?"(error|ERROR|critical|CRITICAL)"'
)


def log_errors(scratch: Path) -> Counter[str]:
    """Lines of each process's log (``*.log`` in the scratch directory: the servers', the
    helpers', the fake's) that report an error."""
    found: Counter[str] = Counter()
    for log in sorted(scratch.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if ERROR_LINE.search(line):
                found[log.stem] += 1
    return found


async def sample_memory(stack: Stack, memory: Memory, every: float, stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            memory.sample(stack, time.monotonic() - started)


async def drive(stack: Stack, a: argparse.Namespace, memory: Memory) -> tuple[Load, Operator]:
    """The timed part: load, operator and memory samples side by side for ``--minutes``."""
    assert stack.fake is not None
    products = await database.product_ids(stack.db_url)
    stop_event = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as http:
        load = Load(
            http, stack.ports, stack.fake.url, products,
            duplicate_share=a.duplicates, lag_every=a.lag_every,
        )  # fmt: skip
        operator = Operator(stack, http)
        every = a.sample_every or max(5.0, a.minutes * 6.0)  # ~10 samples a run
        side = [
            asyncio.create_task(operator.run((a.settings_every, a.jobs_every), stop_event)),
            asyncio.create_task(sample_memory(stack, memory, every, stop_event)),
        ]
        try:
            await load.run(a.minutes * 60.0, a.rate, stop_event)
        finally:
            stop_event.set()
            await asyncio.gather(*side)
    return load, operator


async def settle_and_check(url: str, paid: list[str]) -> tuple[float, list[str], str]:
    """Seconds from the end of the load until every acknowledged order's lines were settled,
    the problems found, and the check's verdict line."""
    problems: list[str] = []
    conn = await database.connect(url)
    started = time.perf_counter()
    try:
        try:
            settled_after = await database.wait_settled(conn, paid, SETTLE_TIMEOUT) - started
        except RuntimeError as exc:
            problems.append(str(exc))
            settled_after = float("nan")
        rows = await conn.fetch("SELECT out_trade_no FROM orders WHERE status <> 'created'")
    finally:
        await conn.close()
    # Orders paid in the database (the reconciliation job may find a payment whose
    # notification failed) and every order whose notification was acknowledged.
    every_paid = sorted({r["out_trade_no"] for r in rows} | set(paid))
    try:
        verdict = await check(url, every_paid)
    except SystemExit as exc:
        problems.append(str(exc))
        verdict = "CHECK FAILED"
    return settled_after, problems, verdict


async def run(a: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    stack = Stack(scratch, a.db_name, "", a.redis, helper_commands=a.helpers)
    await clear_redis(a.redis)
    url = stack.db_url = await database.create(scratch, a.db_name)
    memory = Memory()
    started = time.monotonic()
    try:
        await start_fake(stack)
        await start_servers(stack, a.processes)
        memory.sample(stack, 0.0)
        load, operator = await drive(stack, a, memory)
        settled_after, problems, verdict = await settle_and_check(url, load.figures.paid)
        memory.sample(stack, time.monotonic() - started)
    finally:
        await stop_servers(stack)
        if stack.fake is not None:
            await stop(stack.fake)
    logged = log_errors(scratch)
    return report.figures(a, load, operator, memory, settled_after, problems, verdict, logged)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    p.add_argument("--rate", type=float, default=20.0, help="orders (and payments) per second")
    p.add_argument("--processes", type=int, default=2, help="serve processes (default 2)")
    p.add_argument(
        "--duplicates", type=float, default=0.1,
        help="share of notifications WeChat Pay sends twice (default 0.1)",
    )  # fmt: skip
    p.add_argument("--lag-every", type=int, default=10, help="follow 1 payment in N for lag")
    p.add_argument("--settings-every", type=float, default=30.0, help="seconds between changes")
    p.add_argument("--jobs-every", type=float, default=20.0, help="seconds between job runs")
    p.add_argument("--sample-every", type=float, default=0.0, help="RSS sample interval, s")
    p.add_argument(
        "--with", dest="helpers", action="append", metavar="COMMAND",
        help="run `queue-rebate COMMAND` beside the servers (default: notifier); repeatable",
    )  # fmt: skip
    p.add_argument("--redis", default=REDIS_URL, help=f"Redis for the servers ({REDIS_URL})")
    p.add_argument("--db-name", default=DB_NAME, help="the soak's database")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the database and the logs")
    a = p.parse_args(argv)
    if not 0 <= a.duplicates <= 1 or a.minutes < 0 or a.rate <= 0 or a.processes < 1:
        p.error("--duplicates must be 0–1, --minutes ≥ 0, --rate > 0, --processes ≥ 1")
    a.helpers = ["notifier"] if a.helpers is None else [h for h in a.helpers if h]
    return a


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="qr-soak-"))
    try:
        figures = await run(a, scratch)
    except BaseException:
        print(f"(logs kept in {scratch})", flush=True)
        raise
    print(report.text(figures), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1, default=str))
    if a.keep or not figures["ok"]:
        print(f"(logs kept in {scratch})", flush=True)
    else:
        shutil.rmtree(scratch)
    if not a.keep:
        await database.drop_database(database.ADMIN_URL, a.db_name)
    return figures


def main(argv: list[str] | None = None) -> None:
    try:
        figures = asyncio.run(main_async(parse(argv)))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0 if figures["ok"] else 1)
