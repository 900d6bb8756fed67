"""One repeat: members log in, place orders, and three notification runs pay for them.

Each repeat creates ``3 × orders`` orders (their own members), then pays a third of them in
each run: fixed concurrency 16, fixed concurrency 64, and paced at ``rate``/s. After the runs it
waits for every line to settle and proves each paid order settled exactly once; the caller then
runs ``queue-rebate check``.

CPU per notification: ``utime + stime`` of every ``serve`` process (``/proc/<pid>/stat``), and
of the PostgreSQL server processes of the benchmark database's sessions, from just before the
first notification of the run until all its lines are settled (and the sampled lags are
known), divided by the run's notifications.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import asyncpg

from bench.http_path import clients, database
from bench.http_path.clients import Order
from bench.http_path.notify import (
    PACED_CONNECTIONS,
    Fired,
    Sender,
    fire_concurrent,
    fire_paced,
    settle_lags,
    sign,
)
from bench.http_path.stack import Stack, cpu_seconds, servers_cpu
from bench.http_path.stats import ms, percentile

CONCURRENCY = (16, 64)
ORDER_CONCURRENCY = 16


@dataclass
class RunFigures:
    name: str
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    settled_per_s: float  # notifications / (first send → every line settled)
    lag_p50_ms: float
    lag_p99_ms: float
    lag_samples: int
    poll_p50_ms: float  # the answering poll's own request time
    poll_p99_ms: float
    polls: int
    first_poll_hits: int
    server_cpu_ms: float  # per notification: the serve processes
    db_cpu_ms: float  # per notification: PostgreSQL backends of the bench database
    bench_cpu_ms: float  # per notification: this load generator


@dataclass
class OrderFigures:
    members: int
    logins_per_s: float
    count: int
    per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # per order: the serve processes


@dataclass
class Repeat:
    orders: OrderFigures
    runs: list[RunFigures]
    paid: list[str]  # out_trade_no of every order paid


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def backends_cpu(conn: asyncpg.Connection, db: str) -> dict[int, float]:
    pids = await database.backend_cpu_pids(conn, db)
    return {pid: cpu_seconds(pid) for pid in pids}


async def make_orders(
    stack: Stack, count: int, products: Sequence[int], seed: int
) -> tuple[list[Order], OrderFigures]:
    urls = [s.url for s in stack.servers]
    members, logins = await clients.log_in(
        math.ceil(count / clients.ORDERS_PER_MEMBER), urls, ORDER_CONCURRENCY
    )
    try:
        cpu = servers_cpu(stack)
        orders, timed = await clients.place_orders(
            members, count, products, ORDER_CONCURRENCY, seed
        )
        cpu = servers_cpu(stack) - cpu
    finally:
        await clients.close(members)
    return orders, OrderFigures(
        members=len(members),
        logins_per_s=logins.rate,
        count=len(orders),
        per_s=timed.rate,
        p50_ms=ms(percentile(timed.latencies, 0.5)),
        p99_ms=ms(percentile(timed.latencies, 0.99)),
        server_cpu_ms=ms(cpu / len(orders)) if orders else 0.0,
    )


async def measured(
    stack: Stack, url: str, orders: Sequence[Order], mode: int | float, lag_every: int
) -> RunFigures:
    """One run: ``mode`` is a concurrency (int) or an offered rate (float, per second)."""
    assert stack.fake is not None
    notes = await sign(stack.fake.url, orders)
    conn = await database.connect(url)
    connector = aiohttp.TCPConnector(limit=PACED_CONNECTIONS)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            sender = Sender(http, stack.ports, lag_every)
            db0, cpu0, own0 = await backends_cpu(conn, stack.db_name), servers_cpu(stack), own_cpu()
            started = time.perf_counter()
            if isinstance(mode, int):
                run = await fire_concurrent(sender, notes, mode)
            else:
                run = await fire_paced(sender, notes, mode)
            settled = await database.wait_settled(conn, [o.out_trade_no for o in orders])
            await settle_lags(run)
            cpu, own = servers_cpu(stack) - cpu0, own_cpu() - own0
            db1 = await backends_cpu(conn, stack.db_name)
    finally:
        await conn.close()
    db = sum(db1.get(pid, 0.0) - db0.get(pid, 0.0) for pid in db1)
    return figures(run, settled - started, cpu, db, own)


def figures(run: Fired, to_settled: float, cpu: float, db: float, own: float) -> RunFigures:
    n = run.count

    def per(seconds: float) -> float:
        return ms(seconds / n) if n else 0.0

    return RunFigures(
        name=run.name,
        count=n,
        per_s=run.rate,
        p50_ms=ms(percentile(run.latencies, 0.5)),
        p99_ms=ms(percentile(run.latencies, 0.99)),
        settled_per_s=n / to_settled if to_settled else 0.0,
        lag_p50_ms=ms(percentile(run.lags, 0.5)),
        lag_p99_ms=ms(percentile(run.lags, 0.99)),
        lag_samples=len(run.lags),
        poll_p50_ms=ms(percentile(run.poll_latencies, 0.5)),
        poll_p99_ms=ms(percentile(run.poll_latencies, 0.99)),
        polls=run.polls,
        first_poll_hits=run.first_poll_hits,
        server_cpu_ms=per(cpu),
        db_cpu_ms=per(db),
        bench_cpu_ms=per(own),
    )


async def one_repeat(
    stack: Stack, url: str, *, orders: int, rate: float, lag_every: int, seed: int
) -> Repeat:
    await database.vacuum_analyze(url)
    products = await database.product_ids(url)
    placed, order_figures = await make_orders(stack, 3 * orders, products, seed)
    await database.vacuum_analyze(url)
    modes: list[int | float] = [*CONCURRENCY, float(rate)]
    runs = []
    for i, mode in enumerate(modes):
        part = placed[i * orders : (i + 1) * orders]
        runs.append(await measured(stack, url, part, mode, lag_every))
    return Repeat(order_figures, runs, [o.out_trade_no for o in placed])
