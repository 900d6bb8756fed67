"""Rows that rarely change (settings, a product's rules), kept in the process and invalidated
across processes.

A value is cached under a key ``<kind>`` or ``<kind>:<id>`` (``base``, ``product:7``) and read
with ``await cache.get(key, load)``: from memory, else ``load()`` (one read of the database)
and kept; ``get_many(keys, load)`` loads all the missing ones with one call. What changes such rows runs in ``async with changing(cache, *keys) as conn:`` — the
outermost transaction — which

- sends ``SELECT pg_notify(<channel>, '<key>,<key>…')`` inside the transaction, so every process
  hears of the change when, and only if, it commits (``runtime.listen``);
- drops the keys here once it has committed or rolled back (until then this process reads what
  the others read; SQLite readers share the writer's connection, and what they kept of its
  uncommitted rows is dropped then).

A bare kind as a key (``product``) stands for all of that kind's keys.

**No stale value is kept.** A load that began before an invalidation of its kind and finishes
after it is not stored (each kind has a generation, checked before storing); and a value is
served only while
invalidations can be heard: on SQLite always (the embedded default runs one process, which
invalidates locally), on PostgreSQL only while a ``ListenHub`` the cache follows is listening
— with none (a command, a test without the server) every read goes to the database. When the
hub reconnects it calls ``flush()``: what was said while it was deaf is lost.

**One database at a time.** The cache belongs to the ORM context that filled it: when tortoise
is initialised again (another database, a new test), the first read flushes it.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.context import get_current_context
from tortoise.transactions import in_transaction

from runtime.listen import ListenHub, Subscription
from runtime.sql import execute, is_pg

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more


def kind_of(key: str) -> str:
    return key.split(":", 1)[0]


class RowCache:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._values: dict[str, Any] = {}
        self._generation: Counter[str] = Counter()  # per kind: invalidations so far
        self._epoch = 0  # flushes so far
        self._writing: Counter[str] = Counter()  # per kind: changes open (writers assert it)
        self._scope: weakref.ref[Any] | None = None
        self._hubs: dict[ListenHub, Subscription] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """The value under ``key``: from memory, else ``load()`` — kept, unless it may be stale
        or is None (a row that does not exist yet)."""

        async def one(_missing: list[str]) -> dict[str, T]:
            return {key: await load()}

        return (await self.get_many([key], one))[key]

    async def get_many(
        self, keys: Iterable[str], load: Callable[[list[str]], Awaitable[Mapping[str, T]]]
    ) -> dict[str, T]:
        """The values under ``keys``: those in memory, the others by one ``load(missing)``
        (which leaves out what does not exist); kept as ``get`` keeps them."""
        keys = list(dict.fromkeys(keys))
        if not self._serving():
            return dict(await load(keys))
        found: dict[str, T] = {k: self._values[k] for k in keys if k in self._values}
        missing = [k for k in keys if k not in found]
        if missing:
            stamps = {k: (self._epoch, self._generation[kind_of(k)]) for k in missing}
            loaded = await load(missing)
            for k, value in loaded.items():
                fresh = stamps.get(k) == (self._epoch, self._generation[kind_of(k)])
                if fresh and value is not None:  # a missing row is not remembered: it may come
                    self._values[k] = value
            found.update(loaded)
        return found

    def invalidate(self, keys: Iterable[str]) -> None:
        """Forget ``keys`` (a bare kind: all of its keys); loads under way are not stored."""
        for key in keys:
            kind = kind_of(key)
            self._generation[kind] += 1
            if key == kind:
                for k in [k for k in self._values if kind_of(k) == kind]:
                    del self._values[k]
            else:
                self._values.pop(key, None)

    def flush(self) -> None:
        """Forget everything; loads under way are not stored."""
        self._epoch += 1
        self._values.clear()

    def on_notify(self, payload: str) -> None:
        """A change committed somewhere (``changing`` sent its keys)."""
        self.invalidate(k for k in payload.split(",") if k)

    async def follow(self, hub: ListenHub) -> None:
        """Hear other processes' changes through ``hub``; serve from memory only while it
        listens (PostgreSQL)."""
        self._hubs[hub] = await hub.subscribe(self.channel, self.on_notify, missed=self.flush)

    def unfollow(self, hub: ListenHub) -> None:
        sub = self._hubs.pop(hub, None)
        if sub is not None:
            hub.unsubscribe(sub)
        self.flush()

    def begin_change(self, keys: Iterable[str]) -> None:
        self._writing.update({kind_of(k) for k in keys})

    def end_change(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._writing.subtract({kind_of(k) for k in keys})
        self.invalidate(keys)

    def changing_now(self, key: str) -> bool:
        """Whether a change of ``key``'s kind is open in this process (writers assert it)."""
        return self._writing[kind_of(key)] > 0

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def _serving(self) -> bool:
        context = get_current_context()
        if context is None:
            return False
        apps = context.apps
        if self._scope is None or self._scope() is not apps:
            self.flush()  # another database (or the same one initialised again)
            self._scope = weakref.ref(apps) if apps is not None else None
        if self._hubs:
            return all(hub.listening for hub in self._hubs)
        return bool(connections.get("default").capabilities.dialect == "sqlite")


@asynccontextmanager
async def changing(cache: RowCache, *keys: str) -> AsyncIterator[BaseDBAsyncClient]:
    """A transaction that changes the rows cached under ``keys`` (see the module doc). It must
    be the outermost transaction: a change invalidated before the outer one commits could be
    read back stale (or, on SQLite, uncommitted)."""
    if isinstance(connections.get("default"), TransactionalDBClient):
        raise RuntimeError("changing() must be the outermost transaction")
    cache.begin_change(keys)
    try:
        async with in_transaction() as conn:
            if keys and is_pg(conn):
                await execute(conn, "SELECT pg_notify($1, $2)", [cache.channel, _payload(keys)])
            yield conn
    finally:
        cache.end_change(keys)


def _payload(keys: Iterable[str]) -> str:
    payload = ",".join(sorted(set(keys)))
    if len(payload.encode()) > MAX_PAYLOAD:  # too many to name: their whole kinds
        payload = ",".join(sorted({kind_of(k) for k in keys}))
    return payload
