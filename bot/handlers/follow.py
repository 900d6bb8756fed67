"""Following and unfollowing the official account: the link from its openid to a member."""

from __future__ import annotations

from bot.followers import record_follow
from bot.handlers.help import help_text
from bot.messages import bind_hint
from bot.router import Router, Turn

router = Router("follow")


@router.event("subscribe")
async def followed(turn: Turn) -> str:
    await record_follow(
        turn.openid, following=True, now=turn.now, look_up=turn.services.get("look_up")
    )
    names = turn.settings.names
    if turn.member is None:
        return f"欢迎关注！\n{bind_hint(names)}"
    return f"欢迎关注！{names.plugin}的返现、抽奖等消息会在这里通知您。\n{help_text(turn)}"


@router.event("unsubscribe")
async def unfollowed(turn: Turn) -> None:
    await record_follow(turn.openid, following=False, now=turn.now)
    return None
