"""Middlewares of the official-account dispatcher."""

from __future__ import annotations

from bot.followers import ensure_follower, member_of
from bot.router import Handler, Turn


async def resolve_member(turn: Turn, handler: Handler) -> str | None:
    """Once per message: the sender's follower row (learning their unionid if still unknown)
    and the member it links to (official-account openid → unionid → member), or ``None``."""
    turn.follower = await ensure_follower(
        turn.openid, now=turn.now, look_up=turn.services.get("look_up")
    )
    turn.member = await member_of(turn.follower)
    return await handler(turn)
