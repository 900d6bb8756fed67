"""Operators' view of double payments (重复支付): a second WeChat Pay transaction for an order
already paid, or a payment of an order closed unpaid, owed back to the payer until refunded
(``services.orders.double_payments``)."""

from __future__ import annotations

from aiohttp import web

from models import DoublePaymentStatus
from services.operators.roles import Permission
from services.orders.double_payments import double_payment_json, list_double_payments, owed_back
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice
from web.registry import Registry, Reply
from web.schemas import INT, STRING, TIME, obj

routes = Registry()

STATUSES = tuple(s.value for s in DoublePaymentStatus)
DOUBLE_PAYMENT = obj(
    {
        "id": INT,
        "order_id": INT,
        "out_trade_no": STRING,
        "kind": {
            "type": "string",
            "enum": ["second_payment", "closed_order"],
            "description": "second_payment 已支付订单的第二笔支付；closed_order 订单关闭后才到的支付",
        },
        "transaction_id": {**STRING, "description": "第二笔支付的微信支付单号"},
        "amount_fen": INT,
        "status": {
            "type": "string",
            "enum": list(STATUSES),
            "description": "refund_pending 待退款（申请未被受理，系统重试）、refunding 退款中、"
            "refunded 已退款、awaiting_operator 待人工处理、refund_failed 退款失败（需人工）",
        },
        "out_refund_no": {**STRING, "description": "自动退款使用的商户退款单号"},
        "refund_id": STRING,
        "attempts": {**INT, "description": "已发出的退款申请次数"},
        "last_error": {**STRING, "description": "最近一次退款申请失败的原因"},
        "created_at": TIME,
        "refunded_at": TIME,
    }
)


@routes.get(
    "/api/admin/double-payments",
    summary="运营：重复支付列表",
    description="Second payments of orders already paid, and payments of orders closed unpaid "
    "(`kind`), with their refund status; newest "
    "first, `status` filters. `owed_count` / `owed_fen`: those not refunded yet. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"status": {"type": "string", "enum": list(STATUSES)}, **PAGE_PARAMS},
    responses={
        200: Reply("重复支付", paged(DOUBLE_PAYMENT, owed_count=INT, owed_fen=INT)),
        400: Reply("查询参数无效"),
    },
)
async def admin_double_payments(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUSES)
    cursor, limit = page_args(request)
    page = await list_double_payments(status=status, cursor=cursor, limit=limit)
    return page_reply(page.map(double_payment_json), **await owed_back())
