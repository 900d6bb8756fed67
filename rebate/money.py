"""Money arithmetic: integer fen and integer basis points only (SPEC §2).

Rounding rule: every product of an amount and a ratio is floored, so any fraction of a
fen stays with the platform and never goes to a member.
"""

from collections.abc import Sequence

from rebate.errors import InvalidAmount, InvalidRatio

BP_ONE = 10_000  # 100% in basis points
MAX_RATIO_BP = 1_000_000  # 10000%: a sanity bound for any configured ratio


def check_fen(amount: int, *, field: str = "amount", allow_zero: bool = False) -> int:
    """An amount must be a whole, non-negative number of fen (positive unless allowed zero)."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount(f"{field} 必须是整数（单位：分）", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(f"{field} 必须大于 0（单位：分）", field=field)
    return amount


def check_bp(ratio_bp: int, *, field: str = "ratio_bp", maximum: int = MAX_RATIO_BP) -> int:
    """A ratio must be a whole number of basis points in [0, maximum]."""
    if not isinstance(ratio_bp, int) or isinstance(ratio_bp, bool):
        raise InvalidRatio(f"{field} 必须是整数（单位：万分之一）", field=field)
    if not 0 <= ratio_bp <= maximum:
        raise InvalidRatio(f"{field} 超出范围 0–{maximum}", field=field)
    return ratio_bp


def apply_bp(amount_fen: int, ratio_bp: int) -> int:
    """``floor(amount × ratio / 10000)``: the platform keeps the fraction (SPEC §2)."""
    return amount_fen * ratio_bp // BP_ONE


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``, exactly: the parts always sum to ``total``.

    Each part gets the floor of its share; the fen left over go one each to the parts with the
    largest remainders (ties to the earlier part). All weights zero → all parts zero except when
    total is zero too; that case is refused because the pool would be lost.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise InvalidAmount("split needs non-negative amounts")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total == 0:
            return [0 for _ in weights]
        raise InvalidAmount("cannot split a non-zero amount over zero weights")
    parts = [total * w // weight_sum for w in weights]
    remainders = [(total * w % weight_sum, -i) for i, w in enumerate(weights)]
    left = total - sum(parts)
    for _, neg_i in sorted(remainders, reverse=True)[:left]:
        parts[-neg_i] += 1
    assert sum(parts) == total
    return parts
