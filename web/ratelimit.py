"""The member API's answer to a rate limit: 429 with ``Retry-After`` (the limiter itself, its
windows and what happens when Redis fails, is ``runtime.ratelimit``)."""

from __future__ import annotations

import logging

from runtime.ratelimit import Limit, RateLimiter
from web.errors import ApiError

log = logging.getLogger(__name__)


async def enforce(limiter: RateLimiter, name: str, subject: str, limit: Limit) -> None:
    """Raise 429 with ``Retry-After`` when ``subject`` is over ``limit`` for ``name``."""
    verdict = await limiter.hit(name, subject, limit)
    if not verdict.allowed:
        log.info("rate limit %s exceeded by %s", name, subject)
        raise ApiError(
            429,
            "rate_limited",
            f"操作过于频繁，请在 {verdict.retry_after} 秒后重试",
            headers={"Retry-After": str(verdict.retry_after)},
        )
