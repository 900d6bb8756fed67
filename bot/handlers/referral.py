"""推广码: my referral code, and where to get the QR that carries it."""

from __future__ import annotations

from bot.router import Router, Turn

router = Router("referral")


@router.command("推广码", "邀请码", "推广")
async def referral_code(turn: Turn) -> str:
    assert turn.member is not None
    mini = turn.settings.names.miniprogram
    return (
        f"您的推广码：{turn.member.referral_code}\n"
        f"好友注册时填写推广码即可绑定。推广二维码请打开「{mini}」→ 我的 → 推广码 获取。"
    )
