"""Access tokens shared by every process: cached in Redis with WeChat's own expiry, refreshed
by one process at a time.

Rule: a token is used until ``margin`` seconds before it expires. On a miss, the process that
wins ``SET <key>:lock <owner> NX EX <lock_ttl>`` asks WeChat and stores the token with
``EX expires_in - margin`` (the expiry travels with the token, so no process ever treats it as
never expiring: STACK.md's trap with wechatpy's ``RedisStorage``); the others wait for it to
appear. A token WeChat rejects (40001) is refreshed with ``force_refresh`` only if it is still
the cached one — a rejection of an older token just picks up the newer. Without Redis, one
``asyncio.Lock`` does the same inside the process.

Tokens come from ``/cgi-bin/stable_token``, which returns the same token to every caller until
it nears expiry, so the member API's own cache (``wechat.gateway``, which caches
the mini-program token without a refresh lock) and this one never invalidate each other.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wechat.client import AccessToken

log = logging.getLogger(__name__)

FetchToken = Callable[[bool], Awaitable[AccessToken]]  # force_refresh → token

# Delete the lock only if we still own it (it may have expired and been taken).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass
class _Cached:
    token: str
    expires: float


class TokenStore:
    """One app's access token (``key`` names the app, e.g. its appid)."""

    def __init__(
        self,
        fetch: FetchToken,
        *,
        key: str,
        redis: Redis | None = None,
        prefix: str = "bot:",
        margin: int = 300,
        lock_ttl: int = 15,
        poll: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._redis = redis
        self._key = f"{prefix}token:{key}"
        self._lock_key = f"{self._key}:lock"
        self._margin = margin
        self._lock_ttl = lock_ttl
        self._poll = poll
        self._clock = clock
        self._local: _Cached | None = None
        self._local_lock = asyncio.Lock()

    async def get(self, *, rejected: str | None = None) -> str:
        """A valid token. ``rejected``: the token WeChat just refused (40001)."""
        if self._redis is not None:
            try:
                return await self._shared(rejected)
            except (RedisError, OSError) as exc:
                log.warning("token cache in Redis unavailable, using the process's: %r", exc)
        return await self._in_process(rejected)

    async def _in_process(self, rejected: str | None) -> str:
        async with self._local_lock:
            cached = self._local
            if cached and cached.token != rejected and cached.expires > self._clock():
                return cached.token
            token = await self._fetch(rejected is not None)
            ttl = max(1, token.expires_in - self._margin)
            self._local = _Cached(token.token, self._clock() + ttl)
            return token.token

    async def _shared(self, rejected: str | None) -> str:
        assert self._redis is not None
        deadline = self._clock() + self._lock_ttl * 2
        while True:
            cached = _text(await self._redis.get(self._key))
            if cached is not None and cached != rejected:
                return cached
            owner = secrets.token_hex(8)
            if await self._redis.set(self._lock_key, owner, nx=True, ex=self._lock_ttl):
                try:
                    # Someone may have refreshed between our read and our lock.
                    cached = _text(await self._redis.get(self._key))
                    if cached is not None and cached != rejected:
                        return cached
                    token = await self._fetch(rejected is not None)
                    ttl = max(1, token.expires_in - self._margin)
                    await self._redis.set(self._key, token.token, ex=ttl)
                    return token.token
                finally:
                    await self._redis.eval(_RELEASE, 1, self._lock_key, owner)
            if self._clock() > deadline:
                raise TimeoutError("another process holds the token refresh lock too long")
            await asyncio.sleep(self._poll)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
