"""Operations: Prometheus metrics and the OpenAPI document (health: ``server.health``)."""

from __future__ import annotations

import logging

from aiohttp import web

from web import metrics as prometheus
from web import openapi
from web.keys import SETTINGS
from web.registry import ROUTE_SPECS, Registry, Reply

log = logging.getLogger(__name__)

routes = Registry()

API_TITLE = "queue-rebate member API (排队返利小程序接口)"
API_VERSION = "1"


@routes.get(
    "/metrics",
    summary="Prometheus 指标",
    tags=("ops",),
    description=(
        "This process's metrics (Prometheus text format 0.0.4). Needs `Authorization: Bearer` "
        "with `[metrics] token`; without a configured token it answers 404."
    ),
    responses={
        200: Reply("Prometheus text format 0.0.4", content_type="text/plain"),
        401: Reply("缺少或错误的指标令牌"),
        404: Reply("未配置指标令牌：不提供指标"),
    },
)
async def metrics(request: web.Request) -> web.Response:
    prometheus.check_token(request.app[SETTINGS].metrics, request.headers.get("Authorization", ""))
    return await prometheus.exposition()


@routes.get(
    "/api/openapi.json",
    summary="本接口的 OpenAPI 3 文档",
    tags=("ops",),
    responses={200: Reply("OpenAPI 3.0 document", {"type": "object"})},
)
async def openapi_document(request: web.Request) -> web.Response:
    specs = request.app[ROUTE_SPECS]
    return web.json_response(openapi.document(specs, title=API_TITLE, version=API_VERSION))
