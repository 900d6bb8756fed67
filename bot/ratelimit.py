"""Per-channel send rates of the notifier, shared by every notifier process.

The counting is ``runtime.ratelimit`` (fixed windows in Redis under ``<prefix>rl:send:<channel>:``,
in the process without Redis, allowed when Redis fails). What the notifier does with a refusal is
its own: past ``count`` in a window it waits for the next window instead of giving up, so a burst
of events is spread out, never dropped. A channel without a configured limit is not limited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from runtime.ratelimit import Limit, MemoryRateLimiter, RateLimiter

SEND = "send"  # the limiter's name for one message sent on a channel


class ChannelRateLimiter:
    def __init__(
        self,
        limits: Mapping[str, Limit],
        limiter: RateLimiter | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = dict(limits)
        self._limiter = limiter or MemoryRateLimiter()
        self._sleep = sleep

    async def acquire(self, channel: str) -> None:
        """Return once ``channel`` may send one more message."""
        limit = self._limits.get(channel)
        if limit is None or limit.count <= 0:
            return
        while not (verdict := await self._limiter.hit(SEND, channel, limit)).allowed:
            await self._sleep(verdict.wait + 0.001)
