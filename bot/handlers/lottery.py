"""抽奖: draw on my oldest eligible entry (SPEC §5), through the same service as the API."""

from __future__ import annotations

from bot.messages import percent, yuan
from bot.router import Router, Turn
from bot.standing import lottery_entry
from rebate.errors import RebateError
from services.queues.lottery import draw_lottery

router = Router("lottery")


@router.command("抽奖")
async def draw(turn: Turn) -> str:
    assert turn.member is not None
    entry = await lottery_entry(turn.member.id)
    if entry is None:
        return "您目前没有可以抽奖的排队权益（抽奖须在收到返现之前进行）。"
    try:
        result = await draw_lottery(turn.member.id, entry.id, rng=turn.rng, now=turn.now)
    except RebateError as refused:  # not theirs, already drawn, already paid into …
        return f"抽奖未成功：{refused.message}"
    text = (
        f"抽奖结果：奖励比例{percent(result.ratio_bp)}"
        f"（原{percent(result.old_ratio_bp)}），待返权益{yuan(result.entitlement_fen)}元。"
    )
    if result.status != "waiting":
        text += "该权益已完成。"
    return text
