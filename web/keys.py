"""Typed keys of everything ``create_app`` stores on the application (no globals)."""

from collections.abc import Callable

from aiohttp import ClientSession, web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from runtime.cache import BytesCache
from runtime.config import Settings
from runtime.listen import ListenHub
from runtime.ratelimit import RateLimiter
from services.queues.runner import WriterLoop
from web.auth import TokenSigner
from web.options import ApiOptions
from wechat.gateway import WeChatGateway

SETTINGS = web.AppKey("settings", Settings)
OPTIONS = web.AppKey("options", ApiOptions)
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
HTTP = web.AppKey("http_session", ClientSession)
WECHAT = web.AppKey("wechat", WeChatGateway)
TOKENS = web.AppKey("tokens", TokenSigner)
LIMITER = web.AppKey("rate_limiter", RateLimiter)
CACHE = web.AppKey("cache", BytesCache)
SCHEDULER: web.AppKey[AsyncIOScheduler | None] = web.AppKey("scheduler")  # None: not run here
WRITER: web.AppKey[WriterLoop | None] = web.AppKey("writer")  # None: not run here
LISTEN: web.AppKey[ListenHub | None] = web.AppKey("listen")  # None: SQLite
# the background workers this process runs (writer, scheduler, notifier) → "is it running?",
# filled by their cleanup contexts, read by /readyz
WORKERS: web.AppKey[dict[str, Callable[[], bool]]] = web.AppKey("workers")

__all__ = [
    "CACHE",
    "HTTP",
    "LIMITER",
    "LISTEN",
    "OPTIONS",
    "REDIS",
    "SCHEDULER",
    "SETTINGS",
    "TOKENS",
    "WECHAT",
    "WORKERS",
    "WRITER",
]
