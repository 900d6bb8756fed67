"""A small bot framework for the official account's messages, in the shape of aiogram's:
feature ``Router``s register handlers for text commands and events; a ``Dispatcher`` runs the
middlewares once per message, then the matching handler, else the fallback.

A handler takes the ``Turn`` (the message, who sent it, and what the middlewares resolved)
and returns the reply text, or ``None`` for no reply. Handlers are thin: they call a service
function and format its answer. A handler registered with ``member=True`` (the default for
commands) only runs for a follower linked to a member; others get the bind hint instead.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.messages import bind_hint
from models import Member, OfficialAccountFollower
from runtime.bot_settings import BotSettings


@dataclass
class Turn:
    """One inbound message and everything resolved about it."""

    message: Any  # a wechatpy message or event
    openid: str  # the sender's official-account openid
    now: datetime
    settings: BotSettings
    rng: random.Random | None = None
    services: dict[str, Any] = field(default_factory=dict)  # e.g. "look_up" (user/info)
    follower: OfficialAccountFollower | None = None
    member: Member | None = None

    @property
    def text(self) -> str:
        return normalise(str(getattr(self.message, "content", "") or ""))


Handler = Callable[[Turn], Awaitable[str | None]]
Middleware = Callable[[Turn, Handler], Awaitable[str | None]]


def normalise(text: str) -> str:
    """Commands are matched on the trimmed text, without a leading ``/``, case-folded."""
    return text.strip().lstrip("/／").strip().casefold()


@dataclass(frozen=True)
class _Route:
    handler: Handler
    member: bool


class Router:
    """The handlers of one feature."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: dict[str, _Route] = {}
        self.events: dict[str, _Route] = {}

    def command(self, *words: str, member: bool = True) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for word in words:
                self.commands[normalise(word)] = _Route(handler, member)
            return handler

        return register

    def event(self, *kinds: str, member: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for kind in kinds:
                self.events[kind.lower()] = _Route(handler, member)
            return handler

        return register


class Dispatcher:
    def __init__(
        self,
        routers: Sequence[Router],
        *,
        middlewares: Sequence[Middleware] = (),
        fallback: Handler,
    ) -> None:
        self._commands: dict[str, _Route] = {}
        self._events: dict[str, _Route] = {}
        for router in routers:
            for table, mine in ((self._commands, router.commands), (self._events, router.events)):
                clash = table.keys() & mine.keys()
                if clash:
                    raise ValueError(f"router {router.name}: already registered: {sorted(clash)}")
                table.update(mine)
        self._middlewares = list(middlewares)
        self._fallback = _Route(fallback, member=False)

    def route_for(self, turn: Turn) -> _Route | None:
        msg_type = str(getattr(turn.message, "type", ""))
        if msg_type == "event":
            return self._events.get(str(getattr(turn.message, "event", "")).lower())
        if msg_type == "text":
            return self._commands.get(turn.text, self._fallback)
        return self._fallback

    async def dispatch(self, turn: Turn) -> str | None:
        route = self.route_for(turn)
        if route is None:  # an event nobody handles: acknowledge silently
            return None

        async def call(t: Turn) -> str | None:
            if route.member and t.member is None:
                return bind_hint(t.settings.names)
            return await route.handler(t)

        handler: Handler = call
        for middleware in reversed(self._middlewares):
            handler = _bind(middleware, handler)
        return await handler(turn)


def _bind(middleware: Middleware, inner: Handler) -> Handler:
    async def run(turn: Turn) -> str | None:
        return await middleware(turn, inner)

    return run
