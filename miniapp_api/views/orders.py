"""The member's orders: create and pay, read, confirm receipt, request a refund.

Another member's order reads as "not found" (404), never as "forbidden": ids are not secrets,
but whether someone else's order exists is not ours to say.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from miniapp_api.views.entries import ENTRY, NAMES
from models import Member, Order, OrderLine, OrderStatus, PoolEntryStatus, Refund
from rebate.deduction import Request
from rebate.settings import OrderSource
from services.clock import utcnow
from services.errors import NotFound
from services.members.views import order_entries
from services.orders.lifecycle import Item, cancel_order, complete_order, place_order
from services.orders.mine import STATUSES, my_orders
from services.orders.refunds import request_refund
from web.auth import MEMBER_ID
from web.common import client_ip, order_json, pay_gateway, refund_json
from web.errors import ApiError, from_wechat
from web.keys import LIMITER, OPTIONS
from web.query import (
    PAGE_PARAMS,
    PAGING,
    json_reply,
    page_args,
    page_reply,
    paged,
    query_choice,
)
from web.ratelimit import enforce
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import (
    ID,
    INT,
    LINE_PARAMS,
    ORDER,
    ORDER_BODY,
    ORDER_REPLY,
    PAY_REPLY,
    REFUND_BODY,
    REFUND_RESPONSES,
    Schema,
    obj,
)
from wechat.errors import WeChatError

log = logging.getLogger(__name__)

routes = Registry()

ORDER_PARAMS = {"id": ID}
NOT_PAYABLE = "订单已支付或已关闭，无需再次支付"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
IDEMPOTENCY_SCHEMA: Schema = {
    "type": "string",
    "pattern": "^[A-Za-z0-9._:-]{1,64}$",
    "description": "同一会员重复提交同一键：返回第一次创建的订单，不会重复下单",
}
DESCRIPTIONS = {
    OrderSource.MALL: "商城订单",
    OrderSource.STORE: "门店订单",
    OrderSource.CASHIER: "门店买单",
}


async def own_order(request: web.Request) -> Order:
    order = await Order.get_or_none(id=path_int(request, "id"), member_id=request[MEMBER_ID])
    if order is None:
        raise NotFound("订单不存在")
    return order


async def render(order: Order) -> dict[str, Any]:
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    refunds = await Refund.filter(order_id=order.id).order_by("id")
    return order_json(order, lines, refunds)


async def payment_for(request: web.Request, order: Order, openid: str) -> dict[str, str]:
    """The signed ``wx.requestPayment`` parameters. If WeChat Pay fails, the order stays
    unpaid and the error names it, so the mini-program can retry ``/pay`` (or the same
    ``POST /api/orders`` with its Idempotency-Key)."""
    pay = pay_gateway(request)
    try:
        return await pay.prepay(
            out_trade_no=order.out_trade_no,
            total_fen=order.paid_fen,
            openid=openid,
            description=DESCRIPTIONS[OrderSource(order.source)],
            client_ip=client_ip(request),
        )
    except WeChatError as exc:
        log.warning("prepay failed for order %s: %r", order.id, exc)
        error = from_wechat(exc)
        error.extra["order_id"] = order.id
        raise error from exc


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key 须为 1–64 个字母、数字或 . _ : - 字符",
            field=IDEMPOTENCY_HEADER,
        )
    return key


@routes.post(
    "/api/orders",
    summary="下单并获取微信支付参数",
    description="Creates an unpaid order (mall goods, a store's goods, or a cashier payment of "
    "amount_fen to store_id) and opens its WeChat Pay payment (v2 unifiedorder or v3 JSAPI). "
    "Send an `Idempotency-Key` header (e.g. a UUID made once per order the member submits) "
    "to retry safely: the same member sending the same key again gets the order that key made "
    "(201, header `Idempotent-Replayed: true`) and a prepay for the same out_trade_no, never a "
    "second order; the same key with a different body is refused (409). Without the header "
    "every request makes a new order. Points and available love value pay part of the price "
    "(抵扣) with `deduction_points` / `deduction_love` at the configured rates; `deduction_fen`, "
    "when sent, must be what they are worth. They are taken from the wallet with the order "
    "and given back when it is cancelled or closed unpaid, and pro rata when a line is refunded.",
    header_params={IDEMPOTENCY_HEADER: IDEMPOTENCY_SCHEMA},
    tags=("orders",),
    auth="member",
    body=ORDER_BODY,
    body_example={
        "source": "mall",
        "items": [{"product_id": 12, "quantity": 2}],
        "deduction_fen": 0,
    },
    rate_limited=True,
    responses={
        201: Reply("订单已创建，payment 原样传给 wx.requestPayment", PAY_REPLY),
        400: Reply("请求内容无效，或 Idempotency-Key 格式不对"),
        404: Reply("商品、门店或收银台不存在"),
        409: Reply(
            "订单内容不符合规则（如混入其他门店的商品）；积分或爱心值不足、抵扣未开启或超过上限；"
            "同一 Idempotency-Key 用于不同的订单；或该键的订单已支付或已关闭"
        ),
        502: Reply("微信支付拒绝了请求（订单已创建，可重试 /pay）"),
        503: Reply("微信支付不可达或未开通（订单已创建，可重试 /pay）"),
    },
)
async def create(request: web.Request) -> web.Response:
    app = request.app
    limits = app[OPTIONS].rate_limits
    member_id = request[MEMBER_ID]
    await enforce(app[LIMITER], "order:member", str(member_id), limits.order_per_member)
    await enforce(app[LIMITER], "order:ip", client_ip(request), limits.order_per_ip)
    body = request[BODY]
    pay_gateway(request)  # refuse before creating an order that could never be paid
    placed = await place_order(
        member_id,
        OrderSource(body["source"]),
        items=[Item(i["product_id"], i["quantity"]) for i in body.get("items") or []],
        store_id=body.get("store_id"),
        amount_fen=body.get("amount_fen"),
        deduction=Request(
            body.get("deduction_points", 0),
            body.get("deduction_love", 0),
            body.get("deduction_fen"),
        ),
        idempotency_key=idempotency_key(request),
    )
    order = placed.order
    if order.status != OrderStatus.CREATED:  # a retry of an order paid or closed since
        raise ApiError(409, "not_payable", NOT_PAYABLE, extra={"order_id": order.id})
    payment = await payment_for(request, order, placed.openid)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    reply = {"order": order_json(order, placed.lines, []), "payment": payment}
    return web.json_response(reply, status=201, headers=headers)


@routes.post(
    "/api/orders/{id}/pay",
    summary="重新获取未支付订单的微信支付参数",
    tags=("orders",),
    auth="member",
    path_params=ORDER_PARAMS,
    responses={
        200: Reply("payment 原样传给 wx.requestPayment", PAY_REPLY),
        409: Reply("订单已支付或已关闭"),
        502: Reply("微信支付拒绝了请求"),
        503: Reply("微信支付不可达或未开通"),
    },
)
async def pay(request: web.Request) -> web.Response:
    order = await own_order(request)
    if order.status != OrderStatus.CREATED:
        raise ApiError(409, "not_payable", NOT_PAYABLE)
    member = await Member.get(id=order.member_id)  # type: ignore[attr-defined]
    payment = await payment_for(request, order, member.openid)
    return web.json_response({"order": await render(order), "payment": payment})


POOL_ENTRY = obj(
    {
        "id": {**INT, "description": "排队号"},
        "line_id": {**INT, "description": "订单商品行"},
        "status": {"type": "string", "enum": [s.value for s in PoolEntryStatus]},
        "status_text": {"type": "string", "description": "状态说明（中文）"},
        "quota_fen": {**INT, "description": "分红额度（分）"},
        "paid_fen": {**INT, "description": "已分红（分，含加速到账）"},
        "ahead": {"type": "integer", "nullable": True, "description": "前面排队的人数（排队中）"},
        "created_at": {"type": "string", "format": "date-time"},
    }
)
ORDER_DETAIL = obj(
    {
        **ORDER["properties"],
        "entries": {
            "type": "array",
            "items": ENTRY,
            "description": "该订单产生的排队权益（每个已结算并入队的商品行一条，line_id 指明哪一行）",
        },
        "pool_entries": {
            "type": "array",
            "items": POOL_ENTRY,
            "description": "工会排队：该订单每个已结算商品行在返利池中的排队（未开启工会排队的来源为空）",
        },
    }
)
ORDER_DETAIL_REPLY = obj({"order": ORDER_DETAIL, "names": NAMES})


@routes.get(
    "/api/orders",
    summary="我的订单",
    description="My orders, newest first, each with its lines and refunds; `status` filters "
    "(created = 待支付, paid, completed, refunded, closed). " + PAGING,
    tags=("orders",),
    auth="member",
    query_params={"status": {"type": "string", "enum": list(STATUSES)}, **PAGE_PARAMS},
    responses={200: Reply("我的订单", paged(ORDER)), 400: Reply("查询参数无效")},
)
async def mine(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await my_orders(
        request[MEMBER_ID],
        status=query_choice(request, "status", STATUSES),
        cursor=cursor,
        limit=limit,
    )
    return page_reply(page.map(lambda rows: order_json(rows.order, rows.lines, rows.refunds)))


@routes.get(
    "/api/orders/{id}",
    summary="我的订单详情（商品行、退款及产生的排队权益）",
    description="Someone else's order reads as not found. `entries` follow the display "
    "switches and names of `GET /api/entries`.",
    tags=("orders",),
    auth="member",
    path_params=ORDER_PARAMS,
    responses={200: Reply("订单", ORDER_DETAIL_REPLY), 404: Reply("订单不存在")},
)
async def show(request: web.Request) -> web.Response:
    order = await own_order(request)
    found = await order_entries(request[MEMBER_ID], order.id, now=utcnow())
    detail = {
        **await render(order),
        "entries": found["entries"],
        "pool_entries": found["pool_entries"],
    }
    return json_reply({"order": detail, "names": found["names"]})


@routes.post(
    "/api/orders/{id}/cancel",
    summary="取消未支付的订单",
    description="Closes the member's unpaid order: its stock and the points / love value it "
    "deducted go back at once.",
    tags=("orders",),
    auth="member",
    path_params=ORDER_PARAMS,
    responses={200: Reply("订单已关闭", ORDER_REPLY), 409: Reply("订单已支付或已关闭")},
)
async def cancel(request: web.Request) -> web.Response:
    order = await cancel_order(path_int(request, "id"), member_id=request[MEMBER_ID], now=utcnow())
    return web.json_response({"order": await render(order)})


@routes.post(
    "/api/orders/{id}/confirm",
    summary="确认收货",
    tags=("orders",),
    auth="member",
    path_params=ORDER_PARAMS,
    responses={200: Reply("订单已完成", ORDER_REPLY), 409: Reply("订单未支付或已完成")},
)
async def confirm(request: web.Request) -> web.Response:
    order = await own_order(request)
    order = await complete_order(order.id, now=utcnow())
    return web.json_response({"order": await render(order)})


@routes.post(
    "/api/orders/{id}/lines/{line_id}/refund",
    summary="申请退款（一件商品）",
    description="Records the refund request and asks WeChat Pay for it. Nothing changes in the "
    "queues until WeChat Pay's refund notification arrives.",
    tags=("orders",),
    auth="member",
    body=REFUND_BODY,
    body_example={"reason": "商品破损"},
    body_required=False,
    path_params=LINE_PARAMS,
    responses=REFUND_RESPONSES,
)
async def refund(request: web.Request) -> web.Response:
    order = await own_order(request)
    created = await request_refund(
        order.id,
        path_int(request, "line_id"),
        gateway=pay_gateway(request),
        member_id=request[MEMBER_ID],
        reason=request[BODY].get("reason", ""),
    )
    return web.json_response({"refund": refund_json(created)}, status=202)
