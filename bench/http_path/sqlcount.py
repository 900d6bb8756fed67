"""SQL statements (and transactions) per payment notification, counted in PostgreSQL's own log.

pg_stat_statements is installed but not preloaded, and the cluster must not be restarted, so the
count comes from the server log (``log_line_prefix = '%m [%p] %q%u@%d '``):

1. ``ALTER DATABASE <bench db> SET log_statement = 'all'`` — it applies to sessions opened after
   it, so a fresh ``queue-rebate serve`` process is started (one), and a few warm-up
   notifications are sent so that one-time work (settings, type introspection) is not counted;
2. ``SELECT 'bench-marker-start'`` from the benchmark's own connection, then N notifications one
   after the other, each answered before the next, then the benchmark waits (on that connection)
   until every line is settled, then ``SELECT 'bench-marker-end'``;
3. ``ALTER DATABASE … RESET log_statement``; the log is read from where it ended before step 2.

Counted: every ``statement:`` / ``execute …:`` line of the benchmark database between the
markers, except the benchmark connection's own. Transactions: per server process, a BEGIN opens
one that COMMIT / ROLLBACK ends; any statement outside one is its own. With ``stats_wait`` > 0 the
pg_stat_database ``xact_commit + xact_rollback`` delta of the database is read too (from another
database, after waiting that long for the backends to flush their statistics), less the
benchmark connection's own statements.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.http_path import database
from bench.http_path.clients import Order
from bench.http_path.notify import Fired, Sender, sign
from bench.http_path.stack import Stack, start_servers, stop_servers

PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
START, END = "bench-marker-start", "bench-marker-end"
LINE = re.compile(
    r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] (?P<user>[^@\s]*)@(?P<db>\S*) LOG:  "
    r"(?:statement|execute [^:]*): (?P<sql>.*)$"
)
LOG_WAIT = 10.0


@dataclass
class SqlCount:
    notifications: int
    statements: int = 0
    transactions: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # first word → statements
    stat_xacts: int | None = None  # pg_stat_database delta, when read

    def per(self, n: int) -> float:
        return n / self.notifications if self.notifications else 0.0


# asyncpg's pool runs this (one round trip, four commands) on every connection it takes back.
POOL_RESET = "SELECT pg_advisory_unlock_all();"


def kind(sql: str) -> str:
    """The statement's first word (``pool-reset`` for asyncpg's reset on release)."""
    if sql.startswith(POOL_RESET):
        return "pool-reset"
    return (sql.split() or ["?"])[0].upper().rstrip(";")


def parse(lines: Sequence[str], db: str, own_pid: int) -> SqlCount:
    """Statements and transactions of ``db`` between the markers, without ``own_pid``'s."""
    found = SqlCount(0)
    open_txn: set[str] = set()
    inside = False
    for line in lines:
        m = LINE.match(line)
        if not m or m["db"] != db:
            continue
        if f"'{START}'" in m["sql"]:
            inside = True
            continue
        if f"'{END}'" in m["sql"]:
            break
        if not inside or m["pid"] == str(own_pid):
            continue
        word = kind(m["sql"])
        found.statements += 1
        found.by_kind[word] = found.by_kind.get(word, 0) + 1
        if word in ("BEGIN", "START"):
            open_txn.add(m["pid"])
        elif word in ("COMMIT", "ROLLBACK", "END"):
            open_txn.discard(m["pid"])
            found.transactions += 1
        elif m["pid"] not in open_txn:
            found.transactions += 1
    return found


def own_statements(lines: Sequence[str], db: str, own_pid: int) -> int:
    """The benchmark connection's statements from the start marker to the end marker."""
    count, inside = 0, False
    for line in lines:
        m = LINE.match(line)
        if m and m["db"] == db and m["pid"] == str(own_pid):
            inside = inside or f"'{START}'" in m["sql"]
            count += inside
            if f"'{END}'" in m["sql"]:
                break
    return count


async def read_log(offset: int) -> list[str]:
    """The log's lines from ``offset`` once the end marker is in them."""
    deadline = asyncio.get_running_loop().time() + LOG_WAIT
    while True:
        with PG_LOG.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        if f"'{END}'" in text or asyncio.get_running_loop().time() > deadline:
            return text.splitlines()
        await asyncio.sleep(0.2)


async def xacts(db: str) -> int:
    admin = await database.connect(database.ADMIN_URL)
    try:
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await admin.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", db
            )
        )
    finally:
        await admin.close()


async def set_logging(db: str, on: bool) -> None:
    admin = await database.connect(database.ADMIN_URL)
    try:
        action = "SET log_statement = 'all'" if on else "RESET log_statement"
        await admin.execute(f'ALTER DATABASE "{db}" {action}')
    finally:
        await admin.close()


async def send_all(stack: Stack, orders: Sequence[Order]) -> None:
    """Notify ``orders`` one after the other, each answered before the next."""
    assert stack.fake is not None
    notes = await sign(stack.fake.url, orders)
    async with aiohttp.ClientSession() as http:
        sender, run = Sender(http, stack.ports, lag_every=0), Fired("sequential")
        for i, note in enumerate(notes):
            await sender.send(i, note, 0.0, run)


def numbers(orders: Sequence[Order]) -> list[str]:
    return [o.out_trade_no for o in orders]


async def count_round(
    stack: Stack, url: str, orders: Sequence[Order], warmup: int, stats_wait: float
) -> SqlCount:
    """Run the counting round on ``orders`` (unpaid): the first ``warmup`` are not counted."""
    if not PG_LOG.exists():
        raise RuntimeError(f"{PG_LOG} not found: cannot count statements (use --sql-count 0)")
    db = stack.db_name
    await set_logging(db, True)
    try:
        await stop_servers(stack)
        await start_servers(stack, 1)  # its sessions open after the ALTER: they log
        await send_all(stack, orders[:warmup])
        counted = orders[warmup:]
        conn = await database.connect(url)
        try:
            own_pid = await conn.fetchval("SELECT pg_backend_pid()")
            await database.wait_settled(conn, numbers(orders[:warmup]))
            await asyncio.sleep(stats_wait)
            before = await xacts(db) if stats_wait else 0
            offset = PG_LOG.stat().st_size
            await conn.execute(f"SELECT '{START}'")
            await send_all(stack, counted)
            await database.wait_settled(conn, numbers(counted))
            await conn.execute(f"SELECT '{END}'")
        finally:
            await conn.close()
        await asyncio.sleep(stats_wait)
        after = await xacts(db) if stats_wait else 0
    finally:
        await set_logging(db, False)
        await stop_servers(stack)
    lines = await read_log(offset)
    found = parse(lines, db, own_pid)
    found.notifications = len(counted)
    if stats_wait:
        found.stat_xacts = after - before - own_statements(lines, db, own_pid)
    return found
