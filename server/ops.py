"""Operations: Prometheus metrics and the OpenAPI document (health: ``server.health``)."""

from __future__ import annotations

import logging

from aiohttp import web

from web import openapi
from web.keys import METRICS
from web.metrics import CONTENT_TYPE, exposition, gauges
from web.registry import ROUTE_SPECS, Registry, Reply

log = logging.getLogger(__name__)

routes = Registry()

API_TITLE = "queue-rebate member API (排队返利小程序接口)"
API_VERSION = "1"


@routes.get(
    "/metrics",
    summary="Prometheus 指标",
    tags=("ops",),
    responses={200: Reply("Prometheus text format 0.0.4", content_type="text/plain")},
)
async def metrics(request: web.Request) -> web.Response:
    body = exposition(request.app[METRICS], await gauges())
    return web.Response(body=body.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})


@routes.get(
    "/api/openapi.json",
    summary="本接口的 OpenAPI 3 文档",
    tags=("ops",),
    responses={200: Reply("OpenAPI 3.0 document", {"type": "object"})},
)
async def openapi_document(request: web.Request) -> web.Response:
    specs = request.app[ROUTE_SPECS]
    return web.json_response(openapi.document(specs, title=API_TITLE, version=API_VERSION))
