"""Orders as operators list them (订单): every order, newest first, filtered by status, member,
store and source, each with its lines and refunds (the shape of ``services.orders.mine``)."""

from __future__ import annotations

from models import Order
from services.orders.mine import OrderRows, with_lines
from services.paging import Page, page_by_id


async def list_orders(
    *,
    status: str | None,
    member_id: int | None,
    store_id: int | None,
    source: str | None,
    cursor: int | None,
    limit: int,
) -> Page[OrderRows]:
    query = Order.all()
    if status is not None:
        query = query.filter(status=status)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    if store_id is not None:
        query = query.filter(store_id=store_id)
    if source is not None:
        query = query.filter(source=source)
    return await with_lines(await page_by_id(query, cursor=cursor, limit=limit))
