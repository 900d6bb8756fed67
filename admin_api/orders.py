"""Operators' list of orders (订单): every order, newest first, with its lines and refunds;
filtered by status, member, store and source. A line's refund is ``admin_api.refunds``."""

from __future__ import annotations

from aiohttp import web

from models import Order
from rebate.settings import OrderSource
from services.operators.roles import Permission
from services.orders.listing import list_orders
from services.orders.mine import STATUSES, OrderRows
from web.common import order_json
from web.query import (
    PAGE_PARAMS,
    PAGING,
    optional_int,
    page_args,
    page_reply,
    paged,
    query_choice,
)
from web.registry import Registry, Reply
from web.schemas import ID, INT, ORDER, obj

routes = Registry()

SOURCES = tuple(s.value for s in OrderSource)
ADMIN_ORDER = obj({**ORDER["properties"], "member_id": INT})


def admin_order_json(rows: OrderRows) -> dict[str, object]:
    order: Order = rows.order
    return {**order_json(order, rows.lines, rows.refunds), "member_id": order.member_id}  # type: ignore[attr-defined]


@routes.get(
    "/api/admin/orders",
    summary="运营：订单列表（含商品行与退款）",
    description="Every order, newest first; `status`, `member_id`, `store_id` and `source` "
    "(mall = 商城, store = 门店商品, cashier = 收银台买单) filter. " + PAGING,
    tags=("admin",),
    auth="admin",
    query_params={
        "status": {"type": "string", "enum": list(STATUSES)},
        "member_id": ID,
        "store_id": ID,
        "source": {"type": "string", "enum": list(SOURCES)},
        **PAGE_PARAMS,
    },
    responses={200: Reply("订单", paged(ADMIN_ORDER)), 400: Reply("查询参数无效")},
    permission=Permission.VIEW,
)
async def admin_orders(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUSES)
    source = query_choice(request, "source", SOURCES)
    cursor, limit = page_args(request)
    page = await list_orders(
        status=status,
        member_id=optional_int(request, "member_id"),
        store_id=optional_int(request, "store_id"),
        source=source,
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page.map(admin_order_json))
