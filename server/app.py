"""The composition root: ``create_app(settings)`` builds the whole HTTP server (the
mini-program's API, the operators' API and the operations endpoints).

Every resource is one ``cleanup_ctx`` generator that sets up, yields and tears down, stored
under a typed key of ``web.keys`` (aiohttp: "Data Sharing aka No Singletons Please"):

1. database — ``Tortoise.init`` in the startup task, closed on shutdown (never
   ``register_tortoise``: it left connections open under pytest-aiohttp, STACK.md);
   with it, on PostgreSQL, the process's one LISTEN connection (``runtime.listen.ListenHub``),
   which the settings cache follows to hear other processes' changes;
2. Redis — ``redis.asyncio`` when ``[redis] url`` is set, else ``None``; with it go the rate
   limiter and the cache (Redis-backed, or in-process without Redis);
3. one shared ``aiohttp.ClientSession`` for every outbound call;
4. the WeChat clients, built from ``[wechat]`` / ``[wechat_pay]`` (key files read here): one
   ``WeChatGateway`` with its WeChat Pay client, its one 商家转账 client and its access-token
   cache (``wechat.tokens``: in Redis, or in the process without it);
   With them, in certificate mode, the periodic download of the platform certificates
   (``[wechat_pay] platform_cert_refresh_seconds``); SIGHUP re-reads the key files
   (``reload_platform_keys``, wired by ``server.process``);
5. the writer loop (when ``ApiOptions.run_writer``, the default): settles the queues that
   payments and completions hand over, and takes over those a stopped process left pending
   (``services.queues.runner``);
6. the scheduler (when ``ApiOptions.run_scheduler``), whose jobs get that gateway's clients as
   an argument (``services.jobs.JobClients``) — the same clients the operators' job runs and
   withdrawal approvals use.

A process's role (``queue-rebate serve --role api|writer|scheduler|all``) is its options: the
API routes only when ``ApiOptions.serve_api``; every role serves ``/healthz``, ``/readyz``
(``server.health``) and ``/metrics``. ``create_notifier_app`` is the notifier's process: the
database, Redis, one HTTP session and the notifier, with the same health endpoints.

Shutdown runs them in reverse. aiohttp's graceful shutdown waits for in-flight requests before
the cleanup contexts run, so a request never loses its database mid-transaction. Nothing here
reads the environment or touches the network at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from tortoise import Tortoise

import admin_api
import console
import miniapp_api
from bot.notifier import notifier_ctx
from bot.routes import setup_routes as setup_bot_routes
from jobs.scheduler import running_scheduler
from runtime.cache import MemoryCache, RedisCache
from runtime.config import Settings, redact_url
from runtime.db import tortoise_config
from runtime.listen import ListenHub
from runtime.logs import install_record_context
from runtime.ratelimit import rate_limiter
from server import health, ops
from services.jobs import JobClients
from services.operators.cache import OPERATORS as OPERATORS_CACHE
from services.queues import runner
from services.queues.runner import WriterLoop
from services.settings.cache import SETTINGS as SETTINGS_CACHE
from web.auth import TokenSigner
from web.keys import (
    CACHE,
    HTTP,
    LIMITER,
    LISTEN,
    OPTIONS,
    REDIS,
    SCHEDULER,
    SETTINGS,
    TOKENS,
    WECHAT,
    WORKERS,
    WRITER,
)
from web.middlewares import body_cap, json_errors, request_context
from web.options import ApiOptions
from web.registry import RouteSpec, install
from wechat.errors import NotificationRejected, WeChatError
from wechat.gateway import build_gateway
from wechat.platform_keys import PlatformKeyError
from wechat.tokens import token_cache

log = logging.getLogger(__name__)

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
LISTEN_STARTUP_WAIT_S = 2.0


def route_specs() -> list[RouteSpec]:
    """Every endpoint of the server, in documentation order: the mini-program's, the
    operators', operations, and WeChat Pay's notifications."""
    return [
        *miniapp_api.route_specs(),
        *admin_api.route_specs(),
        *health.routes.specs,
        *ops.routes.specs,
    ]


def ops_only_specs() -> list[RouteSpec]:
    """What a process that serves no API answers: health and metrics."""
    return [*health.routes.specs, *(s for s in ops.routes.specs if s.path == "/metrics")]


def create_app(
    settings: Settings,
    *,
    options: ApiOptions | None = None,
    extra_routes: Sequence[RouteSpec] = (),
    extra_cleanup: Sequence[CleanupCtx] = (),
) -> web.Application:
    """The aiohttp application. ``extra_routes`` (e.g. the payment notifications) are installed
    and documented like the built-in ones; ``extra_cleanup`` contexts start after the built-in
    resources (so they can use the database, Redis and the WeChat clients) and stop before."""
    install_record_context()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[request_context, json_errors, body_cap],
    )
    app[SETTINGS] = settings
    # without options: the settings' knobs, the API only (settlement then drains inline)
    app[OPTIONS] = options = options or ApiOptions.from_settings(settings, role="api")
    health.install(app)
    app[TOKENS] = TokenSigner(
        member_secret=settings.auth.member_token_secret,
        admin_secret=settings.auth.admin_token_secret,
        member_ttl=app[OPTIONS].member_token_ttl,
        admin_ttl=app[OPTIONS].admin_token_ttl,
    )
    app.cleanup_ctx.extend(
        [
            database_ctx,
            listen_ctx,
            redis_ctx,
            http_ctx,
            wechat_ctx,
            certificates_ctx,
            writer_ctx,
            scheduler_ctx,
            *extra_cleanup,
        ]
    )
    if not options.serve_api:
        install(app, ops_only_specs())
        return app
    install(app, [*route_specs(), *extra_routes])
    setup_bot_routes(app, settings)  # the official account's endpoint, when configured
    console.install(app)  # the operators' web console under /admin/
    return app


def create_notifier_app(
    settings: Settings, *, options: ApiOptions | None = None
) -> web.Application:
    """``queue-rebate notifier``: the chat bot's outbox consumer (``bot.notifier``) with the
    resources it needs and the health endpoints, no API."""
    install_record_context()
    app = web.Application(middlewares=[request_context, json_errors])
    app[SETTINGS] = settings
    app[OPTIONS] = options or ApiOptions(serve_api=False, run_writer=False)
    health.install(app)
    app.cleanup_ctx.extend([database_ctx, redis_ctx, http_ctx, notifier_ctx])
    install(app, ops_only_specs())
    return app


def reload_platform_keys(app: web.Application) -> None:
    """SIGHUP: re-read the WeChat Pay platform key files; a file that does not load is logged
    and the keys in use stay."""
    gateway = app.get(WECHAT)
    if gateway is None:
        return
    try:
        names = gateway.reload_platform_keys()
    except PlatformKeyError as exc:
        log.error("platform keys not reloaded, the previous ones stay: %s", exc)
        return
    log.info("platform keys reloaded: %s", ", ".join(names) or "none")


async def certificates_ctx(app: web.Application) -> AsyncIterator[None]:
    """Certificate mode (a platform certificate among the keys): download ``/v3/certificates``
    now and every ``platform_cert_refresh_seconds``, so the next certificate is known before
    WeChat Pay signs with it."""
    keys = app[WECHAT].platform_keys
    every = app[SETTINGS].wechat_pay.platform_cert_refresh_seconds
    if keys is None or not keys.certificate_mode or every == 0:
        yield
        return
    task = asyncio.create_task(_refresh_certificates(app, every), name="platform-certificates")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


CERT_RETRY_S = 300.0


async def _refresh_certificates(app: web.Application, every: float) -> None:
    while True:
        wait = every
        try:
            await app[WECHAT].download_platform_certificates()
        except (WeChatError, NotificationRejected, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("platform certificates not downloaded: %s", exc)
            wait = min(every, CERT_RETRY_S)
        await asyncio.sleep(wait)


async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The process's writer loop, installed as where settlement events hand their queues."""
    app[WRITER] = None
    if not app[OPTIONS].run_writer:
        yield
        return
    loop = WriterLoop()
    loop.start()
    runner.install(loop)
    app[WRITER] = loop
    app[WORKERS]["writer"] = lambda: loop.running
    try:
        yield
    finally:
        runner.uninstall(loop)
        await loop.stop()


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """APScheduler in this process (STACK.md: started after the database, in the same
    context), its jobs run with this app's WeChat clients. Every server process runs one; each
    slot still runs once (``services.jobs``)."""
    app[SCHEDULER] = None
    if not app[OPTIONS].run_scheduler:
        yield
        return
    async with running_scheduler(
        app[SETTINGS], JobClients.of(app[WECHAT], app[SETTINGS].outbox)
    ) as scheduler:
        app[SCHEDULER] = scheduler
        app[WORKERS]["scheduler"] = lambda: bool(scheduler.running)
        yield


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].database.url
    ctx = await Tortoise.init(config=tortoise_config(url))
    log.info("database open: %s", redact_url(url))
    try:
        yield
    finally:
        await ctx.close_connections()


