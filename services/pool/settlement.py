"""Settling an order into the union pool (SPEC §11): an order whose source the pool takes
(``PoolSettings.sources``) settles here and never into a share queue. Called by
``services.queues.plan.enqueue_order`` in the settling transaction, with the order row locked,
after the order's distribution rewards are written (``on_order_settled``).

Each open line becomes one contribution (``contribute``) and is marked settled:

- profit: a self-operated product's price less its cost price × quantity; a supplier's goods,
  less the supply price × quantity; a store or cashier line, the store's commission on its cash
  (the store's rate now, as its credit counts it). The price is cash and 抵扣 together. A product
  without that cost recorded gives no profit (never a guessed one).
- deducted: the order's distribution rewards (the commissions written for it: 直推, 间推, 级差,
  招商), split over the lines by their cash, largest remainder (exact fen); and the line's own
  抵扣 (points / love value), as the order split it.
- the ceiling (排队上限): while the tail's projected wait is longer than ``ceiling_days``, the
  order's lines still contribute (the pool is the profit's, and pays those who wait) but get no
  quota and no place; the buyer is told why (``pool_not_queued``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Order, ProductKind
from rebate.money import split_largest_remainder
from rebate.settings import OrderSource
from rebate.union_pool import commission_cost, goods_cost
from rebate.union_pool_settings import PoolSettings
from runtime.sql import execute, fetch, marks
from services.merchants.settlement import commission_rate
from services.outbox import Event, emit
from services.pool.contributions import PoolLine, contribute
from services.pool.projection import recent_pool_state

_LINES = (
    "SELECT l.id, l.paid_fen, l.deduction_fen, l.quantity, p.kind, p.cost_price_fen,"
    " p.supply_price_fen FROM order_line l LEFT JOIN product p ON p.id = l.product_id"
    " WHERE l.order_id = $1 AND l.status = 'open' ORDER BY l.id"
)


async def settle_into_pool(
    conn: BaseDBAsyncClient, order: Order, settings: PoolSettings, now: datetime
) -> int:
    """The order's open lines into the pool, settled; how many."""
    rows = await fetch(conn, _LINES, [order.id])
    if not rows:
        return 0
    rewards = await _rewards(conn, order.id)
    shares = _split(rewards, [int(r["paid_fen"]) for r in rows])
    commission_bp = await _commission_bp(conn, order)
    state = await recent_pool_state(conn, now) if settings.ceiling_days is not None else None
    queued = state is None or not state.over_ceiling(settings)
    for row, share in zip(rows, shares, strict=True):
        await contribute(
            conn, _line(order, row, share, commission_bp), settings, now, queued=queued
        )
    ids = [int(r["id"]) for r in rows]
    await execute(
        conn, f"UPDATE order_line SET status = 'settled' WHERE id IN ({marks(1, len(ids))})", ids
    )
    if not queued and state is not None:
        payload = {
            "order_id": order.id, "ceiling_days": settings.ceiling_days,
            "wait_days": state.tail_closes(settings),
        }  # fmt: skip
        await emit(conn, [Event("pool_not_queued", order.member_id, payload)], now)  # type: ignore[attr-defined]
    return len(rows)


def _line(order: Order, row: dict[str, Any], reward: int, commission_bp: int | None) -> PoolLine:
    paid, deduction = int(row["paid_fen"]), int(row["deduction_fen"])
    price = paid + deduction
    if commission_bp is not None:
        cost = commission_cost(price, paid, commission_bp)
    else:
        supplier = row["kind"] == ProductKind.SUPPLIER.value
        unit = row["supply_price_fen"] if supplier else row["cost_price_fen"]
        cost = goods_cost(price, None if unit is None else int(unit), int(row["quantity"]))
    return PoolLine(
        int(row["id"]), order.id, order.member_id, order.source, paid, cost,  # type: ignore[attr-defined]
        deducted_fen=reward + deduction, price_fen=price,
    )  # fmt: skip


def _split(total: int, paid: list[int]) -> list[int]:
    """The order's rewards over its lines by their cash (rewards are a share of the cash, so an
    order paid nothing earned none)."""
    if not any(paid):
        return [0] * len(paid)
    return split_largest_remainder(total, paid)


async def _rewards(conn: BaseDBAsyncClient, order_id: int) -> int:
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(amount_fen), 0) AS s FROM commission WHERE order_id = $1",
        [order_id],
    )
    return int(rows[0]["s"])


async def _commission_bp(conn: BaseDBAsyncClient, order: Order) -> int | None:
    """The store's commission rate for a store or cashier order; None for a mall order."""
    if order.source == OrderSource.MALL or order.store_id is None:  # type: ignore[attr-defined]
        return None
    return await commission_rate(conn, order.store_id)  # type: ignore[attr-defined]
