"""工会排队 (SPEC §11): profit, contributions, quotas, the daily close, acceleration, refunds
and projected waits — the seed's example, edge cases, and Hypothesis against plain models."""

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rebate.errors import InvalidAmount, InvalidRatio, InvalidSetting
from rebate.settings import OrderSource
from rebate.union_pool import (
    AccelerationLimits,
    Waiting,
    acceleration,
    closes_until_paid,
    contribution,
    daily_close,
    line_profit,
    quota,
    take_back,
)
from rebate.union_pool_settings import PoolSettings

FAST = settings(max_examples=300, deadline=None)
YUAN = 100


def waiting(*owed: int) -> list[Waiting]:
    return [Waiting(i + 1, o) for i, o in enumerate(owed)]


def test_the_seed_example_300000_in_the_pool_pays_272_quotas_of_1100_and_carries_800():
    assert quota(1_000 * YUAN) == 1_100 * YUAN  # 1,000 spent → a quota of 1,100
    close = daily_close(300_000 * YUAN, waiting(*[1_100 * YUAN] * 400))
    assert len(close.full) == 272 and close.full == tuple(range(1, 273))
    assert close.paid_fen == 272 * 1_100 * YUAN
    assert close.carried_fen == 800 * YUAN


def test_strict_close_stops_at_the_first_quota_that_does_not_fit_and_never_skips_it():
    close = daily_close(1_000, waiting(600, 500, 100))
    assert close.payouts == ((1, 600),) and close.carried_fen == 400  # 3 would fit: not its turn


def test_head_in_part_pays_what_is_left_to_the_next_entry_which_keeps_its_place():
    close = daily_close(1_000, waiting(600, 500, 100), head_in_part=True)
    assert close.payouts == ((1, 600), (2, 400))
    assert close.full == (1,) and close.carried_fen == 0


def test_the_daily_cap_bounds_a_close_and_the_rest_carries_over():
    close = daily_close(10_000, waiting(3_000, 3_000, 3_000), cap_fen=7_000)
    assert close.full == (1, 2) and close.paid_fen == 6_000 and close.carried_fen == 4_000


def test_the_close_reads_waiting_entries_only_as_far_as_the_money_goes():
    read = []

    def lazily():
        for i in range(1, 1_000_000):
            read.append(i)
            yield Waiting(i, 100)

    assert daily_close(250, lazily()).full == (1, 2)
    assert len(read) == 3


def test_profit_is_the_margin_or_spread_never_negative_and_the_pool_takes_its_share_after_rewards():
    assert line_profit(10_000, 7_000) == 3_000  # price − cost (or − supply price)
    assert line_profit(10_000, 12_000) == 0  # a negative margin contributes nothing
    assert contribution(3_000, 500) == 1_500  # (3000 − 500) × 60%
    assert contribution(3_000, 5_000) == 0  # rewards above the profit: nothing, never negative
    assert contribution(333, 0, 6_000) == 199  # floored: the fraction stays with the platform


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: line_profit(-1, 0), InvalidAmount),
        (lambda: contribution(100, -1), InvalidAmount),
        (lambda: contribution(100, 0, 10_001), InvalidRatio),
        (lambda: quota(100, -1), InvalidRatio),
        (lambda: daily_close(-1, []), InvalidAmount),
    ],
)
def test_bad_amounts_and_ratios_are_refused(call, error):
    with pytest.raises(error):
        call()


def test_acceleration_is_off_by_default_and_bounded_by_what_is_owed_and_the_caps():
    off = AccelerationLimits()
    assert acceleration(1_000, 5_000, off, used_today_fen=0, used_total_fen=0) == 0
    on = AccelerationLimits(accel_bp=5_000, per_day_fen=300, total_fen=1_000)
    assert acceleration(1_000, 5_000, on, used_today_fen=0, used_total_fen=0) == 300  # day cap
    assert acceleration(1_000, 200, on, used_today_fen=0, used_total_fen=0) == 200  # owed
    assert acceleration(1_000, 5_000, on, used_today_fen=250, used_total_fen=0) == 50
    assert acceleration(1_000, 5_000, on, used_today_fen=0, used_total_fen=950) == 50  # total cap
    assert acceleration(1_000, 5_000, on, used_today_fen=300, used_total_fen=0) == 0
    unbounded = AccelerationLimits(accel_bp=20_000)  # even a share over 100%: never more than
    assert acceleration(1_000, 5_000, unbounded, used_today_fen=0, used_total_fen=0) == 1_000


