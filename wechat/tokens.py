"""Access tokens, one per app id, shared by every process: the one token cache of the member API
(the mini-program's token, for mini-program codes) and the chat bot (subscribe messages, the
official account).

Rule: a token is used until ``margin`` seconds before it expires. It lives in the byte cache of
``runtime.cache`` under ``access-token:<appid>`` with ``ttl = expires_in - margin``, so the expiry
travels with the token and no process ever treats it as never expiring (STACK.md's trap with
wechatpy's ``RedisStorage``). ``token_cache``: Redis, shared by every process; the process's own
memory without Redis, and while Redis fails (the bot always did this; the member API used to ask
WeChat on every call while Redis was down).

On a miss one process asks WeChat: the one that ``add``s ``access-token:<appid>:lock`` (``SET NX
EX lock_ttl``); the others wait for the token to appear, and the other tasks of the same process
queue behind an ``asyncio.Lock`` meanwhile. A token WeChat rejects (40001) is refreshed with
``force_refresh`` only if it is still the cached one — a rejection of an older token just picks up
the newer — so many callers rejected at once cause one refresh (``with_token``).

Tokens come from ``/cgi-bin/stable_token``, which gives every caller the same token until it nears
expiry, so two caches of one app (the member API's and the bot's, each under its own Redis prefix)
do not invalidate each other; only a forced refresh does, once, and the other cache then refreshes
on its next rejection.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.asyncio import Redis

from runtime.cache import BytesCache, MemoryCache, RedisCache
from wechat.client import AccessToken
from wechat.errors import AccessTokenInvalid

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_MARGIN = 300  # seconds before expiry a cached token is no longer used
PROCESS_TOKENS = 64  # entries of the in-process cache (tokens and their locks)

FetchToken = Callable[[bool], Awaitable[AccessToken]]  # force_refresh → token


class StableTokenClient(Protocol):
    """A client of an app with WeChat's stable-token endpoint (mini-program, official account)."""

    @property
    def appid(self) -> str: ...

    async def fetch_stable_access_token(self, *, force_refresh: bool = False) -> AccessToken: ...


class AccessTokens:
    """One app's access token (``appid`` names it in the cache)."""

    def __init__(
        self,
        fetch: FetchToken,
        cache: BytesCache,
        *,
        appid: str,
        margin: int = TOKEN_MARGIN,
        lock_ttl: int = 15,
        poll: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._cache = cache
        self._key = f"access-token:{appid}"
        self._lock_key = f"{self._key}:lock"
        self._margin = margin
        self._lock_ttl = lock_ttl
        self._poll = poll
        self._clock = clock
        self._in_process = asyncio.Lock()

    async def get(self, *, rejected: str | None = None) -> str:
        """A valid token. ``rejected``: the token WeChat just refused (40001)."""
        token = await self._cached(rejected)
        if token is not None:
            return token
        async with self._in_process:
            return await self._refresh(rejected)

    async def _cached(self, rejected: str | None) -> str | None:
        value = await self._cache.get(self._key)
        token = None if value is None else value.decode("ascii")
        return None if token == rejected else token

    async def _refresh(self, rejected: str | None) -> str:
        deadline = self._clock() + self._lock_ttl * 2
        while True:
            token = await self._cached(rejected)
            if token is not None:
                return token
            owner = secrets.token_hex(8).encode("ascii")
            if await self._cache.add(self._lock_key, owner, self._lock_ttl):
                try:
                    return await self._fetch_unless_cached(rejected)
                finally:
                    await self._cache.delete(self._lock_key, if_value=owner)
            if self._clock() > deadline:
                raise TimeoutError("another process holds the token refresh lock too long")
            await asyncio.sleep(self._poll)

    async def _fetch_unless_cached(self, rejected: str | None) -> str:
        # Another process may have stored a token between our read and our lock.
        token = await self._cached(rejected)
        if token is not None:
            return token
        fresh = await self._fetch(rejected is not None)
        ttl = max(1, fresh.expires_in - self._margin)
        await self._cache.put(self._key, fresh.token.encode("ascii"), ttl)
        return fresh.token


async def with_token(tokens: AccessTokens, call: Callable[[str], Awaitable[T]]) -> T:
    """``call(token)``; a token WeChat rejects is refreshed once and the call repeated."""
    token = await tokens.get()
    try:
        return await call(token)
    except AccessTokenInvalid:
        log.info("access token rejected by WeChat; refreshing it")
        return await call(await tokens.get(rejected=token))


def stable_tokens(client: StableTokenClient, cache: BytesCache) -> AccessTokens:
    """The access tokens of ``client``'s app, from ``/cgi-bin/stable_token``."""
    return AccessTokens(
        lambda force: client.fetch_stable_access_token(force_refresh=force),
        cache,
        appid=client.appid,
    )


def token_cache(redis: Redis | None, *, prefix: str) -> BytesCache:
    """Redis shared by every process using ``prefix``; the process's own memory without Redis
    and while Redis fails."""
    memory = MemoryCache(PROCESS_TOKENS)
    return memory if redis is None else RedisCache(redis, prefix=prefix, fallback=memory)