async def listen_ctx(app: web.Application) -> AsyncIterator[None]:
    """The LISTEN hub (PostgreSQL; None on SQLite), followed by the settings cache and the
    operators' token cache (``services.operators.cache``). Startup
    waits a moment for it to listen; until it does, settings are read from the database."""
    hub = ListenHub.for_url(app[SETTINGS].database.url)
    app[LISTEN] = hub
    if hub is None:
        yield
        return
    await hub.start()
    await SETTINGS_CACHE.follow(hub)
    await OPERATORS_CACHE.follow(hub)
    try:
        await hub.wait_listening(LISTEN_STARTUP_WAIT_S)
    except TimeoutError:
        log.warning("listen: not listening yet; settings are read from the database until then")
    try:
        yield
    finally:
        SETTINGS_CACHE.unfollow(hub)
        OPERATORS_CACHE.unfollow(hub)
        await hub.stop()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis.url
    options = app[OPTIONS]
    redis: Redis | None = None
    if url:
        # Bounded waits: a blackholed Redis must cost a request seconds, not minutes (the
        # limiter and the cache then carry on without it).
        redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        app[CACHE] = RedisCache(redis, prefix=options.redis_prefix)
        log.info("redis: %s", redact_url(url))
    else:
        app[CACHE] = MemoryCache(options.qr_cache_size)
        log.info("redis not configured: rate limits and caches are per process")
    app[LIMITER] = rate_limiter(redis, prefix=options.redis_prefix)
    app[REDIS] = redis
    try:
        yield
    finally:
        if redis is not None:
            await redis.aclose()


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    options = app[OPTIONS]
    app[WECHAT] = build_gateway(
        app[SETTINGS],
        app[HTTP],
        token_cache(app[REDIS], prefix=options.redis_prefix),
        timeout=options.wechat_timeout,
        refund_notify_url=options.refund_notify_url or None,
    )
    yield
