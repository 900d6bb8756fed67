"""Deduction (抵扣, SPEC §10): paying part of an order's price with points and / or available
love value, and giving it back.

Pure arithmetic over plain values: how much an order may deduct, the split of the price into
the deducted part and cash (line by line), and how much of each balance a refunded line gives
back. Everything is integers: points and love value are whole units, money whole fen.

- A rate is how many units pay one fen (``points_per_fen``; 0 = that balance cannot pay). A
  request names whole units; units that would pay a fraction of a fen are refused, never rounded.
- A line may deduct at most ``floor(price × max_bp / 10000)`` (the fraction stays cash: the
  platform's side), and the order must keep at least ``min_cash_fen`` in cash.
- The deduction is split over the lines in proportion to their caps (largest remainder), so no
  line deducts more than its cap and the parts always add up.
- A refunded line gives back its pro-rata share of each balance, rounding to the member: the
  refunds so far give back ``ceil(units × deducted refunded / deducted in all)``, so every line's
  refund is at least its exact share and the refunds of all lines give back exactly the units.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from rebate.errors import InvalidAmount, NotAllowed
from rebate.money import apply_bp, split_largest_remainder


@dataclass(frozen=True)
class Rates:
    """How many points / love value pay one fen (0: that balance cannot be used)."""

    points_per_fen: int = 0
    love_per_fen: int = 0


@dataclass(frozen=True)
class Request:
    """What the member asks to use, and the fen they were shown it is worth (None: not said)."""

    points: int = 0
    love: int = 0
    deduction_fen: int | None = None

    @property
    def empty(self) -> bool:
        return not self.points and not self.love and not self.deduction_fen


@dataclass(frozen=True)
class Plan:
    """A deduction that fits: the units used, what they are worth, and each line's share."""

    points: int
    love: int
    points_fen: int
    love_fen: int
    lines: tuple[int, ...]  # the deduction of each line, in the order's line order

    @property
    def deduction_fen(self) -> int:
        return self.points_fen + self.love_fen


NONE = Plan(0, 0, 0, 0, ())


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def line_caps(prices: Sequence[int], max_bps: Sequence[int]) -> list[int]:
    """What each line may deduct at most: its price × its maximum share, floored."""
    return [apply_bp(p, bp) for p, bp in zip(prices, max_bps, strict=True)]


def max_deduction(prices: Sequence[int], max_bps: Sequence[int], min_cash_fen: int) -> int:
    """The most an order of these lines may deduct: the lines' caps, keeping the minimum cash."""
    return max(0, min(sum(line_caps(prices, max_bps)), sum(prices) - min_cash_fen))


def _worth(units: object, per_fen: int, field: str, name: str) -> int:
    """The fen ``units`` of a balance pay at ``per_fen`` units a fen."""
    if not _whole(units) or units < 0:  # type: ignore[operator]
        raise InvalidAmount(f"{name}必须是非负整数", field=field)
    assert isinstance(units, int)
    if units == 0:
        return 0
    if per_fen <= 0:
        raise NotAllowed(f"{name}抵扣未开启", field=field)
    if units % per_fen:
        raise InvalidAmount(f"{name}必须是 {per_fen} 的整数倍（{per_fen} 抵 1 分）", field=field)
    return units // per_fen


def plan_deduction(
    prices: Sequence[int],
    max_bps: Sequence[int],
    request: Request,
    *,
    rates: Rates,
    min_cash_fen: int,
) -> Plan:
    """The deduction ``request`` asks for on lines of ``prices`` (each with its maximum share
    ``max_bps``), or the refusal naming the field: units not whole, not a multiple of the rate
    or of a balance switched off; a ``deduction_fen`` that is not what the units are worth;
    more than the limits allow."""
    points_fen = _worth(request.points, rates.points_per_fen, "deduction_points", "积分")
    love_fen = _worth(request.love, rates.love_per_fen, "deduction_love", "爱心值")
    total = points_fen + love_fen
    said = request.deduction_fen
    if said is not None and (not _whole(said) or said < 0):
        raise InvalidAmount("抵扣金额必须是非负整数（单位：分）", field="deduction_fen")
    if said is not None and said != total:
        raise InvalidAmount(
            f"抵扣金额 {said} 分与所用积分、爱心值的价值 {total} 分不符", field="deduction_fen"
        )
    if total == 0:
        return Plan(0, 0, 0, 0, tuple(0 for _ in prices))
    most = max_deduction(prices, max_bps, min_cash_fen)
    if total > most:
        raise NotAllowed(f"抵扣金额 {total} 分超过本单可抵扣上限 {most} 分", field="deduction_fen")
    lines = split_largest_remainder(total, line_caps(prices, max_bps))
    return Plan(request.points, request.love, points_fen, love_fen, tuple(lines))


def refund_units(units: int, deducted_fen: int, before_fen: int, line_fen: int) -> int:
    """The units (points or love value) a refunded line gives back: of the ``units`` an order
    deducting ``deducted_fen`` used, when lines deducting ``before_fen`` were refunded before
    and this one deducted ``line_fen``. Rounds to the member; all lines give back ``units``."""
    if units <= 0 or deducted_fen <= 0 or line_fen <= 0:
        return 0
    assert 0 <= before_fen and before_fen + line_fen <= deducted_fen

    def given(fen: int) -> int:
        return -(-units * fen // deducted_fen)  # ceil

    return given(before_fen + line_fen) - given(before_fen)
