"""帮助: what a member can ask. Also the answer to any text the bot does not understand."""

from __future__ import annotations

from bot.router import Router, Turn

router = Router("help")


def help_text(turn: Turn) -> str:
    names = turn.settings.names
    return "\n".join(
        [
            "您可以回复：",
            f"进度 — 查看{names.plugin}排队进度",
            "余额 — 查看钱包余额",
            "推广码 — 获取我的推广码",
            "抽奖 — 为可抽奖的排队权益抽奖",
            "帮助 — 显示本说明",
        ]
    )


@router.command("帮助", "help", "菜单", "?", "？", member=False)
async def show_help(turn: Turn) -> str:
    return help_text(turn)
