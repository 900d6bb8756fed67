"""A small bytes cache with expiry: Redis when configured (shared by every process), else an
in-process LRU. It holds referral QR images and WeChat access tokens (``wechat.tokens``, which
also takes short locks in it with ``add``: set only if absent, and ``delete(..., if_value=)``)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Delete the key only if it still holds the value (a lock may have expired and been taken).
_DELETE_IF = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class BytesCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: int) -> None: ...

    async def add(self, key: str, value: bytes, ttl: int) -> bool:
        """Store ``value`` only if ``key`` holds nothing (unexpired): whether it was stored."""
        ...

    async def delete(self, key: str, *, if_value: bytes | None = None) -> None:
        """Forget ``key`` (with ``if_value``: only while it still holds that value)."""
        ...


class RedisCache:
    """Keys are ``<prefix>cache:<key>``. When Redis fails, the operation goes to ``fallback``
    (the process's own cache) if there is one. Without, a failure reads as a miss, skips the
    write and lets ``add`` succeed: the caller then asks WeChat again, which is slower but
    correct."""

    def __init__(self, redis: Redis, *, prefix: str, fallback: BytesCache | None = None) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"
        self._fallback = fallback

    async def get(self, key: str) -> bytes | None:
        value = await self._try(
            "read", self._redis.get(self._prefix + key), lambda c: c.get(key), None
        )
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    async def put(self, key: str, value: bytes, ttl: int) -> None:
        write = self._redis.set(self._prefix + key, value, ex=max(1, ttl))
        await self._try("write", write, lambda c: c.put(key, value, ttl), None)

    async def add(self, key: str, value: bytes, ttl: int) -> bool:
        added = self._redis.set(self._prefix + key, value, ex=max(1, ttl), nx=True)
        return bool(await self._try("add", added, lambda c: c.add(key, value, ttl), True))

    async def delete(self, key: str, *, if_value: bytes | None = None) -> None:
        k = self._prefix + key
        gone = (
            self._redis.delete(k)
            if if_value is None
            else self._redis.eval(_DELETE_IF, 1, k, if_value)
        )
        await self._try("delete", gone, lambda c: c.delete(key, if_value=if_value), None)

    async def _try(
        self,
        what: str,
        attempt: Awaitable[T],
        instead: Callable[[BytesCache], Awaitable[T]],
        otherwise: T,
    ) -> T:
        try:
            return await attempt
        except (RedisError, OSError) as exc:
            where = "the process's cache instead" if self._fallback else "skipped"
            log.warning("cache %s failed (%s): %r", what, where, exc)
        return otherwise if self._fallback is None else await instead(self._fallback)


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

    async def add(self, key: str, value: bytes, ttl: int) -> bool:
        if await self.get(key) is not None:
            return False
        await self.put(key, value, ttl)
        return True

    async def delete(self, key: str, *, if_value: bytes | None = None) -> None:
        item = self._entries.get(key)
        if item is not None and (if_value is None or item[1] == if_value):
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
