"""Operator (运营后台) endpoints: admin tokens only; a member token never passes."""

from __future__ import annotations

import logging

from aiohttp import web

from miniapp_api.auth import OPERATOR
from miniapp_api.registry import BODY, Registry, path_int
from miniapp_api.views.common import refund_json
from miniapp_api.views.orders import LINE_PARAMS, REFUND_RESPONSES, pay_gateway
from miniapp_api.views.schemas import REFUND_BODY
from services.refunds import request_refund

log = logging.getLogger(__name__)

routes = Registry()


@routes.post(
    "/api/admin/orders/{id}/lines/{line_id}/refund",
    summary="运营发起退款（一件商品）",
    tags=("admin",),
    auth="admin",
    body=REFUND_BODY,
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
    )
    return web.json_response({"refund": refund_json(created)}, status=202)
