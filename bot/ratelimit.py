"""Per-channel send rate, shared by every notifier process.

A fixed window per channel: ``INCR <prefix>rate:<channel>:<window index>`` (expiring with the
window); past ``count`` the caller waits for the next window instead of being refused, so a
burst of events is spread out, never dropped. Without Redis (or when it fails) the same
counting happens inside the process. A channel without a configured limit is not limited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.bot_settings import RateLimit

log = logging.getLogger(__name__)


class ChannelRateLimiter:
    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        redis: Redis | None = None,
        prefix: str = "bot:",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = dict(limits)
        self._redis = redis
        self._prefix = f"{prefix}rate:"
        self._clock = clock
        self._sleep = sleep
        self._local: dict[str, tuple[int, int]] = {}  # channel → (window, count)

    async def acquire(self, channel: str) -> None:
        """Return once ``channel`` may send one more message."""
        limit = self._limits.get(channel)
        if limit is None or limit.count <= 0:
            return
        while True:
            now = self._clock()
            window = int(now // limit.window)
            if await self._count(channel, window, limit) <= limit.count:
                return
            await self._sleep((window + 1) * limit.window - now + 0.001)

    async def _count(self, channel: str, window: int, limit: RateLimit) -> int:
        if self._redis is not None:
            key = f"{self._prefix}{channel}:{window}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, limit.window + 1)
                    count, _ = await pipe.execute()
                return int(count)
            except (RedisError, OSError) as exc:
                log.warning("rate limit counter in Redis unavailable: %r", exc)
        seen_window, count = self._local.get(channel, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._local[channel] = (window, count)
        return count
