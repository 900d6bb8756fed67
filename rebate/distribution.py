"""Distribution rewards, team levels and dividends (SPEC §8), over plain values.

For one settled order whose *base* is the cash paid on its lines not refunded:

- 直推: the buyer's referrer gets ``floor(base × direct_bp / 10000)``; 间推: the referrer's
  referrer gets ``floor(base × indirect_bp / 10000)``.
- 级差: walking up from the buyer's referrer, at most ``team_depth`` ancestors, each ancestor is
  paid only the part of its team rate above the highest rate already paid on this order.
- 招商: for store and cashier orders, the member who invited the store's merchant gets
  ``floor(base × merchant_referral_bp / 10000)``.
- Every fraction of a fen stays with the platform (SPEC §2); a reward of 0 fen is not paid.

A refund lowers the base of the rewards still frozen; 股东分红 splits a share of a period's
turnover among the shareholders. The services read and write the rows; the rules are here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rebate.distribution_settings import DistributionSettings
from rebate.money import apply_bp, split_largest_remainder


class CommissionKind(StrEnum):
    """What a reward (a ``Commission`` row) was paid for."""

    DIRECT = "direct"  # 直推
    INDIRECT = "indirect"  # 间推
    TEAM = "team"  # 级差
    MERCHANT = "merchant"  # 招商


@dataclass(frozen=True)
class Reward:
    """One reward of one order. ``rate_bp`` is the ratio it is paid at (for 级差: the
    difference above the highest rate already paid on the order)."""

    member_id: int
    kind: CommissionKind
    depth: int  # 1: the buyer's referrer, 2: theirs …; 0 for 招商
    rate_bp: int
    amount_fen: int

    def key(self, order_id: int) -> str:
        """One reward of each kind per order, except 级差: one per paid ancestor."""
        if self.kind == CommissionKind.TEAM:
            return f"reward:team:{order_id}:{self.member_id}"
        return f"reward:{self.kind.value}:{order_id}"


@dataclass(frozen=True)
class TeamStep:
    """An ancestor the 级差 walk pays: at ``depth`` above the buyer, ``rate_bp`` its difference."""

    depth: int
    member_id: int
    rate_bp: int


def referral_chain(ancestors: Sequence[tuple[int, int]], buyer_id: int) -> list[tuple[int, int]]:
    """The ancestors who may be paid: never the buyer (a cycle in bad data never pays self)."""
    return [a for a in ancestors if a[0] != buyer_id]


def team_walk(chain: Sequence[tuple[int, int]], depth: int) -> list[TeamStep]:
    """级差 (SPEC §8). ``chain`` is ``(member id, team rate bp)`` from the buyer's referrer
    upwards. Within ``depth`` ancestors, an ancestor is paid only the part of its rate above
    the highest rate already paid on this order; an ancestor at or below it gets nothing and
    the walk goes on. The differences add up to the highest rate within the depth."""
    steps: list[TeamStep] = []
    highest = 0
    for at, (member_id, rate) in enumerate(chain[:depth], start=1):
        if rate > highest:
            steps.append(TeamStep(at, member_id, rate - highest))
            highest = rate
    return steps


def plan_rewards(
    base_fen: int,
    ancestors: Sequence[tuple[int, int]],
    settings: DistributionSettings,
    *,
    buyer_id: int,
    merchant_inviter: int | None = None,
) -> list[Reward]:
    """The rewards of one order (SPEC §8): 直推 to the first ancestor, 间推 to the second,
    级差 up the walk, 招商 to the merchant's inviter; each floored, none of 0 fen.
    ``ancestors`` is ``(member id, team rate bp)`` from the buyer's referrer upwards, with
    the levels as they stood before this order. Nothing when distribution is off."""
    if not settings.enabled or base_fen <= 0:
        return []
    chain = referral_chain(ancestors, buyer_id)
    planned = [
        Reward(member_id, kind, depth, rate_bp, apply_bp(base_fen, rate_bp))
        for member_id, kind, depth, rate_bp in _earners(chain, settings, merchant_inviter)
    ]
    return [r for r in planned if r.amount_fen > 0]


def _earners(
    chain: list[tuple[int, int]], settings: DistributionSettings, merchant_inviter: int | None
) -> list[tuple[int, CommissionKind, int, int]]:
    """(member, kind, depth, rate bp) of everyone the order may reward, in payment order."""
    out: list[tuple[int, CommissionKind, int, int]] = []
    if chain:
        out.append((chain[0][0], CommissionKind.DIRECT, 1, settings.direct_bp))
    if len(chain) > 1:
        out.append((chain[1][0], CommissionKind.INDIRECT, 2, settings.indirect_bp))
    for step in team_walk(chain, settings.team_depth):
        out.append((step.member_id, CommissionKind.TEAM, step.depth, step.rate_bp))
    if merchant_inviter is not None:
        out.append((merchant_inviter, CommissionKind.MERCHANT, 0, settings.merchant_referral_bp))
    return out


def commission_after_refund(base_before: int, base_after: int, rate_bp: int) -> int | None:
    """A frozen reward after one of its order's lines is refunded: its rate applied to what
    is left of the order (0: reversed). ``None`` when the refunded line was not part of its
    base (refunded before settlement): it stays as it is. A refund never raises a reward."""
    if base_after >= base_before:
        return None
    return apply_bp(base_after, rate_bp)


def level_reached(settings: DistributionSettings, *, turnover_fen: int, directs: int) -> int:
    """团队等级 (SPEC §8): the highest level whose configured thresholds (team turnover,
    direct referrals) are all met; 0 when none is. A level without a threshold is only ever
    assigned by an operator."""
    reached = 0
    for lv in settings.levels:
        if not lv.automatic:
            continue
        if lv.min_team_turnover_fen is not None and turnover_fen < lv.min_team_turnover_fen:
            continue
        if lv.min_direct_referrals is not None and directs < lv.min_direct_referrals:
            continue
        reached = max(reached, lv.level)
    return reached


def dividend_pool(turnover_fen: int, settings: DistributionSettings) -> int:
    """股东分红 pool: ``floor(turnover × dividend_pool_bp / 10000)`` of the period's completed
    turnover (the fraction of a fen stays with the platform); nothing when distribution is off."""
    return apply_bp(turnover_fen, settings.dividend_pool_bp) if settings.enabled else 0


def split_pool(pool_fen: int, shareholders: int) -> list[int]:
    """Equal shares that add up to exactly the pool (largest remainder): no two differ by more
    than a fen, and the first shareholders (lowest member ids) get the odd fen."""
    if shareholders <= 0:
        return []
    return split_largest_remainder(pool_fen, [1] * shareholders)
