"""What a request with an operator's API token must know — is the token revoked, is its operator
disabled, what is their role — kept in the process (``runtime.row_cache``) and invalidated in
every process on ``qr_operators`` when a token is revoked or an operator changes. So revocation
is checked on every request without a database read on each: a revoke commits, PostgreSQL
notifies every server process, each forgets the token before its next request (on PostgreSQL the
cache serves from memory only while its LISTEN hub listens; ``server.app.listen_ctx`` makes it
follow the app's). On SQLite nothing is kept: the server and the command line that revokes
are two processes, and SQLite has no NOTIFY to tell one of the other's change (its reads are
cheap).

Keys: ``token:<id>``; ``token`` (the bare kind) stands for every token — an operator's change
(disabled, new role, new password) invalidates them all, as rare as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise.backends.base.client import BaseDBAsyncClient

from runtime import row_cache
from runtime.row_cache import RowCache

CHANNEL = "qr_operators"
OPERATORS = RowCache(CHANNEL)
TOKENS = "token"  # every token


def token_key(token_id: str) -> str:
    return f"token:{token_id}"


@asynccontextmanager
async def changing(*keys: str) -> AsyncIterator[BaseDBAsyncClient]:
    """The outermost transaction of a change of what is cached under ``keys``."""
    async with row_cache.changing(OPERATORS, *keys) as conn:
        yield conn
