"""抽奖奖励权益 (SPEC §5): one draw while waiting and unpaid; the drawn ratio replaces the default."""

from rebate.errors import NotAllowed
from rebate.money import apply_bp
from rebate.random_return import RandomSource
from rebate.settings import Lottery, LotteryMode


def draw_ratio(lottery: Lottery, rng: RandomSource) -> int:
    """``fixed``: each listed ratio equally likely. ``range``: a uniform whole percent in bounds."""
    if lottery.mode == LotteryMode.FIXED:
        return rng.choice(lottery.ratios_bp)
    return rng.randint(lottery.low_bp // 100, lottery.high_bp // 100) * 100


def redraw_entitlement(
    *,
    base_fen: int,
    status: str,
    paid_fen: int,
    drawn: bool,
    lottery: Lottery | None,
    rng: RandomSource,
) -> tuple[int, int]:
    """Draw for an entry; returns (ratio_bp, new entitlement). Refuses anything but one draw on a
    waiting entry that has received nothing yet."""
    if lottery is None:
        raise NotAllowed("该排队权益没有抽奖资格")
    if drawn:
        raise NotAllowed("该排队权益已经抽过奖了")
    if status != "waiting":
        raise NotAllowed("只有排队中的权益可以抽奖")
    if paid_fen > 0:
        raise NotAllowed("已经开始返现的权益不能再抽奖")
    ratio = draw_ratio(lottery, rng)
    return ratio, apply_bp(base_fen, ratio)
