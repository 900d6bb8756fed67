"""The process's one PostgreSQL LISTEN connection, shared by whoever needs notifications.

``ListenHub.for_url(db_url)`` (``None`` on SQLite: one process, nothing to hear from others)
holds one dedicated asyncpg connection — not one of tortoise's pool, whose connections are
reset (``UNLISTEN *``) on every release — and listens on every channel subscribed to:

    hub = ListenHub.for_url(url)
    await hub.start()
    await hub.subscribe("qr_settings", on_notify, missed=flush)
    ...
    await hub.stop()

``on_notify(payload)`` runs for every notification on the channel (in the event loop, without
awaiting: keep it short, or start a task). Notifications are sent by ``SELECT pg_notify(channel,
payload)`` and delivered when the sending transaction commits (never if it rolls back).

A notification sent while the connection is down is lost for good. So when the connection
drops (the server restarts, an operator terminates it, or a ping every ``ping_interval``
seconds goes unanswered), the hub reconnects with exponential backoff, listens again and then
calls each subscriber's ``missed()``: whatever the subscriber derived from notifications must be
rebuilt (a cache flushes). ``missed()`` is also called once the first connection listens, for
anything the subscriber kept before. ``listening`` says whether notifications are being heard
right now; a cache must not serve from memory while it is false.

Callbacks never raise into the hub: an exception is logged and the hub carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from runtime.db import asyncpg_credentials

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
# what asyncpg.connect takes of tortoise's credentials (the rest configures tortoise's pool)
CONNECT_KEYS = ("host", "port", "user", "password", "database", "ssl")


def connect_params(db_url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for the database tortoise opens from ``db_url``."""
    credentials = asyncpg_credentials(db_url)["credentials"]
    params = {k: credentials[k] for k in CONNECT_KEYS if credentials.get(k) is not None}
    params["server_settings"] = {"application_name": "queue-rebate-listen"}
    return params


@dataclass(frozen=True)
class Subscription:
    channel: str
    on_notify: Callable[[str], None]
    missed: Callable[[], None] | None


class ListenHub:
    def __init__(
        self,
        connect: Connect,
        *,
        backoff: tuple[float, float] = (0.05, 5.0),
        ping_interval: float = 30.0,
        ping_timeout: float = 5.0,
    ) -> None:
        self._connect = connect
        self._backoff = backoff
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._subscriptions: list[Subscription] = []
        self._conn: asyncpg.Connection | None = None
        self._heard: set[str] = set()  # channels LISTENed to on self._conn
        self._lock = asyncio.Lock()  # LISTEN on a channel once, whoever gets there first
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self.reconnects = 0  # connections made after the first (tests and logs read it)

    @classmethod
    def for_url(cls, db_url: str, **options: Any) -> ListenHub | None:
        """A hub for the database tortoise opens from ``db_url``; None on SQLite."""
        if db_url.startswith("sqlite://"):
            return None
        params = connect_params(db_url)
        return cls(lambda: asyncpg.connect(**params), **options)

    @property
    def listening(self) -> bool:
        """Whether every subscribed channel is being heard right now."""
        return self._up.is_set()

    @property
    def server_pid(self) -> int | None:
        """The backend process of the connection, while there is one."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    async def start(self) -> None:
        """Connect in the background; returns at once (``wait_listening`` waits)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="listen-hub")

    async def wait_listening(self, timeout: float) -> None:
        await asyncio.wait_for(self._up.wait(), timeout)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._up.clear()

    async def subscribe(
        self,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        missed: Callable[[], None] | None = None,
    ) -> Subscription:
        sub = Subscription(channel, on_notify, missed)
        async with self._lock:
            self._subscriptions.append(sub)
            conn = self._conn
            if conn is not None and not conn.is_closed():
                await self._listen(conn, {channel})
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop calling ``sub`` (the channel stays listened to until the hub stops)."""
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(sub)

    async def _run(self) -> None:
        delay = self._backoff[0]
        first = True
        while True:
            try:
                conn = await self._open()
            except Exception as exc:  # down, refused, timed out, dropped while listening
                log.warning("listen: cannot listen (retry in %.2f s): %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            if not first:
                self.reconnects += 1
            first = False
            try:
                await self._serve(conn)
            finally:
                self._up.clear()
                self._conn = None
                await _close(conn)

    async def _open(self) -> asyncpg.Connection:
        """A connection listening on every subscribed channel."""
        conn = await self._connect()
        try:
            async with self._lock:
                self._conn, self._heard = conn, set()
                await self._listen(conn, {s.channel for s in self._subscriptions})
        except BaseException:
            self._conn = None
            conn.terminate()
            raise
        return conn

    async def _listen(self, conn: asyncpg.Connection, channels: set[str]) -> None:
        for channel in sorted(channels - self._heard):
            await conn.add_listener(channel, self._dispatch)
            self._heard.add(channel)

    async def _serve(self, conn: asyncpg.Connection) -> None:
        """Tell the subscribers what they may have missed, then hear until the connection
        drops (asyncpg's termination listener) or stops answering pings."""
        lost = asyncio.Event()

        def dropped(_conn: Any) -> None:
            self._up.clear()  # at once: no subscriber may trust its memory from now on
            lost.set()

        conn.add_termination_listener(dropped)
        self._up.set()
        self._call_missed()
        log.info("listen: listening (backend %s)", conn.get_server_pid())
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._ping_interval)
                break
            try:
                await conn.fetchval("SELECT 1", timeout=self._ping_timeout)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("listen: ping failed: %r", exc)
                break
        log.warning("listen: connection lost; reconnecting")

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for sub in list(self._subscriptions):
            if sub.channel == channel:
                _safely(sub.on_notify, payload)

    def _call_missed(self) -> None:
        for sub in list(self._subscriptions):
            if sub.missed is not None:
                _safely(sub.missed)


async def _close(conn: asyncpg.Connection) -> None:
    """Say goodbye to the server if it still listens, else just drop the socket."""
    if not conn.is_closed():
        try:
            await conn.close(timeout=1)
        except Exception:
            conn.terminate()


def _safely(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("listen: a subscriber's callback failed")
