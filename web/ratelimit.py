"""Fixed-window rate limits, shared by every ``serve`` process through Redis.

A window of ``limit.window`` seconds starts at each multiple of the window since the epoch;
the ``count``-plus-first request inside it is refused with the seconds until it ends. Redis:
``INCR`` and ``EXPIRE`` on ``<prefix>rl:<name>:<subject>:<window start>`` in one MULTI/EXEC
pipeline, so concurrent processes count together and keys vanish on their own. Without Redis
the same counting runs in the process. If Redis fails, the request is allowed (and logged): a
rate limiter must not take login down with it — ``/healthz`` reports Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from web.errors import ApiError
from web.options import Limit

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)


class RateLimiter(Protocol):
    async def hit(self, name: str, subject: str, limit: Limit) -> Verdict: ...


def _window(limit: Limit, now: float) -> tuple[int, int]:
    start = int(now // limit.window) * limit.window
    return start, max(1, math.ceil(start + limit.window - now))


class RedisRateLimiter:
    def __init__(self, redis: Redis, *, prefix: str, clock: Clock = time.time) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock

    async def hit(self, name: str, subject: str, limit: Limit) -> Verdict:
        start, remaining = _window(limit, self._clock())
        key = f"{self._prefix}rl:{name}:{subject}:{start}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, limit.window + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("rate limit %s not checked, Redis failed: %r", name, exc)
            return Verdict(True, 0)
        return Verdict(True, 0) if int(count) <= limit.count else Verdict(False, remaining)


class MemoryRateLimiter:
    """The same windows, counted in this process only (no Redis configured)."""

    MAX_KEYS = 100_000

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._clock = clock

    async def hit(self, name: str, subject: str, limit: Limit) -> Verdict:
        now = self._clock()
        start, remaining = _window(limit, now)
        if len(self._counts) >= self.MAX_KEYS:
            self._forget_before(now)
        key = (name, subject, start)
        self._counts[key] = count = self._counts.get(key, 0) + 1
        return Verdict(True, 0) if count <= limit.count else Verdict(False, remaining)

    def _forget_before(self, now: float) -> None:
        # Windows are at most a few minutes long; anything older than an hour has ended.
        horizon = now - 3600
        self._counts = {k: v for k, v in self._counts.items() if k[2] >= horizon}


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
