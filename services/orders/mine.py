"""The member's own orders as the mini-program lists them (我的订单): newest first, of one status
if asked, each with its lines and refunds — two queries per page besides the page's own."""

from __future__ import annotations

from dataclasses import dataclass

from models import Order, OrderLine, OrderStatus, Refund
from services.paging import DEFAULT_LIMIT, Page, page_by_id

STATUSES = tuple(s.value for s in OrderStatus)


@dataclass(frozen=True)
class OrderRows:
    order: Order
    lines: list[OrderLine]
    refunds: list[Refund]


async def my_orders(
    member_id: int,
    *,
    status: str | None = None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[OrderRows]:
    """The member's orders, newest first; ``status``: one of ``STATUSES``, or None for all. A
    cursor that is not one of the member's orders pages from after that id all the same (ids
    are not secrets, and it reveals nothing of another member's)."""
    query = Order.filter(member_id=member_id)
    if status is not None:
        query = query.filter(status=status)
    return await with_lines(await page_by_id(query, cursor=cursor, limit=limit))


async def with_lines(page: Page[Order]) -> Page[OrderRows]:
    """A page of orders with their lines and refunds (two queries)."""
    ids = [o.id for o in page.items]
    lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
    refunds: dict[int, list[Refund]] = {i: [] for i in ids}
    if ids:
        for line in await OrderLine.filter(order_id__in=ids).order_by("id"):
            lines[line.order_id].append(line)  # type: ignore[attr-defined]
        for refund in await Refund.filter(order_id__in=ids).order_by("id"):
            refunds[refund.order_id].append(refund)  # type: ignore[attr-defined]
    return page.map(lambda o: OrderRows(o, lines[o.id], refunds[o.id]))
