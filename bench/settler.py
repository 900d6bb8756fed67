"""The settling process of the benchmark: one queue's writer in its own OS process.

    python -m bench.settler --db URL --queue ID --stop-file PATH --out PATH [--batch N]

It does what ``services.queues.writer.apply_pending`` does — one ``apply_batch`` per
transaction until nothing is pending — but forever, with a fresh ``now`` per batch (so each
batch's extractions' ``created_at`` is distinct) and a log of when each batch committed. It exits once the
stop file exists and nothing is pending, and writes a JSON report: per-batch log, busy time,
and its own peak RSS (``getrusage``: the kernel's high-water mark of this process).

Like ``queue-rebate serve`` it tunes the garbage collector at start (runtime/gc_tuning.py);
``QR_BENCH_GC=default`` keeps CPython's settings, to measure the difference.
"""

import argparse
import asyncio
import cProfile
import json
import os
import resource
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from runtime.db import tortoise_config
from runtime.gc_tuning import tune_collector
from services.queues.writer import DEFAULT_BATCH, apply_batch


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def settle_until_stopped(
    url: str,
    queue_id: int,
    *,
    batch_size: int,
    stop_file: Path,
    ready_file: Path | None = None,
    idle_sleep: float = 0.002,
) -> dict[str, Any]:
    # one pooled connection, so that its server process is the writer's whole database side
    pool = "&" if "?" in url else "?"
    ctx = await Tortoise.init(config=tortoise_config(f"{url}{pool}minsize=1&maxsize=1"))
    rows = await connections.get("default").execute_query_dict("SELECT pg_backend_pid() AS pid")
    backend = int(rows[0]["pid"])
    backend_cpu0, cpu0 = backend_cpu_s(backend), _cpu_s()
    rss_after_init = peak_rss_kib()
    if ready_file:
        ready_file.touch()
    rng = secrets.SystemRandom()
    log: list[tuple[int, float, int, float]] = []  # batch's now µs, commit epoch s, lines, seconds
    busy = 0.0
    try:
        while True:
            stopping = stop_file.exists()  # checked before the batch: rows stored before the
            now = datetime.now(UTC)  # stop file was written are always seen by this batch
            t0 = time.perf_counter()
            async with in_transaction() as conn:
                n = await apply_batch(conn, queue_id, now=now, batch_size=batch_size, rng=rng)
            if n:
                took = time.perf_counter() - t0
                busy += took
                log.append((micros(now), time.time(), n, took))
                continue
            if stopping:
                break
            await asyncio.sleep(idle_sleep)
        backend_cpu, cpu = backend_cpu_s(backend) - backend_cpu0, _cpu_s() - cpu0
    finally:
        await ctx.close_connections()
    return {
        "batches": len(log),
        "lines": sum(x[2] for x in log),
        "busy_s": busy,
        "peak_rss_kib": peak_rss_kib(),
        "rss_after_init_kib": rss_after_init,
        "cpu_s": cpu,
        "db_cpu_s": backend_cpu,
        "log": log,
    }


def backend_cpu_s(pid: int) -> float:
    """CPU time (user + system) of a local PostgreSQL server process, from /proc: unlike wall
    time, it does not grow when other work on a busy machine delays the process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # a remote server
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (the resolution of a PostgreSQL timestamptz)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    p.add_argument("--stop-file", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ready-file", type=Path, help="touched once connected")
    p.add_argument("--profile", type=Path, help="write cProfile stats here")
    a = p.parse_args()
    if os.environ.get("QR_BENCH_GC") != "default":
        tune_collector()
    run = lambda: asyncio.run(  # noqa: E731
        settle_until_stopped(
            a.db, a.queue, batch_size=a.batch, stop_file=a.stop_file, ready_file=a.ready_file
        )
    )
    if a.profile:
        prof = cProfile.Profile()
        report = prof.runcall(run)
        prof.dump_stats(a.profile)
    else:
        report = run()
    a.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
