"""A small bytes cache with expiry: Redis when configured (shared by every process), else an
in-process LRU. It holds referral QR images and the WeChat access token."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class BytesCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: int) -> None: ...

    async def delete(self, key: str) -> None: ...


class RedisCache:
    """Keys are ``<prefix>cache:<key>``. A Redis failure reads as a miss and skips the write:
    the caller then asks WeChat again, which is slower but correct."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("cache read failed: %r", exc)
            return None
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    async def put(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=max(1, ttl))
        except (RedisError, OSError) as exc:
            log.warning("cache write failed: %r", exc)

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("cache delete failed: %r", exc)


class MemoryCache:
    """Least-recently-used, at most ``max_entries``; expired entries read as misses."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        item = self._entries.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl: int) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
