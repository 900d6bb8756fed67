"""工会排队's daily close (SPEC §11): the pool's balance pays waiting quotas in consumption
order, each in full (or the head in part, if so set), within the daily cap; the rest carries
over; the day's statement is written with the payouts' postings, in one transaction that holds
the pool exclusively. The job registry runs it once per slot across processes, and a day is
closed at most once (``union_pool_day.day`` is unique).

The slot's day: a close at or after 12:00 (Beijing time) closes its own date; one before noon —
the default 00:00 — closes the day that just ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.bulk import post_by_copy
from ledger.postings import Posting, post
from models import PoolDay, PoolEntryStatus
from rebate.errors import NotAllowed
from rebate.union_pool import Close, Waiting, daily_close
from rebate.union_pool_settings import PoolSettings
from runtime.sql import execute, fetch, is_pg, marks
from services.clock import LOCAL_TZ
from services.outbox import Event, emit
from services.pool.settings import load_pool, lock_pool
from services.pool.waits import tell_wait_changes

JOB_NAME = "union-pool-close"
CHUNK = 1_000  # waiting entries read at a time: the close reads only as far as the money goes


def day_of(slot: datetime) -> date:
    at = slot.astimezone(LOCAL_TZ)
    return at.date() if at.time() >= time(12) else at.date() - timedelta(days=1)


async def scheduled_slot(now: datetime) -> datetime | None:
    """Today's close time if it has passed, else yesterday's; None while no order source joins
    the pool."""
    settings = await load_pool()
    if not settings.sources:
        return None
    hh, mm = (int(x) for x in settings.close_at.split(":"))
    local = now.astimezone(LOCAL_TZ)
    at = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return at if at <= local else at - timedelta(days=1)


@dataclass(frozen=True)
class Flows:
    """What entered and left the pool since the previous close, without the payouts."""

    contributed: dict[str, int]  # by order source
    accelerated: int
    taken_back: int  # by refunds since the previous close (counted now: ``taken_back_on``)
    last_entry_id: int
    last_acceleration_id: int


async def close_day(day: date, now: datetime, settings: PoolSettings | None = None) -> PoolDay:
    """Close ``day``: the statement written. NotAllowed when it, or a later day, is closed."""
    settings = settings or await load_pool()
    async with in_transaction() as conn:
        await lock_pool(conn, now, exclusive=True)
        last = await PoolDay.all().using_db(conn).order_by("-day").first()
        if last is not None and last.day >= day:
            raise NotAllowed(f"{day.isoformat()} 的工会返利池已结算（最近结算日 {last.day}）")
        flows = await _flows(conn, last, day)
        opening = last.closing_fen if last else 0
        balance = opening + sum(flows.contributed.values()) - flows.accelerated - flows.taken_back
        paid_fen, paid_count = await _close(conn, balance, settings, day, now)
        await tell_wait_changes(conn, settings, now)
        waiting = (await fetch(conn, _WAITING_TOTALS))[0]
        return await PoolDay.create(
            day=day, closed_at=now, opening_fen=opening, contributed=flows.contributed,
            accelerated_fen=flows.accelerated, taken_back_fen=flows.taken_back,
            paid_fen=paid_fen, paid_count=paid_count, closing_fen=balance - paid_fen,
            waiting_count=int(waiting["n"]), waiting_owed_fen=int(waiting["owed"]),
            last_entry_id=flows.last_entry_id, last_acceleration_id=flows.last_acceleration_id,
            postings_through=await _last_posting_id(conn), using_db=conn,
        )  # fmt: skip


async def _last_posting_id(conn: BaseDBAsyncClient) -> int:
    """The highest posting id now: the pool's postings up to it are all committed or this
    close's own (each is written under the pool's lock, which the close holds exclusively);
    any later one takes a higher id."""
    return int((await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS last FROM posting"))[0]["last"])


_WAITING_TOTALS = (
    "SELECT COUNT(*) AS n, COALESCE(SUM(quota_fen - paid_fen), 0) AS owed"
    " FROM union_pool_entry WHERE status = 'waiting'"
)


async def _flows(conn: BaseDBAsyncClient, last: PoolDay | None, day: date) -> Flows:
    after = last.last_entry_id if last else 0
    await execute(
        conn,
        "UPDATE union_pool_entry SET taken_back_on = $1"
        " WHERE refunded_at IS NOT NULL AND taken_back_on IS NULL",
        [day if is_pg(conn) else day.isoformat()],
    )
    back = await fetch(
        conn,
        "SELECT COALESCE(SUM(taken_back_fen), 0) AS s FROM union_pool_entry WHERE taken_back_on = $1",
        [day if is_pg(conn) else day.isoformat()],
    )
    rows = await fetch(
        conn,
        "SELECT source, SUM(contribution_fen) AS gave, SUM(accelerated_out_fen) AS sped,"
        " MAX(id) AS last FROM union_pool_entry WHERE id > $1 GROUP BY source",
        [after],
    )
    ids = await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS last FROM union_pool_acceleration")
    return Flows(
        contributed={r["source"]: int(r["gave"]) for r in rows},
        accelerated=sum(int(r["sped"]) for r in rows),
        taken_back=int(back[0]["s"]),
        last_entry_id=max([after, *(int(r["last"]) for r in rows)]),
        last_acceleration_id=int(ids[0]["last"]),
    )


class Owed(NamedTuple):
    """A waiting entry as the close read it."""

    member_id: int
    quota_fen: int
    owed_fen: int


async def _close(
    conn: BaseDBAsyncClient, balance: int, settings: PoolSettings, day: date, now: datetime
) -> tuple[int, int]:
    """``rebate.union_pool.daily_close`` over the waiting entries, CHUNK at a time, each chunk
    paid as soon as it is decided: the close holds one chunk in memory, whatever the day pays.
    What it paid, and how many entries it paid in full."""
    budget = balance if settings.daily_cap_fen is None else min(balance, settings.daily_cap_fen)
    spent, count, after = 0, 0, 0
    while spent < budget:
        rows = await fetch(
            conn,
            "SELECT id, member_id, quota_fen, quota_fen - paid_fen AS owed FROM union_pool_entry"
            " WHERE status = 'waiting' AND id > $1 ORDER BY id LIMIT $2",
            [after, CHUNK],
        )
        part = daily_close(
            budget - spent, [Waiting(int(r["id"]), int(r["owed"])) for r in rows],
            head_in_part=settings.head_in_part,
        )  # fmt: skip
        owed = {
            int(r["id"]): Owed(int(r["member_id"]), int(r["quota_fen"]), int(r["owed"]))
            for r in rows
        }
        await _pay(conn, part, owed, day, now)
        spent += part.paid_fen
        count += len(part.full)
        if len(rows) < CHUNK or len(part.full) < len(rows):
            break
        after = int(rows[-1]["id"])
    return spent, count


async def _pay(
    conn: BaseDBAsyncClient, close: Close, members: dict[int, Owed], day: date, now: datetime
) -> None:
    """One chunk's payouts: the entries' rows, the postings (the pool pays each member's rebate
    wallet), and each member told (``pool_paid``: 已分红)."""
    if not close.payouts:
        return
    if close.full:
        await execute(
            conn,
            f"UPDATE union_pool_entry SET paid_fen = quota_fen, status = $1, completed_at = $2"
            f" WHERE id IN ({marks(3, len(close.full))})",
            [PoolEntryStatus.PAID.value, now, *close.full],
        )
    head = close.payouts[-1]
    if head[0] not in close.full:  # paid in part: keeps its place
        await execute(
            conn,
            "UPDATE union_pool_entry SET paid_fen = paid_fen + $1 WHERE id = $2",
            [head[1], head[0]],
        )
    payouts = [_payout(day, entry, fen, members[entry].member_id) for entry, fen in close.payouts]
    if is_pg(conn):  # the day's keys are new: the pool is held exclusively, a day closes once
        async with conn.acquire_connection() as raw:
            await post_by_copy(raw, payouts, now)
    else:
        await post(conn, payouts, now)
    await emit(conn, [_paid(day, entry, fen, members[entry]) for entry, fen in close.payouts], now)


def _paid(day: date, entry: int, fen: int, owed: Owed) -> Event:
    payload = {
        "entry_id": entry, "day": day.isoformat(), "amount_fen": fen,
        "paid_fen": owed.quota_fen - owed.owed_fen + fen, "quota_fen": owed.quota_fen,
        "full": fen == owed.owed_fen,
    }  # fmt: skip
    return Event("pool_paid", owed.member_id, payload)


def _payout(day: date, entry: int, fen: int, member: int) -> Posting:
    return Posting(
        f"pool_out:{day.isoformat()}:{entry}", "pool_out", accounts.UNION_POOL,
        accounts.member(member), "cash", fen, memo=f"pool_entry:{entry}",
    )  # fmt: skip


async def run_close(now: datetime, slot: datetime) -> dict[str, Any]:
    """The job's work: close the slot's day; what it did — or, when that day (or a later one)
    was closed already, by an operator's earlier run, why nothing was paid."""
    day = day_of(slot)
    try:
        statement = await close_day(day, now)
    except NotAllowed as done:
        return {"day": day.isoformat(), "closed": False, "reason": done.message}
    return {
        "day": statement.day.isoformat(), "closed": True, "paid_fen": statement.paid_fen,
        "paid_count": statement.paid_count, "closing_fen": statement.closing_fen,
    }  # fmt: skip
