"""Rewards on settlement (SPEC §8): 直推, 间推, 级差 and 招商 — and what a refund does to them.

Rules (computed by ``rebate.distribution``), for one settled order whose *base* is the cash
paid on its lines not refunded:

- 直推: the buyer's referrer gets ``floor(base × direct_bp / 10000)``; 间推: the referrer's
  referrer gets ``floor(base × indirect_bp / 10000)``.
- 级差: walking up from the buyer's referrer, at most ``team_depth`` ancestors (default 2,
  never more than 3), each ancestor whose team-level rate exceeds the highest rate already
  paid on this order gets ``floor(base × (rate − highest) / 10000)``; the highest becomes their
  rate. An ancestor below it gets nothing, and the walk goes on. Levels are those in force
  before this order (the order may raise levels afterwards, for the next orders).
- 招商: for store and cashier orders, the member who invited the store's merchant gets
  ``floor(base × merchant_referral_bp / 10000)``.
- Every fraction of a fen stays with the platform; a reward of 0 fen is not written.

Freeze: every reward is first a *frozen* ``Commission`` (``reward:<kind>:<order>``; 级差
``reward:team:<order>:<member>``), posted from sales to the frozen commissions
(``commission:<key>``). It is released ``freeze_days`` after its order is completed
(``release_matured_commissions``): then, in one transaction, one posting with the commission's
own key moves it from the frozen commissions to the member's cash.

Refunds: a line refunded while the commissions are frozen lowers their base to what is left of
the order and recomputes them, posting the difference back to sales
(``commission_reduced:<commission>:<line>``); nothing left (or 0 fen) → ``reversed``, and the
member's cash never moves. A commission already released stays paid: the refund is platform cost, visible as
the released commission of a refunded order (as the queue's payouts are, SPEC §4).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import CommissionStatus, Order, OrderLine
from rebate.distribution import Reward, commission_after_refund, plan_rewards
from rebate.distribution_settings import DistributionSettings
from rebate.settings import OrderSource
from runtime.sql import as_datetime, execute, fetch, insert_many, marks
from services.distribution import team
from services.distribution.settings import load_distribution
from services.merchants import settlement as merchant_settlement
from services.outbox import Event, emit

COMMISSION_COLUMNS = (
    "key",
    "member_id",
    "order_id",
    "kind",
    "depth",
    "rate_bp",
    "base_fen",
    "initial_fen",
    "amount_fen",
    "status",
    "release_at",
    "created_at",
)


async def on_order_settled(conn: BaseDBAsyncClient, order: Order, now: datetime) -> None:
    """Settlement hook, inside the order's settlement transaction: the order's rewards as
    frozen commissions, its store credit (``merchant_settlement``), and the ancestors' team
    levels. Idempotent: a second call for the same order writes nothing new."""
    await merchant_settlement.credit_order(conn, order, now)
    settings = await load_distribution(conn)
    if not settings.enabled or (not settings.pays_rewards and not settings.levels):
        return
    base = await merchant_settlement.paid_not_refunded(conn, order.id)
    ancestors = await _ancestors(conn, order.member_id)
    levels = await team.team_levels(conn, ancestors)
    inviter = await _merchant_inviter(conn, order)
    rewards = plan_rewards(
        base,
        [(m, settings.rate_of(levels[m])) for m in ancestors],
        settings,
        buyer_id=order.member_id,
        merchant_inviter=inviter,
    )
    await _write_commissions(conn, order, base, rewards, settings, now)
    if settings.levels and ancestors:
        await team.evaluate_levels(
            conn, ancestors[: settings.team_depth], settings, now, including_order=order.id
        )


async def _ancestors(conn: BaseDBAsyncClient, buyer_id: int) -> list[int]:
    """The buyer's referrer, theirs and theirs: every reward is within three levels."""
    rows = await fetch(
        conn,
        "SELECT m1.id AS a1, m2.id AS a2, m3.id AS a3 FROM member b"
        " LEFT JOIN member m1 ON m1.id = b.referrer_id"
        " LEFT JOIN member m2 ON m2.id = m1.referrer_id"
        " LEFT JOIN member m3 ON m3.id = m2.referrer_id WHERE b.id = $1",
        [buyer_id],
    )
    out: list[int] = []
    for col in ("a1", "a2", "a3"):
        value = rows[0][col] if rows else None
        if value is None:
            break
        out.append(int(value))
    return out


