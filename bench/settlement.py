"""Settlement benchmark: one mall-wide queue on PostgreSQL, the full model (issue 3).

    python -m bench.settlement            # full run: 10 k and 1 M waiting entries
    python -m bench.settlement --quick    # short run: 10 k and 100 k, fewer orders

For each queue size it creates a fresh database (``qr_bench_<size>``), loads the waiting
entries by COPY, runs ``pgbench -N`` on that same database, then two measured runs with the
settler in its own process (see ``bench.run`` for how each figure is obtained):

- capacity: producers store ``--orders`` paid orders as fast as they can while the settler
  settles; the orders/s here is the headline figure and the one the 10 k vs 1 M ratio uses;
- drain: producers store ``--orders`` orders first, then the settler drains them alone: its
  rate is the writer's own, with no producer competing for the cores;
- paced: producers store ``--rates`` orders/s (default: 70 % of the capacity just measured) for
  ``--seconds`` s; its latency is the p50/p99 under a steady load the writer can sustain.

After each run ``check_conservation()`` must return no problem and every stored order must be
settled, or the benchmark fails. Finally, for comparison, ``--services-orders`` orders go
through the real service functions (``create_order`` + ``mark_paid``, settling inline).
"""

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bench.dataset import (
    Dataset,
    create_schema,
    drop_database,
    preload,
    recreate_database,
)
from bench.pgbench import pgbench_init, pgbench_tps
from bench.producers import produce_via_services
from bench.run import RunFigures, measured_run
from runtime.db import tortoise_config
from services.checks import check_conservation

AUTO_LOAD = 0.7  # the paced run's load, as a fraction of the measured capacity
ADMIN_URL = os.environ.get(
    "QR_BENCH_PG", os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
)


async def build(size: int, *, admin_url: str = ADMIN_URL) -> Dataset:
    name = f"qr_bench_{size}"
    url = await recreate_database(admin_url, name)
    await create_schema(url)
    ds = await preload(url, waiting=size)
    return ds


async def problems(ds: Dataset) -> list[str]:
    """Conservation (the application's own check) and completeness: every stored order settled."""
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(ds.url))
    try:
        found = await check_conservation()
        conn = Tortoise.get_connection("default")
        _, rows = await conn.execute_query(
            "SELECT (SELECT COUNT(*) FROM pending_settlement) AS p,"
            " (SELECT COUNT(*) FROM order_line WHERE status = 'settling') AS s"
        )
    finally:
        await ctx.close_connections()
    if rows[0]["p"] or rows[0]["s"]:
        found.append(f"unsettled after the run: {rows[0]['p']} pending rows, {rows[0]['s']} lines")
    return found


async def check(ds: Dataset) -> None:
    found = await problems(ds)
    if found:
        raise SystemExit("check FAILED:\n" + "\n".join(found))


async def services_path(ds: Dataset, orders: int, concurrency: int) -> dict[str, Any]:
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(ds.url))
    try:
        done = await produce_via_services(ds, orders=orders, concurrency=concurrency)
    finally:
        await ctx.close_connections()
    await check(ds)
    return {
        "orders": done.orders,
        "seconds": done.seconds,
        "per_s": done.rate,
        "concurrency": concurrency,
    }


