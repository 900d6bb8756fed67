"""The same v3 payment notification delivered 50 times at once — split over two server
processes' apps sharing one PostgreSQL, as a scaled-out deployment receives them — settles its
order once: one notice row, one entry, one payment applied, every delivery acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from models import Entry, Order, OrderStatus, PaymentNotice
from tests.api.conftest import Api
from tests.api.test_api_notify import V3, callbacks, unpaid_order, v3_payment

DELIVERIES = 50


async def test_fifty_parallel_deliveries_of_one_v3_notification_settle_once(
    make_api: Callable[..., Any],
) -> None:
    first: Api = await make_api("postgres")
    second: Api = await make_api("postgres")  # a second process on the same database
    order = await unpaid_order(first)
    headers, body = v3_payment(first, order)

    async def deliver(i: int) -> int:
        api = first if i % 2 else second
        async with api.client.post(V3, data=body, headers=headers) as response:
            return response.status

    statuses = await asyncio.gather(*(deliver(i) for i in range(DELIVERIES)))

    assert statuses == [204] * DELIVERIES
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    assert await PaymentNotice.filter(order_id=order.id).count() == 1
    assert await Entry.filter(order_id=order.id).count() == 1
    applied = callbacks("v3.payment", "applied")  # both apps: this process's metrics
    assert applied == 1
    assert applied + callbacks("v3.payment", "duplicate") == DELIVERIES
