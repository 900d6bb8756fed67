"""Operations: health, Prometheus metrics, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from tortoise import connections

from web import metrics as prometheus
from web import openapi
from web.keys import REDIS, SETTINGS
from web.registry import ROUTE_SPECS, Registry, Reply
from web.schemas import HEALTH_REPLY

log = logging.getLogger(__name__)

routes = Registry()

CHECK_TIMEOUT = 3.0
API_TITLE = "queue-rebate member API (排队返利小程序接口)"
API_VERSION = "1"


async def _check_database() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def _check_redis(request: web.Request) -> None:
    redis = request.app[REDIS]
    assert redis is not None
    await redis.ping()


@routes.get(
    "/healthz",
    summary="健康检查：数据库与 Redis 可达",
    tags=("ops",),
    responses={200: Reply("一切正常", HEALTH_REPLY), 503: Reply("有依赖不可达", HEALTH_REPLY)},
)
async def healthz(request: web.Request) -> web.Response:
    checks = {"database": _check_database()}
    if request.app[REDIS] is not None:
        checks["redis"] = _check_redis(request)
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT)
            results[name] = "ok"
        except Exception as exc:  # any failure is the answer, not an error
            log.warning("health check %s failed: %r", name, exc)
            results[name] = "failed"
    healthy = all(result == "ok" for result in results.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )


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