async def bench_size(size: int, a: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    ds = await build(size)
    load_s = time.perf_counter() - t
    _say(f"[{size:,}] loaded {size:,} waiting entries in {load_s:.1f} s")
    await check(ds)
    await pgbench_init(ds.url, scale=a.pgbench_scale)
    tps = await pgbench_tps(ds.url, clients=a.pgbench_clients, seconds=a.pgbench_seconds)
    _say(f"[{size:,}] pgbench -N -c {a.pgbench_clients}: {tps:,.0f} tps")
    runs: list[RunFigures] = []
    profile = Path(a.profile) / f"settler_{size}.prof" if a.profile else None
    for r in range(a.repeat):
        fig = await measured_run(
            ds,
            f"capacity#{r + 1}",
            orders=a.orders,
            producers=a.producers,
            chunk=a.chunk,
            batch=a.batch,
            profile=profile if r == 0 else None,
        )
        await check(ds)
        _say(f"[{size:,}] {_line(fig)}")
        runs.append(fig)
    capacity = _median([f.settled_per_s for f in runs])
    drain = await measured_run(
        ds,
        "drain",
        orders=a.orders,
        producers=a.producers,
        chunk=a.chunk,
        batch=a.batch,
        backlog=True,
    )
    await check(ds)
    _say(f"[{size:,}] {_line(drain)}")
    runs.append(drain)
    for rate in a.rates:
        offered = round(capacity * AUTO_LOAD) if rate == "auto" else float(rate)
        fig = await measured_run(
            ds,
            f"paced@{offered:.0f}/s",
            duration=a.seconds,
            rate=offered,
            producers=a.producers,
            chunk=a.paced_chunk,
            batch=a.batch,
        )
        await check(ds)
        _say(f"[{size:,}] {_line(fig)}")
        runs.append(fig)
    return {
        "size": size,
        "load_s": load_s,
        "pgbench_tps": tps,
        "runs": [f.as_dict() for f in runs],
        "ds": ds,
    }


def _line(f: RunFigures) -> str:
    return (
        f"{f.name}: {f.orders:,} orders, settled {f.settled_per_s:,.0f}/s"
        f" (stored {f.produced_per_s:,.0f}/s,"
        f" writer busy-rate {f.writer_busy_per_s:,.0f}/s), latency p50 {f.p50_ms:,.0f} ms"
        f" p99 {f.p99_ms:,.0f} ms max {f.max_ms:,.0f} ms,"
        f" {f.batches} batches (mean {f.mean_batch:.0f}),"
        f" settler peak RSS {f.peak_rss_mib:.0f} MiB, CPU per order: settler {f.settler_cpu_us:.0f} µs"
        f" + its PostgreSQL backend {f.db_cpu_us:.0f} µs, conservation OK"
    )


def _say(text: str) -> None:
    print(text, flush=True)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def summary(
    results: list[dict[str, Any]], services: dict[str, Any] | None, a: argparse.Namespace
) -> str:
    small, big = results[0], results[-1]

    def cap(res: dict[str, Any]) -> float:
        return _median(
            [r["settled_per_s"] for r in res["runs"] if r["name"].startswith("capacity")]
        )

    out = [
        "",
        "== settlement benchmark: one mall-wide queue, PostgreSQL, full model ==",
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}",
    ]
    for res in results:
        c = cap(res)
        paced = "".join(
            f", {r['name']}: p50 {r['p50_ms']:,.0f} ms p99 {r['p99_ms']:,.0f} ms"
            for r in res["runs"]
            if r["name"].startswith("paced")
        )
        cpu = [r for r in res["runs"] if r["name"].startswith("capacity")]
        cpu_us = _median([r["settler_cpu_us"] + r["db_cpu_us"] for r in cpu])
        rss = max(r["peak_rss_mib"] for r in res["runs"])
        drain = next(r for r in res["runs"] if r["name"] == "drain")
        out.append(
            f"{res['size']:>9,} waiting: settled {c:,.0f} orders/s (median of {a.repeat}),"
            f" pgbench -N {res['pgbench_tps']:,.0f} tps → ratio {c / res['pgbench_tps']:.2f}×,"
            f" writer CPU {cpu_us:.0f} µs/order (settler + its backend),"
            f" writer alone draining a backlog {drain['writer_busy_per_s']:,.0f}/s{paced},"
            f" settler peak RSS {rss:.0f} MiB"
        )
    if len(results) > 1:
        out.append(
            f"rate with {big['size']:,} / rate with {small['size']:,} waiting ="
            f" {cap(big) / cap(small):.2f}"
        )
    if services:
        out.append(
            f"full service path (create_order + mark_paid, settling inline,"
            f" {services['concurrency']} callers):"
            f" {services['per_s']:,.0f} orders/s over {services['orders']:,} orders"
        )
    out.append(
        "conservation: check_conservation() returned no problem after every run;"
        " every stored order settled"
    )
    return "\n".join(out)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.settlement",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help="short run: 10k and 100k entries, fewer orders"
    )
    p.add_argument("--sizes", help="comma-separated waiting-entry counts (default 10000,1000000)")
    p.add_argument(
        "--orders", type=int, help="orders per capacity run (default 100000; quick 20000)"
    )
    p.add_argument("--repeat", type=int, help="capacity runs per size (default 3; quick 1)")
    p.add_argument(
        "--rates", default="auto",
        help="paced runs' orders/s, comma-separated; auto = 70%% of the measured capacity;"
        " empty: none (default auto)",
    )  # fmt: skip
    p.add_argument("--seconds", type=float, help="paced run's length (default 10; quick 3)")
    p.add_argument("--producers", type=int, default=2)
    p.add_argument(
        "--chunk", type=int, default=200, help="orders per producer transaction (capacity)"
    )
    p.add_argument(
        "--paced-chunk", type=int, default=50, help="orders per producer transaction (paced)"
    )
    p.add_argument("--batch", type=int, default=2000, help="the writer's batch size")
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-seconds", type=int, help="default 10; quick 5")
    p.add_argument("--pgbench-scale", type=int, help="default 10; quick 1")
    p.add_argument(
        "--services-orders",
        type=int,
        help="orders through the services (default 2000; quick 300; 0: skip)",
    )
    p.add_argument("--services-concurrency", type=int, default=4)
    p.add_argument(
        "--profile", help="directory for the settler's cProfile stats (first capacity run)"
    )
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    a = p.parse_args(argv)
    q = a.quick
    a.sizes = [int(x) for x in (a.sizes or ("10000,100000" if q else "10000,1000000")).split(",")]
    a.rates = [r for r in a.rates.split(",") if r]
    a.orders = a.orders or (20_000 if q else 100_000)
    a.repeat = a.repeat or (1 if q else 3)
    a.seconds = a.seconds or (3.0 if q else 10.0)
    a.pgbench_seconds = a.pgbench_seconds or (5 if q else 10)
    a.pgbench_scale = a.pgbench_scale or (1 if q else 10)
    a.services_orders = (300 if q else 2000) if a.services_orders is None else a.services_orders
    return a


async def main_async(a: argparse.Namespace) -> None:
    if a.profile:
        Path(a.profile).mkdir(parents=True, exist_ok=True)
    results = [await bench_size(size, a) for size in a.sizes]
    services = None
    if a.services_orders:
        services = await services_path(results[0]["ds"], a.services_orders, a.services_concurrency)
        _say(
            f"[services] {services['orders']:,} orders in {services['seconds']:.1f} s"
            f" = {services['per_s']:,.0f}/s"
        )
    _say(summary(results, services, a))
    if a.json:
        doc = {
            "args": {k: v for k, v in vars(a).items()},
            "services": services,
            "results": [{k: v for k, v in r.items() if k != "ds"} for r in results],
        }
        Path(a.json).write_text(json.dumps(doc, indent=1))
    if not a.keep:
        for size in a.sizes:
            await drop_database(ADMIN_URL, f"qr_bench_{size}")


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse(argv)))


if __name__ == "__main__":
    main()
