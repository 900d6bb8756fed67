"""A member's place in a deep queue: ``python -m bench.places`` (``make bench-places``).

    python -m bench.places                      # 30,000 and 1,000,000 waiting
    python -m bench.places --waiting 100000

For each size: a fresh database (``qr_bench_places``) with one mall-wide queue and N waiting
entries loaded by COPY (``bench.dataset``), ``VACUUM ANALYZE`` (autovacuum is off on this
machine) and ``pgbench -N`` on a scratch database for the ratio. Then, by ``time.perf_counter``
around each call, in this process with the ORM warm:

- **markers**: the first ``services.queues.place.places`` call of the process, which reads the
  queue's markers (one scan of the waiting part, once per ``MARKERS_TTL`` per process);
- **place**: the median of 9 further calls for one entry at the head, the middle and the tail;
- **whole prefix**: the median of 3 counts of every waiting entry ahead of the tail entry, the
  query every place cost before the markers (``Waitline.window`` from the first seq).

Every place is checked against the entry's position in the loaded queue.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from tortoise import Tortoise, connections

from bench.dataset import (
    asyncpg_url,
    create_schema,
    drop_database,
    preload,
    recreate_database,
)
from bench.http_path.database import ADMIN_URL
from bench.pgbench import pgbench_init, pgbench_tps
from runtime.db import tortoise_config
from runtime.sql import fetch
from services.queues.place import places, queue_line

DB = "qr_bench_places"


async def pgbench(seconds: int) -> float:
    url = await recreate_database(ADMIN_URL, f"{DB}_pgbench")
    try:
        await pgbench_init(url, scale=10)
        return await pgbench_tps(url, clients=8, seconds=seconds)
    finally:
        await drop_database(ADMIN_URL, f"{DB}_pgbench")


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000, result


async def waiting_seqs(url: str, queue_id: int) -> list[int]:
    """The queue's waiting seqs in order, after ``VACUUM ANALYZE``."""
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetch(
            "SELECT seq FROM entry WHERE queue_id = $1 AND status = 'waiting' ORDER BY seq",
            queue_id,
        )
    finally:
        await conn.close()
    return [int(r["seq"]) for r in rows]


async def one_size(waiting: int) -> None:
    url = await recreate_database(ADMIN_URL, DB)
    try:
        await create_schema(url)
        data = await preload(url, waiting=waiting)
        seqs = await waiting_seqs(url, data.queue_id)
        await Tortoise.init(config=tortoise_config(url))
        try:
            await measure(data.queue_id, seqs)
        finally:
            await Tortoise.close_connections()
    finally:
        await drop_database(ADMIN_URL, DB)


async def measure(queue_id: int, seqs: list[int]) -> None:
    n = len(seqs)
    first, _ = await timed(lambda: places(queue_id, [seqs[0]]), 1)
    print(f"{n:,} waiting: markers read (the process's first place) {first:,.1f} ms")
    for name, i in (("head", 10), ("middle", n // 2), ("tail", n - 1)):
        ms, got = await timed(lambda i=i: places(queue_id, [seqs[i]]), 9)
        assert got[seqs[i]].ahead == i, (name, got)
        print(f"{n:,} waiting: place of the entry at the {name} ({i:,} ahead): {ms:.2f} ms")
    line = queue_line(queue_id)
    whole = line.window(upper=True) + "k = $5"
    ms, _ = await timed(
        lambda: fetch(connections.get("default"), whole, [*line.args, 0, seqs[-1], seqs[-1]]), 3
    )
    print(f"{n:,} waiting: the whole prefix counted for the tail entry (before): {ms:,.1f} ms")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--waiting", default="30000,1000000", help="queue sizes (default 30000,1000000)")
    p.add_argument("--pgbench-seconds", type=int, default=10)
    a = p.parse_args()
    print(
        f"pgbench -N -c 8 -j 2 -T {a.pgbench_seconds}: {await pgbench(a.pgbench_seconds):,.0f} tps"
    )
    for size in (int(s) for s in a.waiting.split(",")):
        await one_size(size)


if __name__ == "__main__":
    asyncio.run(main())
