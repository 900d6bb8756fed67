"""工会排队 step by random step on PostgreSQL (issue 22): orders from every source (self-operated,
supplier goods, store goods, cashier), some by direct referrals (acceleration), refunds before
and after daily closes, and the closes themselves, under random pool settings (ratios, daily cap,
head in part, the ceiling). After every step ``queue-rebate check`` finds nothing — Σ
contributions = Σ payouts + Σ acceleration + balance + Σ taken back, every entry and statement
as posted — and no pool order has a share queue's row."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from tortoise.transactions import in_transaction

from models import Member, OrderLine, ProductKind
from rebate.distribution_settings import DistributionSettings
from rebate.errors import AlreadySettled
from rebate.settings import BaseSettings, OrderSource, SettleOn
from rebate.union_pool_settings import PoolSettings
from runtime.sql import fetch
from services.catalog.products import new_product, new_store, new_supplier
from services.checks import check_conservation
from services.distribution.settings import store_distribution
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid, refund_line
from services.pool.close import close_day
from services.pool.settings import store_pool
from services.settings.base import save_base
from services.settings.cache import DISTRIBUTION, POOL, changing
from tests.services.helpers import Clock
from tests.services.test_state_machine import Session

T = TypeVar("T")
DAY = date(2026, 11, 25)
ALL = (OrderSource.MALL, OrderSource.STORE, OrderSource.CASHIER)


class PoolMachine(RuleBasedStateMachine):
    session: Session  # set by the test before the run

    lines = Bundle("lines")

    def __init__(self) -> None:
        super().__init__()
        self.session.reset()
        self.clock = Clock()
        self.day = DAY
        self.members: list[int] = []
        self.products: dict[str, int] = {}
        self.store_id = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.session.run(coro)

    @initialize(
        pool_bp=st.sampled_from([6_000, 10_000]),
        accel_bp=st.sampled_from([0, 5_000]),
        cap=st.sampled_from([None, None, 3_000]),
        head_in_part=st.booleans(),
        ceiling=st.sampled_from([None, None, 2]),
        direct_bp=st.sampled_from([0, 1_000]),
    )
    def configure(
        self, pool_bp: int, accel_bp: int, cap: int | None, head_in_part: bool,
        ceiling: int | None, direct_bp: int,
    ) -> None:  # fmt: skip
        pool = PoolSettings(
            sources=ALL, pool_bp=pool_bp, accel_bp=accel_bp, daily_cap_fen=cap,
            head_in_part=head_in_part, ceiling_days=ceiling,
        ).check()  # fmt: skip
        self.run(self._configure(pool, DistributionSettings(direct_bp=direct_bp)))

    async def _configure(self, pool: PoolSettings, dist: DistributionSettings) -> None:
        await save_base(BaseSettings(settle_on=SettleOn.PAID))
        async with changing(POOL) as conn:
            await store_pool(conn, pool)
        async with changing(DISTRIBUTION) as conn:
            await store_distribution(conn, dist, "test")
        for i in range(3):
            self.members.append((await new_member(f"m{i}")).id)
        # m1 and m2 are direct referrals of m0: their orders accelerate m0's oldest entry
        await Member.filter(id__in=self.members[1:]).update(referrer_id=self.members[0])
        supplier = await new_supplier("S")
        store = await new_store("店", commission_bp=1_500)
        self.store_id = store.id
        supplied = {
            "kind": ProductKind.SUPPLIER,
            "supplier_id": supplier.id,
            "supply_price_fen": 1_000,
        }
        self.products = {
            "self": (await new_product("自营", 1_000, cost_price_fen=600)).id,
            "nocost": (await new_product("无成本", 700)).id,
            "supplier": (await new_product("供应", 2_500, **supplied)).id,
            "store": (
                await new_product("门店", 1_800, kind=ProductKind.STORE, store_id=store.id)
            ).id,
        }

    @rule(
        target=lines,
        who=st.integers(0, 2),
        what=st.sampled_from(["self", "nocost", "supplier", "store", "cashier", "two"]),
        qty=st.integers(1, 3),
        amount=st.integers(1, 9_000),
    )
    def order(self, who: int, what: str, qty: int, amount: int) -> Any:
        ids = self.run(self._order(self.members[who], what, qty, amount))
        return multiple(*ids)

    async def _order(self, member: int, what: str, qty: int, amount: int) -> list[int]:
        kw: dict[str, Any]
        if what == "cashier":
            source, kw = OrderSource.CASHIER, {"store_id": self.store_id, "amount_fen": amount}
        elif what == "store":
            items = [Item(self.products["store"], qty)]
            source, kw = OrderSource.STORE, {"items": items, "store_id": self.store_id}
        elif what == "two":
            items = [Item(self.products["self"], qty), Item(self.products["supplier"], 1)]
            source, kw = OrderSource.MALL, {"items": items}
        else:
            source, kw = OrderSource.MALL, {"items": [Item(self.products[what], qty)]}
        order = await create_order(member, source, **kw)
        await mark_paid(order.id, paid_fen=order.paid_fen, now=self.clock.tick())
        return [ln.id for ln in await OrderLine.filter(order_id=order.id).order_by("id")]

    @rule(line=lines)
    def refund(self, line: int) -> None:
        try:
            self.run(refund_line(line, now=self.clock.tick()))
        except AlreadySettled:
            pass  # refunded before

    @rule()
    def close(self) -> None:
        self.clock.tick(24 * 3600)
        self.run(close_day(self.day, self.clock.now))
        self.day += timedelta(days=1)

    @rule(line=lines)
    def close_then_refund(self, line: int) -> None:
        """The case that costs the platform: the close paid the balance out, then a refund."""
        self.close()
        self.refund(line)

    @invariant()
    def conserved(self) -> None:
        if not self.members:
            return
        assert self.run(check_conservation()) == []
        rows = self.run(_share_rows())
        assert rows == [{"n": 0}], rows  # never both modes: no share queue row at all


async def _share_rows() -> list[dict[str, Any]]:
    async with in_transaction() as conn:
        return await fetch(
            conn,
            "SELECT (SELECT COUNT(*) FROM pending_settlement)"
            " + (SELECT COUNT(*) FROM extraction) + (SELECT COUNT(*) FROM entry) AS n",
        )


@pytest.mark.postgres
def test_the_pool_is_conserved_through_orders_refunds_accelerations_and_closes(
    pg_url: str,
) -> None:
    session = Session(pg_url)
    session.open()
    try:
        PoolMachine.session = session
        run_state_machine_as_test(
            PoolMachine, settings=settings(max_examples=10, stateful_step_count=40, deadline=None)
        )
    finally:
        session.close()
