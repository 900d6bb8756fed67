"""Operator (运营后台) endpoints: admin tokens only; a member token never passes."""

from __future__ import annotations

import logging

from aiohttp import web

from services.clock import utcnow
from services.operators.roles import Permission
from services.orders.refunds import request_refund
from web.auth import OPERATOR
from web.common import pay_gateway, refund_json
from web.registry import BODY, Registry, path_int
from web.schemas import LINE_PARAMS, REFUND_BODY, REFUND_RESPONSES

log = logging.getLogger(__name__)

routes = Registry()


@routes.post(
    "/api/admin/orders/{id}/lines/{line_id}/refund",
    summary="运营发起退款（一件商品）",
    tags=("admin",),
    auth="admin",
    permission=Permission.MONEY,
    body=REFUND_BODY,
    body_example={"reason": "商品破损"},
    body_required=False,
    path_params=LINE_PARAMS,
    responses=REFUND_RESPONSES,
)
async def admin_refund(request: web.Request) -> web.Response:
    order_id, line_id = path_int(request, "id"), path_int(request, "line_id")
    log.info(
        "operator %s requests a refund of line %s of order %s", request[OPERATOR], line_id, order_id
    )
    created = await request_refund(
        order_id,
        line_id,
        gateway=pay_gateway(request),
        requested_by="operator",
        reason=request[BODY].get("reason", ""),
        operator=request[OPERATOR],
        now=utcnow(),
    )
    return web.json_response({"refund": refund_json(created)}, status=202)