async def _merchant_inviter(conn: BaseDBAsyncClient, order: Order) -> int | None:
    if order.source not in (OrderSource.STORE, OrderSource.CASHIER) or order.store_id is None:
        return None
    rows = await fetch(
        conn, "SELECT inviter_id FROM merchant WHERE store_id = $1", [order.store_id]
    )
    if not rows or rows[0]["inviter_id"] is None:
        return None
    return int(rows[0]["inviter_id"])


async def _write_commissions(
    conn: BaseDBAsyncClient,
    order: Order,
    base: int,
    rewards: list[Reward],
    settings: DistributionSettings,
    now: datetime,
) -> None:
    """The order's rewards as frozen commissions, each once (its key), posted and told."""
    if not rewards:
        return
    release_at = (
        order.completed_at + timedelta(days=settings.freeze_days) if order.completed_at else None
    )
    rows = [
        (
            r.key(order.id),
            r.member_id,
            order.id,
            r.kind.value,
            r.depth,
            r.rate_bp,
            base,
            r.amount_fen,
            r.amount_fen,
            CommissionStatus.FROZEN.value,
            release_at,
            now,
        )
        for r in rewards
    ]
    written = await insert_many(
        conn, "commission", COMMISSION_COLUMNS, rows,
        returning="key, member_id, kind, amount_fen", on_conflict="(key) DO NOTHING",
    )  # fmt: skip
    await post(conn, [_earned(order.id, w["key"], int(w["amount_fen"])) for w in written], now)
    events = [
        Event(
            "commission_earned",
            int(w["member_id"]),
            {"order_id": order.id, "kind": w["kind"], "amount_fen": int(w["amount_fen"])},
        )
        for w in written
    ]
    await emit(conn, events, now)


def _earned(order_id: int, key: str, amount: int) -> Posting:
    """A commission earned waits, frozen, in the platform's frozen commissions."""
    return Posting(
        f"commission:{key}", "commission_earned", accounts.SALES, accounts.COMMISSIONS, "cash",
        amount, order_id,
    )  # fmt: skip


async def on_line_refunded(conn: BaseDBAsyncClient, line: OrderLine, now: datetime) -> None:
    """Refund hook, inside the refund's transaction: frozen commissions of the line's order
    shrink to what the rest of the order earns (reversed when nothing is left), and the
    store's credit follows (``merchant_settlement``). Released commissions stay paid."""
    base = await merchant_settlement.paid_not_refunded(conn, line.order_id, excluding_line=line.id)
    frozen = await fetch(
        conn,
        "SELECT id, base_fen, rate_bp, amount_fen FROM commission WHERE order_id = $1"
        " AND status = $2",
        [line.order_id, CommissionStatus.FROZEN.value],
    )
    for c in frozen:
        amount = commission_after_refund(int(c["base_fen"]), base, int(c["rate_bp"]))
        if amount is None:
            continue  # this line was not part of the base (refunded before settlement)
        if amount > 0:
            changed = await execute(
                conn,
                "UPDATE commission SET base_fen = $1, amount_fen = $2 WHERE id = $3 AND status = $4",
                [base, amount, c["id"], CommissionStatus.FROZEN.value],
            )
        else:
            changed = await execute(
                conn,
                "UPDATE commission SET base_fen = $1, amount_fen = 0, status = $2,"
                " reversed_at = $3 WHERE id = $4 AND status = $5",
                [
                    base,
                    CommissionStatus.REVERSED.value,
                    now,
                    c["id"],
                    CommissionStatus.FROZEN.value,
                ],
            )
        # released meanwhile (the job committed after the read above): it stays paid in full
        if changed and int(c["amount_fen"]) > amount:
            await post(conn, [_reduction(int(c["id"]), line, int(c["amount_fen"]) - amount)], now)
    await merchant_settlement.on_line_refunded(conn, line, base, now)


