"""PostgreSQL's own ceiling on this machine: ``pgbench -N`` (simple update) on the same database.

``pgbench -i`` creates its ``pgbench_*`` tables beside ours; ``-N`` runs the TPC-B-like script
without the branch and teller updates (one UPDATE, one SELECT, one INSERT per transaction).
"""

import asyncio
import re
import shutil
from glob import glob
from urllib.parse import parse_qs, urlsplit


def pgbench_binary() -> str:
    found = shutil.which("pgbench") or next(
        iter(sorted(glob("/usr/lib/postgresql/*/bin/pgbench"))), None
    )
    if not found:
        raise RuntimeError("pgbench not found: install the PostgreSQL client tools")
    return found


def _conn_args(url: str) -> list[str]:
    """pgbench's connection options for ``url``; ``?host=/dir`` is a Unix socket directory, as
    for asyncpg and libpq."""
    u = urlsplit(url)
    socket_dir = parse_qs(u.query).get("host", [""])[0]
    args = [
        "-h",
        socket_dir or u.hostname or "127.0.0.1",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
    ]
    return [*args, u.path.lstrip("/")]


async def _run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        pgbench_binary(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{text}")
    return text


async def pgbench_init(url: str, *, scale: int) -> None:
    *conn, db = _conn_args(url)
    await _run("-i", "-q", "-s", str(scale), *conn, db)


async def pgbench_tps(url: str, *, clients: int = 8, threads: int = 2, seconds: int = 10) -> float:
    """Transactions/s of ``pgbench -N`` (excluding connection set-up)."""
    *conn, db = _conn_args(url)
    text = await _run(
        "-N", "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds), *conn, db
    )
    m = re.search(
        r"tps = ([0-9.]+) \((?:without initial connection time"
        r"|excluding connections establishing)\)",
        text,
    )
    if not m:
        raise RuntimeError(f"cannot read pgbench's TPS from:\n{text}")
    return float(m.group(1))
