"""The settler with a per-statement account of its PostgreSQL server's CPU time.

    QR_BENCH_SETTLER=bench/statement_profile.py python -m bench.settlement --sizes 10000 ...

Runs ``bench.settler`` unchanged, but wraps the asyncpg calls the writer makes
(``execute``, ``fetch``, ``fetchrow``, ``fetchval``, ``copy_records_to_table``) and charges the
server process's CPU time during each call to the statement (its first words, or the COPY's
table). CPU time comes from ``/proc/<pid>/schedstat`` (nanoseconds on a CPU), so it is not
inflated by time the server spent waiting for a core. At exit it prints, per statement, the
calls and the server CPU in seconds and per settled line.
"""

import atexit
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg

CPU_NS: dict[str, int] = defaultdict(int)
CALLS: dict[str, int] = defaultdict(int)


def server_ns(conn: asyncpg.Connection) -> int:
    pid = conn.get_server_pid()
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def label(query: str) -> str:
    q = re.sub(r"\s+", " ", query).strip()
    m = re.match(r"(UPDATE \w+|INSERT INTO \w+|DELETE FROM \w+|SELECT .{0,40}?FROM \w+)", q)
    return m.group(1) if m else q[:48]


def wrap(name: str) -> None:
    original = getattr(asyncpg.Connection, name)

    async def timed(self, *args, **kwargs):
        key = f"COPY {args[0]}" if name == "copy_records_to_table" else label(args[0])
        t0 = server_ns(self)
        try:
            return await original(self, *args, **kwargs)
        finally:
            CPU_NS[key] += server_ns(self) - t0
            CALLS[key] += 1

    setattr(asyncpg.Connection, name, timed)


def report() -> None:
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    lines = json.loads(out.read_text())["lines"] if out.exists() else 0
    total = sum(CPU_NS.values())
    print(f"server CPU by statement over {lines:,} settled lines:", file=sys.stderr)
    for key, ns in sorted(CPU_NS.items(), key=lambda kv: -kv[1]):
        per = ns / 1000 / lines if lines else 0.0
        print(
            f"  {ns / 1e9:7.2f} s {per:7.1f} µs/line {CALLS[key]:6} calls  {key}", file=sys.stderr
        )
    print(
        f"  {total / 1e9:7.2f} s {total / 1000 / max(lines, 1):7.1f} µs/line  total",
        file=sys.stderr,
    )


for method in ("execute", "fetch", "fetchrow", "fetchval", "copy_records_to_table"):
    wrap(method)
atexit.register(report)

if __name__ == "__main__":
    from bench.settler import main

    main()
