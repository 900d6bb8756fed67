"""工会排队 (SPEC §11, the seed's 第六部分): the union pool's rules over plain values.

Every settled line brings profit — a self-operated product's margin (price − cost), a supplier's
or supply chain's spread (price − supply price), a store's commission — never negative. After the
order's distribution rewards and points subsidies, ``pool_bp`` of what is left is the line's
**contribution**. Its buyer gets a **quota** (分红额度) of paid × ``quota_bp`` and waits in one
queue, in consumption order. Once a day the pool's balance pays waiting quotas in that order,
each in full, until the next one does not fit; the rest carries over to the next day (or, as an
option, the head is paid in part). 动态加速: when a member's direct referral settles an order, a
share of *that order's* contribution pays down the member's oldest waiting entry at once —
bounded per day and in total, never moving anyone's place.

The platform only ever pays out profit: Σ contributions = Σ payouts + Σ acceleration + balance
(+ what refunds took back). Amounts are integer fen, ratios integer basis points, and every
product of the two is floored (``money.apply_bp``): the fraction stays with the platform.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from rebate.money import apply_bp, check_bp, check_fen

DEFAULT_POOL_BP = 6_000  # 60% of the profit left after rewards and subsidies (the seed)
DEFAULT_QUOTA_BP = 11_000  # 1,000 spent → a quota of 1,100 (110%, the seed)


def line_profit(paid_fen: int, cost_fen: int) -> int:
    """A line's profit: what it was paid less what it cost the platform — the product's cost
    price, or the supplier's supply price (for a store or cashier order, pass the store's
    commission as paid and 0 as cost). A negative margin contributes nothing."""
    check_fen(paid_fen, field="paid_fen", allow_zero=True)
    check_fen(cost_fen, field="cost_fen", allow_zero=True)
    return max(0, paid_fen - cost_fen)


def goods_cost(price_fen: int, unit_cost_fen: int | None, quantity: int) -> int:
    """What a goods line cost the platform: the unit cost (a self-operated product's cost price,
    a supplier's supply price) × quantity. An unknown cost is the price: no profit is assumed."""
    check_fen(price_fen, field="price_fen", allow_zero=True)
    if unit_cost_fen is None:
        return price_fen
    check_fen(unit_cost_fen, field="unit_cost_fen", allow_zero=True)
    return unit_cost_fen * quantity


def commission_cost(price_fen: int, paid_fen: int, commission_bp: int) -> int:
    """A store or cashier line's cost: all of its price but the store's commission on the cash
    paid (the platform's whole take of it, as the store's credit counts it)."""
    check_bp(commission_bp, field="commission_bp", maximum=10_000)
    return max(0, price_fen - apply_bp(paid_fen, commission_bp))


def contribution(profit_fen: int, deducted_fen: int, pool_bp: int = DEFAULT_POOL_BP) -> int:
    """What a line puts into the pool: ``pool_bp`` of its profit after ``deducted_fen`` — the
    order's distribution rewards (team, referral) and points subsidies charged to the line —
    never below zero."""
    check_fen(profit_fen, field="profit_fen", allow_zero=True)
    check_fen(deducted_fen, field="deducted_fen", allow_zero=True)
    check_bp(pool_bp, field="pool_bp", maximum=10_000)
    return apply_bp(max(0, profit_fen - deducted_fen), pool_bp)


def quota(paid_fen: int, quota_bp: int = DEFAULT_QUOTA_BP) -> int:
    """分红额度: what the pool will pay the buyer of a line paid ``paid_fen``."""
    check_fen(paid_fen, field="paid_fen", allow_zero=True)
    check_bp(quota_bp, field="quota_bp")
    return apply_bp(paid_fen, quota_bp)


@dataclass(frozen=True)
class Waiting:
    """A waiting pool entry, as the daily close reads it: what it is still owed."""

    entry_id: int
    owed_fen: int


@dataclass(frozen=True)
class Close:
    """One daily close: what each entry got (queue order), and what the pool carries over."""

    payouts: tuple[tuple[int, int], ...]  # (entry id, fen)
    paid_fen: int
    carried_fen: int
    full: tuple[int, ...]  # the entries paid in full: they leave the queue


def daily_close(
    balance_fen: int,
    waiting: Iterable[Waiting],
    *,
    cap_fen: int | None = None,
    head_in_part: bool = False,
) -> Close:
    """Pay ``waiting`` (in queue order) out of the pool's ``balance_fen``, at most ``cap_fen``
    (the operator's daily payout cap; None: no cap). Each entry is paid in full, in order, until
    the next one does not fit; with ``head_in_part`` that one gets what is left of the day's
    budget and keeps its place. ``waiting`` is read lazily, only as far as the money goes."""
    check_fen(balance_fen, field="balance_fen", allow_zero=True)
    budget = balance_fen if cap_fen is None else min(balance_fen, cap_fen)
    payouts: list[tuple[int, int]] = []
    full: list[int] = []
    spent = 0
    for entry in waiting:
        left = budget - spent
        if left <= 0:
            break
        if entry.owed_fen > left:
            if head_in_part:
                payouts.append((entry.entry_id, left))
                spent += left
            break
        payouts.append((entry.entry_id, entry.owed_fen))
        full.append(entry.entry_id)
        spent += entry.owed_fen
    return Close(tuple(payouts), spent, balance_fen - spent, tuple(full))


@dataclass(frozen=True)
class AccelerationLimits:
    """动态加速's settings: the share of a referral's contribution, and its caps per referrer
    (per day and in total; None: no cap). ``accel_bp`` 0 is off, the default."""

    accel_bp: int = 0
    per_day_fen: int | None = None
    total_fen: int | None = None


def acceleration(
    contribution_fen: int,
    owed_fen: int,
    limits: AccelerationLimits,
    *,
    used_today_fen: int,
    used_total_fen: int,
) -> int:
    """What a direct referral's order pays down its referrer's oldest waiting entry (owed
    ``owed_fen``): ``accel_bp`` of the order's contribution, within what the entry is owed and
    what the referrer's caps leave. Comes out of the contribution, never on top of it."""
    check_fen(contribution_fen, field="contribution_fen", allow_zero=True)
    amount = min(apply_bp(contribution_fen, limits.accel_bp), owed_fen, contribution_fen)
    if limits.per_day_fen is not None:
        amount = min(amount, limits.per_day_fen - used_today_fen)
    if limits.total_fen is not None:
        amount = min(amount, limits.total_fen - used_total_fen)
    return max(0, amount)


def take_back(pooled_fen: int, balance_fen: int) -> tuple[int, int]:
    """A refunded line's contribution that reached the pool (its acceleration share, already
    paid to a referrer, stays paid): ``(taken from the balance, recorded as platform cost)`` —
    from the balance as far as it is still there, the rest is the platform's cost."""
    taken = min(pooled_fen, balance_fen)
    return taken, pooled_fen - taken


def closes_until_paid(
    owed: Sequence[int], balance_fen: int, daily_inflow_fen: int, *, cap_fen: int | None = None
) -> list[int | None]:
    """For each waiting entry (queue order, what each is owed), the number of daily closes until
    it is paid in full — 1 is the next close — if the pool's inflow stayed ``daily_inflow_fen``
    a day: an estimate. None when the inflow is zero and the balance never reaches it.

    Without a cap this is what the closes would do: after the n-th close, the entries paid in
    full are the longest prefix owed no more than ``balance + (n − 1) × inflow``. With a cap the
    n closes pay at most ``min(balance + (n − 1) × inflow, n × cap)``, so the estimate is the
    earliest close (strict closes leave part of a day's cap unspent when a quota does not fit)."""
    out: list[int | None] = []
    for ahead in accumulate(owed):
        short = ahead - balance_fen
        if short > 0 and daily_inflow_fen <= 0:
            out.append(None)
            continue
        n = 1 if short <= 0 else 1 + -(-short // daily_inflow_fen)
        if cap_fen is not None and ahead > 0:
            if cap_fen <= 0:
                out.append(None)
                continue
            n = max(n, -(-ahead // cap_fen))
        out.append(n)
    return out
