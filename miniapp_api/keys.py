"""Typed keys of everything ``create_app`` stores on the application (no globals)."""

from aiohttp import ClientSession, web
from redis.asyncio import Redis

from miniapp_api.auth import TokenSigner
from miniapp_api.cache import BytesCache
from miniapp_api.metrics import METRICS
from miniapp_api.options import ApiOptions
from miniapp_api.ratelimit import RateLimiter
from miniapp_api.wechat_gateway import WeChatGateway
from runtime.config import Settings

SETTINGS = web.AppKey("settings", Settings)
OPTIONS = web.AppKey("options", ApiOptions)
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
HTTP = web.AppKey("http_session", ClientSession)
WECHAT = web.AppKey("wechat", WeChatGateway)
TOKENS = web.AppKey("tokens", TokenSigner)
LIMITER = web.AppKey("rate_limiter", RateLimiter)
CACHE = web.AppKey("cache", BytesCache)

__all__ = [
    "CACHE",
    "HTTP",
    "LIMITER",
    "METRICS",
    "OPTIONS",
    "REDIS",
    "SETTINGS",
    "TOKENS",
    "WECHAT",
]
