"""Deduction (抵扣, SPEC §10): an order pays part of its price with the member's points and / or
available love value; closing an unpaid order gives it back, refunding a line its share.

The arithmetic is the engine's (``rebate.deduction``); this module finds the limits that apply
(product → store → base, cashier → store → base) and moves the balances, each movement one
posting per unit between the member's balance and its issuer:

- ``deduction:<order>:<unit>`` the member → the issuer, in the order's own transaction, with the
  member's wallet row locked (two orders cannot spend the same points);
- ``deduction_return:<order>:<unit>`` back, when the unpaid order is closed or cancelled;
- ``deduction_refund:<line>:<unit>`` back, the refunded line's pro-rata share (rounding to the
  member; the lines of an order together give back exactly what it used).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from ledger import accounts
from ledger.balances import balances_of
from ledger.postings import Posting, post
from models import LineStatus, Order, OrderLine
from rebate.deduction import NONE, Plan, Rates, Request, plan_deduction, refund_units
from rebate.errors import NotAllowed
from rebate.settings import OrderSource, TargetSettings
from runtime.sql import fetch
from services.catalog.rules import cashier_rules, products_rules, store_rules
from services.settings.base import load_base

# unit → (the member's balance it is taken from, its issuer, the order's column, the request's field)
UNITS = {
    "points": ("points", accounts.POINTS_ISSUED, "deduction_points", "积分"),
    "love": ("love_available", accounts.LOVE_ISSUED, "deduction_love", "爱心值"),
}


async def plan_for(
    source: OrderSource,
    lines: Sequence[tuple[int | None, int, int]],
    store_id: int | None,
    request: Request,
) -> Plan:
    """The deduction ``request`` asks for on these lines (product, quantity, price), within the
    limits that apply to each; refused with the field named. No request: nothing is read."""
    if request.empty:
        return NONE
    base = await load_base()
    layers = await _layers(source, lines, store_id)
    max_bps = [_first(chain, "deduction_max_bp", base.deduction_max_bp) for chain in layers]
    min_cash = max(
        _first(chain, "deduction_min_cash_fen", base.deduction_min_cash_fen) for chain in layers
    )
    rates = Rates(base.deduction_points_per_fen, base.deduction_love_per_fen)
    prices = [price for _, _, price in lines]
    return plan_deduction(prices, max_bps, request, rates=rates, min_cash_fen=min_cash)


async def _layers(
    source: OrderSource, lines: Sequence[tuple[int | None, int, int]], store_id: int | None
) -> list[list[TargetSettings]]:
    """Per line, the settings that may limit it, the most specific first (base excluded)."""
    store = await store_rules(store_id) if store_id is not None else None
    tail = [store] if store is not None else []
    if source == OrderSource.CASHIER:
        cashier = await cashier_rules(store_id) if store_id is not None else None
        return [([cashier] if cashier is not None else []) + tail]
    products = await products_rules(pid for pid, _, _ in lines if pid is not None)
    return [[products[pid].target, *tail] if pid in products else tail for pid, _, _ in lines]


def _first(chain: list[TargetSettings], name: str, default: int) -> int:
    for target in chain:
        value = getattr(target, name)
        if value is not None:
            return int(value)
    return default


async def take(
    conn: BaseDBAsyncClient, member_id: int, order_id: int, plan: Plan, now: datetime
) -> None:
    """Debit the member for the order's deduction, their wallet row locked: refused, nothing
    changed, when a balance holds less than the plan uses."""
    held = (await balances_of(member_id, conn, lock=True)).as_dict()
    for unit, units in (("points", plan.points), ("love", plan.love)):
        balance, _, field, name = UNITS[unit]
        if units > held[balance]:
            raise NotAllowed(f"{name}不足：当前 {held[balance]}，本单需要 {units}", field=field)
    await post(conn, _postings("deduction", order_id, member_id, plan.points, plan.love), now)


def _postings(
    kind: str, key: int, member_id: int, points: int, love: int, *, order_id: int | None = None
) -> list[Posting]:
    """``kind:<key>:<unit>`` for each unit used: ``deduction`` from the member, anything else
    back to them."""
    rows = []
    for unit, units in (("points", points), ("love", love)):
        if units > 0:
            balance, issuer, _, _ = UNITS[unit]
            member = accounts.member(member_id, balance)
            debit, credit = (member, issuer) if kind == "deduction" else (issuer, member)
            owner = order_id if order_id is not None else key
            rows.append(Posting(f"{kind}:{key}:{unit}", kind, debit, credit, unit, units, owner))
    return rows


async def give_back(conn: BaseDBAsyncClient, order: Order, now: datetime) -> None:
    """An unpaid order was closed or cancelled (in this transaction): its deduction goes back."""
    member_id = order.member_id  # type: ignore[attr-defined]
    points, love = order.deduction_points, order.deduction_love
    await post(conn, _postings("deduction_return", order.id, member_id, points, love), now)


async def refund_share(
    conn: BaseDBAsyncClient, order: Order, line: OrderLine, now: datetime
) -> None:
    """A line is being refunded (its order locked, the line not yet marked): its pro-rata share
    of the order's points and love value goes back to the member."""
    if not line.deduction_fen or not order.deduction_fen:
        return
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(deduction_fen), 0) AS fen FROM order_line"
        " WHERE order_id = $1 AND status = $2 AND id <> $3",
        [order.id, LineStatus.REFUNDED.value, line.id],
    )
    before = int(rows[0]["fen"])
    points, love = (
        refund_units(units, order.deduction_fen, before, line.deduction_fen)
        for units in (order.deduction_points, order.deduction_love)
    )
    member_id = order.member_id  # type: ignore[attr-defined]
    postings = _postings("deduction_refund", line.id, member_id, points, love, order_id=order.id)
    await post(conn, postings, now)
