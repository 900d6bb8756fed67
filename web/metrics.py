"""``/metrics``: the process's Prometheus metrics (``runtime.metrics``), behind a bearer token.

The scrape first sets the gauges that describe the shared database — queue depth (Σ
``queue.waiting_count``), lines waiting for their queue's writer (``pending_settlement``) and
the outbox backlog (events not delivered yet, ``services.outbox.backlog``) — then renders the
registry in Prometheus' text format, with the process collectors. Every process reports the
same database gauges; sum the counters across processes, not the gauges (``max`` them).

Access: ``Authorization: Bearer <[metrics] token>``, compared in constant time. With no token
configured ``/metrics`` answers 404, as if it did not exist: nothing is exposed by default.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from tortoise import connections

from runtime import metrics
from runtime.ops_settings import MetricsSettings
from runtime.sql import fetch
from services import outbox
from web.errors import ApiError

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def check_token(settings: MetricsSettings, authorization: str) -> None:
    """Refuse a scrape without the configured bearer token (404 when none is configured)."""
    if not settings.token:
        raise ApiError(404, "not_found", "请求的资源不存在")
    scheme, _, offered = authorization.partition(" ")
    if scheme.lower() != "bearer" or not offered:
        raise ApiError(
            401, "unauthenticated", "需要指标令牌", headers={"WWW-Authenticate": "Bearer"}
        )
    if not hmac.compare_digest(offered.strip().encode(), settings.token.encode()):
        raise ApiError(401, "invalid_token", "指标令牌无效", headers={"WWW-Authenticate": "Bearer"})


async def refresh_gauges() -> None:
    conn = connections.get("default")
    depth = await fetch(conn, "SELECT COALESCE(SUM(waiting_count), 0) AS n FROM queue")
    pending = await fetch(conn, "SELECT COUNT(*) AS n FROM pending_settlement")
    metrics.set_gauges(
        queue_depth=int(depth[0]["n"]),
        settlement_pending=int(pending[0]["n"]),
        outbox_backlog=await outbox.backlog(),
    )


async def exposition(*, with_database: bool = True) -> web.Response:
    """The registry as a response, its database gauges refreshed first (``with_database``)."""
    if with_database:
        await refresh_gauges()
    body = generate_latest(metrics.registry())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