def _reduction(commission_id: int, line: OrderLine, amount: int) -> Posting:
    """What a refunded line takes off a frozen commission goes back from the frozen
    commissions to sales."""
    return Posting(
        f"commission_reduced:{commission_id}:{line.id}", "commission_reduced",
        accounts.COMMISSIONS, accounts.SALES, "cash", amount, line.order_id,  # type: ignore[attr-defined]
    )  # fmt: skip


async def release_matured_commissions(now: datetime, *, batch: int = 500) -> dict[str, int]:
    """Job: release every frozen commission whose order has been completed for
    ``freeze_days``. Each batch is one transaction; a commission is released at most once
    (conditional update, and its posting's unique key)."""
    settings = await load_distribution()
    conn = connections.get("default")
    scheduled = await _schedule_releases(conn, settings, batch)
    released = amount = 0
    while True:
        ids = [
            int(r["id"])
            for r in await fetch(
                conn,
                "SELECT id FROM commission WHERE status = $1 AND release_at <= $2"
                " ORDER BY id LIMIT $3",
                [CommissionStatus.FROZEN.value, now, batch],
            )
        ]
        if not ids:
            break
        async with in_transaction() as tx:
            n, total = await _release(tx, ids, now)
        released += n
        amount += total
        if len(ids) < batch:
            break
    return {"scheduled": scheduled, "released": released, "released_fen": amount}


async def _schedule_releases(
    conn: BaseDBAsyncClient, settings: DistributionSettings, batch: int
) -> int:
    """Give a release moment to frozen commissions whose order has since been completed."""
    count = 0
    while True:
        rows = await fetch(
            conn,
            "SELECT c.id, o.completed_at FROM commission c JOIN orders o ON o.id = c.order_id"
            " WHERE c.status = $1 AND c.release_at IS NULL AND o.completed_at IS NOT NULL"
            " ORDER BY c.id LIMIT $2",
            [CommissionStatus.FROZEN.value, batch],
        )
        if not rows:
            return count
        for r in rows:
            release_at = as_datetime(r["completed_at"]) + timedelta(days=settings.freeze_days)
            await execute(
                conn,
                "UPDATE commission SET release_at = $1 WHERE id = $2 AND release_at IS NULL",
                [release_at, r["id"]],
            )
        count += len(rows)
        if len(rows) < batch:
            return count


async def _release(conn: BaseDBAsyncClient, ids: list[int], now: datetime) -> tuple[int, int]:
    rows = await fetch(
        conn,
        "UPDATE commission SET status = $1, released_at = $2"
        f" WHERE id IN ({marks(3, len(ids))}) AND status = 'frozen'"
        " RETURNING id, key, member_id, order_id, kind, amount_fen",
        [CommissionStatus.RELEASED.value, now, *ids],
    )
    if not rows:
        return 0, 0
    await post(
        conn,
        [
            Posting(
                r["key"],
                "commission",
                accounts.COMMISSIONS,
                accounts.member(int(r["member_id"])),
                "cash",
                int(r["amount_fen"]),
                int(r["order_id"]),
                memo=f"佣金 {r['kind']}",
            )
            for r in rows
        ],
        now,
    )
    await emit(
        conn,
        [
            Event(
                "commission_released",
                int(r["member_id"]),
                {
                    "commission_id": int(r["id"]),
                    "order_id": int(r["order_id"]),
                    "kind": r["kind"],
                    "amount_fen": int(r["amount_fen"]),
                },
            )
            for r in rows
        ],
        now,
    )
    return len(rows), sum(int(r["amount_fen"]) for r in rows)
