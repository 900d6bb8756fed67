"""余额: my wallet balances."""

from __future__ import annotations

from bot.messages import yuan
from bot.router import Router, Turn
from ledger.balances import balances_of

router = Router("balance")


@router.command("余额", "钱包")
async def balance(turn: Turn) -> str:
    assert turn.member is not None
    b = await balances_of(turn.member.id)
    lines = [f"返现余额：{yuan(b.cash_fen)}元", f"积分：{b.points}", f"爱心值：{b.love_available}"]
    if b.love_frozen:
        lines.append(f"冻结爱心值：{b.love_frozen}")
    return "\n".join(lines)
