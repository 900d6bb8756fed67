"""asyncpg's timestamptz encoder against runtime/pg_codecs.py's, side by side.

    python -m bench.timestamp_codec [--rows 2000] [--rounds 30]

COPYs ``--rows`` rows shaped like the writer's (an id, two timestamps — the batch's ``now`` —
and a key) into a temporary table, ``--rounds`` times per codec, alternating, and prints the
median of the client's own CPU time (``getrusage``) per row for each. The server's work is the
same either way (the bytes sent are identical; tests/test_pg_codecs.py checks them).
"""

import argparse
import asyncio
import os
import resource
import statistics
from datetime import UTC, datetime

import asyncpg

from runtime.pg_codecs import install_codecs

URL = os.environ.get(
    "QR_BENCH_PG", os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def copy_cpu_per_row(conn: asyncpg.Connection, rows: list[tuple[object, ...]]) -> float:
    t0 = cpu_s()
    await conn.copy_records_to_table("stamps", records=rows)
    return (cpu_s() - t0) / len(rows)


async def main_async(a: argparse.Namespace) -> None:
    conns = {}
    for name in ("asyncpg", "pg_codecs"):
        conn = await asyncpg.connect(URL.replace("postgres://", "postgresql://", 1))
        if name == "pg_codecs":
            await install_codecs(conn)
        await conn.execute(
            "CREATE TEMP TABLE stamps (id bigint, a timestamptz, b timestamptz, k text)"
        )
        conns[name] = conn
    try:
        now = datetime.now(UTC)
        rows = [(i, now, now, f"payout:{i}:{i + 1}") for i in range(a.rows)]
        samples: dict[str, list[float]] = {name: [] for name in conns}
        for _ in range(a.rounds):
            for name, conn in conns.items():
                samples[name].append(await copy_cpu_per_row(conn, rows))
                await conn.execute("TRUNCATE stamps")
        print(
            f"COPY of {a.rows} rows with 2 timestamps each, client CPU per row, median of {a.rounds}:"
        )
        medians = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
        for name, us in medians.items():
            print(f"  {name:9} {us:5.2f} µs")
        print(f"  ratio     {medians['asyncpg'] / medians['pg_codecs']:5.1f}×")
    finally:
        for conn in conns.values():
            await conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000)
    p.add_argument("--rounds", type=int, default=30)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
