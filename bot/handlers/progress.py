"""进度: my waiting entries, their queue, place and how much of the entitlement arrived."""

from __future__ import annotations

from bot.messages import place, queue_label, yuan
from bot.router import Router, Turn
from bot.standing import waiting_entries

router = Router("progress")


@router.command("进度", "排队", "队列")
async def progress(turn: Turn) -> str:
    assert turn.member is not None
    entries, total = await waiting_entries(turn.member.id)
    name = turn.settings.names.plugin
    if not entries:
        return f"您目前没有排队中的{name}权益。"
    lines = [f"您有{total}个排队中的{name}权益："]
    for e in entries:
        lines.append(
            f"{queue_label(e.queue_key)} {place(e.ahead)}，"
            f"已返{yuan(e.paid_fen)}/{yuan(e.entitlement_fen)}元"
        )
    if total > len(entries):
        lines.append(f"……其余{total - len(entries)}个请在小程序中查看。")
    return "\n".join(lines)
