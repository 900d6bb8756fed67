"""One measured run: a settler process, producers storing paid orders, then the figures.

Figures, and how each is obtained:
- settled orders/s = orders stored in the run / (last batch commit − first order's ``created_at``):
  from "order paid and stored" to "all of it committed", producers and writer running together.
- writer busy rate = orders / time the writer spent inside its batch transactions.
- latency of an order = commit time of the batch that applied it − the moment it was stored
  (its ``paid_at``, stamped by the producer like its pending row's ``created_at``). Each batch
  stamps its extractions' ``created_at`` with its own start time, and the settler logs when that
  batch committed, so the two are joined exactly.
- peak RSS = the settler's ``getrusage(RUSAGE_SELF).ru_maxrss`` at exit (its high-water mark).
"""

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.dataset import Dataset, asyncpg_url
from bench.producers import Produced, produce
from bench.settler import micros

READY_TIMEOUT = 60.0


@dataclass
class RunFigures:
    name: str
    orders: int
    produced_per_s: float
    settled_per_s: float
    writer_busy_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    batches: int
    mean_batch: float
    peak_rss_mib: float
    settler_cpu_us: float  # per order: the settler process (Python)
    db_cpu_us: float  # per order: its PostgreSQL server process
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def measured_run(
    ds: Dataset,
    name: str,
    *,
    orders: int = 0,
    duration: float = 0.0,
    rate: float = 0.0,
    producers: int = 2,
    chunk: int = 200,
    batch: int = 500,
    profile: Path | None = None,
    backlog: bool = False,
) -> RunFigures:
    """Start the settler, produce (``orders`` as fast as possible, or ``rate``/s for
    ``duration`` s), let the settler drain, then read the figures back from the database.

    ``backlog``: produce first and start the settler after, so that it drains a stored backlog
    alone (its busy rate is then the writer's own rate, with no producer beside it)."""
    conn = await asyncpg.connect(asyncpg_url(ds.url))
    try:
        start_id = await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM orders")
        with tempfile.TemporaryDirectory(prefix="qr-bench-") as tmp:
            stop, out = Path(tmp) / "stop", Path(tmp) / "report.json"
            settler = None
            if not backlog:
                settler = await _start_settler(ds, batch=batch, stop=stop, out=out, profile=profile)
            t0 = time.perf_counter()
            try:
                produced = await produce(
                    ds,
                    orders=orders,
                    duration=duration,
                    rate=rate,
                    producers=producers,
                    chunk=chunk,
                )
            except BaseException:
                if settler is not None:
                    settler.kill()  # never leave the writer process behind
                    await settler.wait()
                raise
            if settler is None:
                settler = await _start_settler(ds, batch=batch, stop=stop, out=out, profile=profile)
            stop.touch()
            if await settler.wait():
                raise RuntimeError(f"settler exited with {settler.returncode}")
            wall = time.perf_counter() - t0
            report = json.loads(out.read_text())
        rows = await conn.fetch(
            "SELECT o.paid_at AS stored_at, x.created_at AS applied_at FROM orders o"
            " LEFT JOIN extraction x ON x.order_id = o.id WHERE o.id > $1",
            start_id,
        )
    finally:
        await conn.close()
    return _figures(name, rows, report, produced, wall)


async def _start_settler(
    ds: Dataset, *, batch: int, stop: Path, out: Path, profile: Path | None
) -> asyncio.subprocess.Process:
    # QR_BENCH_SETTLER: a script run instead of ``-m bench.settler``, with the same arguments
    # (e.g. one that wraps it with a statement-timing profiler).
    script = os.environ.get("QR_BENCH_SETTLER")
    args = [sys.executable, *([script] if script else ["-m", "bench.settler"])]
    args += ["--db", ds.url, "--queue", str(ds.queue_id), "--batch", str(batch)]
    args += [
        "--stop-file",
        str(stop),
        "--out",
        str(out),
        "--ready-file",
        str(out.with_suffix(".ready")),
    ]
    if profile:
        args += ["--profile", str(profile)]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=Path(__file__).resolve().parent.parent, env=os.environ
    )
    ready = out.with_suffix(".ready")
    deadline = time.perf_counter() + READY_TIMEOUT
    while not ready.exists():
        if proc.returncode is not None or time.perf_counter() > deadline:
            raise RuntimeError("the settler did not start")
        await asyncio.sleep(0.02)
    return proc


def _figures(
    name: str, rows: list[Any], report: dict[str, Any], produced: Produced, wall: float
) -> RunFigures:
    unapplied = sum(1 for r in rows if r["applied_at"] is None)
    if unapplied:
        raise RuntimeError(f"{unapplied} stored orders were never settled")
    commit = {int(us): at for us, at, _, _ in report["log"]}
    lat = sorted(commit[micros(r["applied_at"])] - r["stored_at"].timestamp() for r in rows)
    first = min(r["stored_at"].timestamp() for r in rows) if rows else 0.0
    last = max(commit.values()) if commit else 0.0
    n = len(rows)

    def pct(q: float) -> float:
        return lat[min(n - 1, int(q * n))] * 1000 if n else 0.0

    return RunFigures(
        name=name,
        orders=n,
        produced_per_s=produced.rate,
        settled_per_s=n / (last - first) if n else 0.0,
        writer_busy_per_s=n / report["busy_s"] if report["busy_s"] else 0.0,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        max_ms=lat[-1] * 1000 if n else 0.0,
        batches=report["batches"],
        mean_batch=n / report["batches"] if report["batches"] else 0.0,
        peak_rss_mib=report["peak_rss_kib"] / 1024,
        settler_cpu_us=report["cpu_s"] / n * 1e6 if n else 0.0,
        db_cpu_us=report["db_cpu_s"] / n * 1e6 if n else 0.0,
        wall_s=wall,
    )
