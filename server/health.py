"""``/healthz`` and ``/readyz``, served by every process role (``queue-rebate serve --role``,
``queue-rebate notifier --health-port``).

- ``/healthz``: the process is alive (its event loop answers). Always 200 while it runs; an
  orchestrator restarts a process that stops answering it.
- ``/readyz``: the process can do its work: the database answers and is migrated (every
  migration this build knows is applied; checked until it holds once), Redis answers when one is
  configured, and each background worker of its role runs (the queue writer, the scheduler, the
  notifier). 200 with every check ``ok``, else 503 naming the failed ones; a load balancer sends
  API traffic only to ready processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from tortoise import connections

from runtime.errors import CommandError
from server.database import require_migrated
from web.keys import OPTIONS, REDIS, SETTINGS, WORKERS
from web.registry import Registry, Reply
from web.schemas import HEALTH_REPLY

log = logging.getLogger(__name__)

routes = Registry()

CHECK_TIMEOUT = 3.0
MIGRATED = web.AppKey("migrated", list)  # [True] once the schema was seen complete


async def _check_database(app: web.Application) -> None:
    await connections.get("default").execute_query("SELECT 1")


async def _check_migrated(app: web.Application) -> None:
    if not app[MIGRATED]:
        await require_migrated(app[SETTINGS].database.url)
        app[MIGRATED].append(True)


async def _check_redis(app: web.Application) -> None:
    redis = app[REDIS]
    assert redis is not None
    await redis.ping()


def install(app: web.Application) -> None:
    """The state ``/readyz`` reads: the workers' probes (filled as their contexts start)."""
    app[WORKERS] = {}
    app[MIGRATED] = []


@routes.get(
    "/healthz",
    summary="存活检查：进程在运行",
    tags=("ops",),
    responses={200: Reply("进程在运行", HEALTH_REPLY)},
)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "checks": {}})


@routes.get(
    "/readyz",
    summary="就绪检查：数据库（已迁移）、Redis 与本进程的后台任务",
    tags=("ops",),
    responses={200: Reply("可以工作", HEALTH_REPLY), 503: Reply("有检查未通过", HEALTH_REPLY)},
)
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, Callable[[web.Application], Awaitable[None]]] = {"database": _check_database}
    if app[OPTIONS].check_migrations:
        checks["migrations"] = _check_migrated
    if app[REDIS] is not None:
        checks["redis"] = _check_redis
    results: dict[str, str] = {}
    for name, check in checks.items():
        results[name] = await _outcome(name, check(app))
    for name, running in app[WORKERS].items():
        results[name] = "ok" if running() else "stopped"
    ready = all(result == "ok" for result in results.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


async def _outcome(name: str, check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT)
    except CommandError:
        log.warning("readiness: %s: not migrated", name)
        return "pending"
    except Exception as exc:  # any failure is the answer, not an error
        log.warning("readiness check %s failed: %r", name, exc)
        return "failed"
    return "ok"