def test_a_refund_takes_its_contribution_back_from_the_balance_as_far_as_it_is_there():
    assert take_back(500, 2_000) == (500, 0)
    assert take_back(500, 120) == (120, 380)  # the rest is the platform's cost


def test_projected_closes_without_and_with_a_cap():
    assert closes_until_paid([100, 100, 100], 150, 100) == [1, 2, 3]
    assert closes_until_paid([100, 100], 0, 0) == [None, None]
    assert closes_until_paid([100, 100], 250, 0) == [1, 1]
    assert closes_until_paid([100, 100, 100], 1_000, 0, cap_fen=100) == [1, 2, 3]
    assert closes_until_paid([100], 1_000, 10, cap_fen=0) == [None]


# --- Hypothesis: the close against its definition, projections against a day-by-day model ---

owed_lists = st.lists(st.integers(1, 5_000), max_size=30)


@FAST
@given(
    balance=st.integers(0, 50_000),
    owed=owed_lists,
    cap=st.none() | st.integers(0, 20_000),
    head_in_part=st.booleans(),
)
def test_a_close_pays_a_prefix_in_order_and_conserves_the_balance(balance, owed, cap, head_in_part):
    entries = waiting(*owed)
    close = daily_close(balance, entries, cap_fen=cap, head_in_part=head_in_part)
    budget = balance if cap is None else min(balance, cap)
    assert close.paid_fen + close.carried_fen == balance
    assert close.paid_fen == sum(f for _, f in close.payouts) <= budget
    ids = [i for i, _ in close.payouts]
    assert ids == list(range(1, len(ids) + 1))  # a prefix of the queue, in order
    assert close.full == tuple(i for i, f in close.payouts if f == owed[i - 1])
    if len(ids) < len(owed):  # stopped: the next did not fit what was left
        nxt = owed[len(close.full)]
        assert nxt > budget - sum(owed[: len(close.full)])
        if head_in_part:
            assert close.paid_fen == budget


@FAST
@given(
    balance=st.integers(0, 20_000),
    inflow=st.integers(0, 5_000),
    owed=owed_lists,
    cap=st.none() | st.integers(1, 8_000),
)
def test_projected_closes_agree_with_a_day_by_day_model(balance, inflow, owed, cap):
    """Uncapped: exactly the close at which the closes would pay each entry. Capped: never later
    than that (the estimate is the earliest close)."""
    projected = closes_until_paid(owed, balance, inflow, cap_fen=cap)
    actual: list[int | None] = [None] * len(owed)
    pool, queue, day = balance, waiting(*owed), 0
    while queue and day < 200:
        day += 1
        if day > 1:
            pool += inflow
        close = daily_close(pool, queue, cap_fen=cap)
        for i in close.full:
            actual[i - 1] = day
        pool, queue = close.carried_fen, queue[len(close.full) :]
    for p, a in zip(projected, actual, strict=True):
        if a is None:  # not paid within 200 closes
            assert p is None or p > 200 or cap is not None
        elif cap is None:
            assert p == a
        else:
            assert p is not None and p <= a


# --- Hypothesis: a whole pool over many days, against plain bookkeeping -----------------------


@dataclass
class Entry:
    member: int
    quota: int
    paid: int = 0
    pooled: int = 0  # the part of its order's contribution that reached the balance
    refunded: bool = False

    @property
    def owed(self) -> int:
        return self.quota - self.paid


@dataclass
class Books:
    contributions: int = 0
    payouts: int = 0
    accelerated: int = 0
    taken_back: int = 0
    platform_cost: int = 0
    entries: list[Entry] = field(default_factory=list)


