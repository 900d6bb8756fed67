"""Middlewares of the official-account dispatcher."""

from __future__ import annotations

from dataclasses import replace

from bot.followers import ensure_follower, member_of
from bot.router import Handler, Turn
from services.members.views import names_in_force


async def resolve_member(turn: Turn, handler: Handler) -> str | None:
    """Once per message: the sender's follower row (learning their unionid if still unknown)
    and the member it links to (official-account openid → unionid → member), or ``None``."""
    turn.follower = await ensure_follower(
        turn.openid, now=turn.now, look_up=turn.services.get("look_up")
    )
    turn.member = await member_of(turn.follower)
    return await handler(turn)


async def custom_names(turn: Turn, handler: Handler) -> str | None:
    """Once per message: the names in force (the operator's 自定义名称, cached like every
    setting), so every reply — the bind hint included — says what the mini-program says."""
    names = await names_in_force(turn.settings.names)
    if names != turn.settings.names:
        turn.settings = replace(turn.settings, names=names)
    return await handler(turn)
