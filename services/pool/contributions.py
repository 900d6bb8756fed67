"""What a settled line of a pool order gives the union pool: its contribution, its buyer's
place (a quota), and — under 动态加速 — the share that pays down the buyer's direct referrer's
oldest waiting entry at once. One call per line, in the settling transaction. The buyer is
told (``pool_entry_joined``, or ``pool_not_queued`` by the caller when the ceiling held the line
out), and so is a referrer whose entry was accelerated (``pool_accelerated``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from ledger import accounts
from ledger.postings import Posting, post
from models import PoolAcceleration, PoolEntry, PoolEntryStatus
from rebate.settings import OrderSource
from rebate.union_pool import acceleration, contribution, line_profit, quota
from rebate.union_pool_settings import PoolSettings
from runtime.sql import fetch, is_pg
from services.clock import local
from services.outbox import Event, emit
from services.pool.settings import lock_pool


@dataclass(frozen=True)
class PoolLine:
    """A settled line of a pool order. ``paid_fen``: the cash paid (its quota's base);
    ``price_fen``: the line's price, cash and 抵扣 together (None: ``paid_fen``) — its profit is
    price less ``cost_fen``, the product's cost price or the supplier's supply price for the line
    (for a store or cashier order, the price less the store's commission); ``deducted_fen``: the
    order's distribution rewards and points subsidies charged to the line."""

    line_id: int
    order_id: int
    member_id: int
    source: OrderSource
    paid_fen: int
    cost_fen: int
    deducted_fen: int = 0
    price_fen: int | None = None


async def contribute(
    conn: BaseDBAsyncClient,
    line: PoolLine,
    settings: PoolSettings,
    now: datetime,
    *,
    queued: bool = True,
) -> PoolEntry:
    """The line's entry and its contribution's postings, in the caller's transaction: the
    acceleration (if any) to the referrer's wallet, the rest into the pool's balance.
    ``queued`` False (排队已满, the ceiling): the line still contributes but gets no quota."""
    await lock_pool(conn, now, exclusive=False)  # before any id is taken: see models.PoolDay
    price = line.paid_fen if line.price_fen is None else line.price_fen
    profit = line_profit(price, line.cost_fen)
    gave = contribution(profit, line.deducted_fen, settings.pool_bp)
    owed = quota(line.paid_fen, settings.quota_bp) if queued else 0
    # a line paid nothing (all by points or love value) is owed nothing: it never waits
    status = PoolEntryStatus.WAITING if owed else PoolEntryStatus.PAID
    entry = await PoolEntry.create(
        member_id=line.member_id, order_id=line.order_id, line_id=line.line_id,
        source=line.source.value, profit_fen=profit, contribution_fen=gave, quota_fen=owed,
        created_at=now, using_db=conn, completed_at=None if owed else now,
        status=status if queued else PoolEntryStatus.OVER_CEILING,
    )  # fmt: skip
    sped = await _accelerate(conn, line, gave, settings, now) if settings.accel_bp and gave else 0
    if sped:
        entry.accelerated_out_fen = sped
        await entry.save(using_db=conn, update_fields=["accelerated_out_fen"])
    if gave > sped:
        await post(conn, [Posting(
            f"pool_in:{line.line_id}", "pool_in", accounts.SALES, accounts.UNION_POOL, "cash",
            gave - sped, line.order_id, memo=line.source.value,
        )], now)  # fmt: skip
    if owed:
        await _tell_joined(conn, entry, now)
    return entry


async def _tell_joined(conn: BaseDBAsyncClient, entry: PoolEntry, now: datetime) -> None:
    """排队号 (the entry's id) and its 分红额度. Not its place: counting the waiting entries
    ahead scans the whole waiting queue (~0.5 s at 900,000), too much for the payment's
    transaction; the member reads the place in the mini-program (``services.pool.mine``)."""
    payload = {
        "entry_id": entry.id, "order_id": entry.order_id, "quota_fen": entry.quota_fen,  # type: ignore[attr-defined]
    }  # fmt: skip
    await emit(conn, [Event("pool_entry_joined", entry.member_id, payload)], now)  # type: ignore[attr-defined]


async def _accelerate(
    conn: BaseDBAsyncClient, line: PoolLine, gave: int, settings: PoolSettings, now: datetime
) -> int:
    """Pay down the buyer's direct referrer's oldest waiting entry; what it paid. The referrer's
    member row is locked, so two referrals' orders never both see the caps unspent."""
    lock = " FOR UPDATE" if is_pg(conn) else ""
    rows = await fetch(conn, "SELECT referrer_id FROM member WHERE id = $1", [line.member_id])
    referrer = rows[0]["referrer_id"] if rows else None
    if referrer is None or referrer == line.member_id:
        return 0
    await fetch(conn, f"SELECT id FROM member WHERE id = $1{lock}", [referrer])
    oldest = await (
        PoolEntry.filter(member_id=referrer, status=PoolEntryStatus.WAITING)
        .using_db(conn).order_by("id").first()
    )  # fmt: skip
    if oldest is None:
        return 0
    day = local(now).date()
    today, total = await _used(conn, referrer, day)
    amount = acceleration(
        gave, oldest.quota_fen - oldest.paid_fen, settings.acceleration,
        used_today_fen=today, used_total_fen=total,
    )  # fmt: skip
    if amount <= 0:
        return 0
    oldest.paid_fen += amount
    oldest.accelerated_in_fen += amount
    if oldest.paid_fen == oldest.quota_fen:
        oldest.status, oldest.completed_at = PoolEntryStatus.PAID, now
    await oldest.save(
        using_db=conn, update_fields=["paid_fen", "accelerated_in_fen", "status", "completed_at"]
    )
    await PoolAcceleration.create(
        line_id=line.line_id, referrer_id=referrer, entry_id=oldest.id, amount_fen=amount,
        day=day, created_at=now, using_db=conn,
    )  # fmt: skip
    await post(conn, [Posting(
        f"pool_accel:{line.line_id}", "pool_accel", accounts.SALES,
        accounts.member(referrer), "cash", amount, line.order_id, memo=f"pool_entry:{oldest.id}",
    )], now)  # fmt: skip
    payload = {
        "entry_id": oldest.id, "amount_fen": amount, "paid_fen": oldest.paid_fen,
        "quota_fen": oldest.quota_fen, "full": oldest.paid_fen == oldest.quota_fen,
    }  # fmt: skip
    await emit(conn, [Event("pool_accelerated", int(referrer), payload)], now)
    return amount


async def _used(conn: BaseDBAsyncClient, referrer: int, day: date) -> tuple[int, int]:
    """What accelerations have paid the referrer on ``day`` and in all."""
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(CASE WHEN day = $2 THEN amount_fen ELSE 0 END), 0) AS today,"
        " COALESCE(SUM(amount_fen), 0) AS total"
        " FROM union_pool_acceleration WHERE referrer_id = $1",
        [referrer, day if is_pg(conn) else day.isoformat()],
    )
    return int(rows[0]["today"]), int(rows[0]["total"])