class PoolMachine(RuleBasedStateMachine):
    """Orders (some by a member's direct referral, accelerating the referrer), refunds and
    daily closes, in any order: Σ contributions = Σ payouts + Σ acceleration + balance + Σ taken
    back, and no entry is ever paid more than its quota."""

    LIMITS = AccelerationLimits(accel_bp=3_000, per_day_fen=2_000, total_fen=5_000)

    def __init__(self) -> None:
        super().__init__()
        self.books = Books()
        self.balance = 0
        self.used_today: dict[int, int] = {}
        self.used_total: dict[int, int] = {}

    def waiting(self) -> list[tuple[int, Entry]]:
        return [(i, e) for i, e in enumerate(self.books.entries) if e.owed > 0 and not e.refunded]

    @rule(
        member=st.integers(1, 5),
        paid=st.integers(1, 20_000),
        cost=st.integers(0, 25_000),
        deducted=st.integers(0, 2_000),
        referrer=st.none() | st.integers(1, 5),
    )
    def order(self, member, paid, cost, deducted, referrer):
        gave = contribution(line_profit(paid, cost), deducted)
        self.books.contributions += gave
        pooled = gave
        oldest = next((e for _, e in self.waiting() if e.member == referrer), None)
        if referrer is not None and referrer != member and oldest is not None:
            sped = acceleration(
                gave, oldest.owed, self.LIMITS,
                used_today_fen=self.used_today.get(referrer, 0),
                used_total_fen=self.used_total.get(referrer, 0),
            )  # fmt: skip
            oldest.paid += sped
            self.books.accelerated += sped
            self.used_today[referrer] = self.used_today.get(referrer, 0) + sped
            self.used_total[referrer] = self.used_total.get(referrer, 0) + sped
            pooled -= sped
        self.balance += pooled
        self.books.entries.append(Entry(member, quota(paid), pooled=pooled))

    @precondition(lambda self: bool(self.waiting()))
    @rule(pick=st.integers(0, 1_000))
    def refund(self, pick):
        _, entry = self.waiting()[pick % len(self.waiting())]
        taken, cost = take_back(entry.pooled, self.balance)
        self.balance -= taken
        self.books.taken_back += taken
        self.books.platform_cost += cost
        entry.refunded = True  # it leaves the queue; what it was paid stays paid

    @rule(cap=st.none() | st.integers(0, 30_000), head_in_part=st.booleans())
    def close(self, cap, head_in_part):
        queue = self.waiting()
        close = daily_close(
            self.balance, [Waiting(i, e.owed) for i, e in queue], cap_fen=cap,
            head_in_part=head_in_part,
        )  # fmt: skip
        for i, fen in close.payouts:
            self.books.entries[i].paid += fen
        self.books.payouts += close.paid_fen
        self.balance = close.carried_fen
        self.used_today.clear()

    @invariant()
    def conserved(self):
        b = self.books
        assert b.contributions == b.payouts + b.accelerated + self.balance + b.taken_back
        assert self.balance >= 0

    @invariant()
    def nobody_is_paid_more_than_the_quota(self):
        assert all(0 <= e.paid <= e.quota for e in self.books.entries)

    @invariant()
    def acceleration_stays_within_its_caps(self):
        assert all(v <= self.LIMITS.total_fen for v in self.used_total.values())
        assert all(v <= self.LIMITS.per_day_fen for v in self.used_today.values())


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


# --- 控盘: the settings ---------------------------------------------------------------------


def test_default_settings_are_valid_and_take_no_order_source():
    settings_ = PoolSettings().check()
    assert settings_.sources == () and not settings_.takes(OrderSource.MALL)
    assert (settings_.pool_bp, settings_.quota_bp, settings_.accel_bp) == (6_000, 11_000, 0)
    assert PoolSettings(sources=(OrderSource.STORE,)).check().takes(OrderSource.STORE)


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"sources": (OrderSource.MALL, OrderSource.MALL)}, "sources"),
        ({"sources": ("mall",)}, "sources"),
        ({"pool_bp": 10_001}, "pool_bp"),
        ({"pool_bp": True}, "pool_bp"),
        ({"quota_bp": -1}, "quota_bp"),
        ({"daily_cap_fen": -5}, "daily_cap_fen"),
        ({"head_in_part": 1}, "head_in_part"),
        ({"close_at": "24:00"}, "close_at"),
        ({"close_at": "0:00"}, "close_at"),
        ({"accel_bp": 20_000}, "accel_bp"),
        ({"accel_total_fen": 1.5}, "accel_total_fen"),
        ({"ceiling_days": 0}, "ceiling_days"),
        ({"notify_wait_days": 0}, "notify_wait_days"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(changes, field_name):
    with pytest.raises(InvalidSetting) as refused:
        PoolSettings(**changes).check()
    assert refused.value.field == field_name
