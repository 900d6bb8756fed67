"""Distribution rules (SPEC §8): 直推 / 间推, the 级差 walk, 招商, refunds of frozen rewards,
team levels, the dividend split, a store's net of commission and the commission guardrail."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebate.distribution import (
    CommissionKind,
    Reward,
    TeamStep,
    commission_after_refund,
    dividend_pool,
    level_reached,
    plan_rewards,
    referral_chain,
    split_pool,
    team_walk,
)
from rebate.distribution_settings import DistributionSettings, TeamLevel
from rebate.errors import InvalidSetting
from rebate.money import BP_ONE, apply_bp
from rebate.store_commission import Clawback, clawback, guardrail, net_of_commission

FAST = settings(max_examples=200, deadline=None)
LEVELS = (
    TeamLevel(1, "经理", 300, min_direct_referrals=2),
    TeamLevel(2, "总监", 500, min_team_turnover_fen=100_000),
    TeamLevel(3, "股东", 800),
)
BUYER = 99


def rules(**changes: object) -> DistributionSettings:
    return DistributionSettings(levels=LEVELS, **changes)  # type: ignore[arg-type]


def of_kind(rewards: list[Reward], kind: CommissionKind) -> list[Reward]:
    return [r for r in rewards if r.kind == kind]


# --- 直推 / 间推 / 招商 ------------------------------------------------------------------------------


def test_direct_reward_goes_to_the_referrer_and_indirect_to_theirs():
    rewards = plan_rewards(
        10_000, [(1, 0), (2, 0), (3, 0)], rules(direct_bp=500, indirect_bp=200), buyer_id=BUYER
    )
    assert rewards == [
        Reward(1, CommissionKind.DIRECT, 1, 500, 500),
        Reward(2, CommissionKind.INDIRECT, 2, 200, 200),
    ]


def test_merchant_referral_reward_goes_to_the_merchants_inviter_at_depth_zero():
    rewards = plan_rewards(
        10_000, [], rules(merchant_referral_bp=150), buyer_id=BUYER, merchant_inviter=7
    )
    assert rewards == [Reward(7, CommissionKind.MERCHANT, 0, 150, 150)]


def test_rewards_are_floored_and_a_reward_of_zero_fen_is_not_paid():
    rewards = plan_rewards(
        199, [(1, 0), (2, 0)], rules(direct_bp=5_000, indirect_bp=50), buyer_id=BUYER
    )
    assert rewards == [Reward(1, CommissionKind.DIRECT, 1, 5_000, 99)]  # 99.5 → 99; 0.995 → 0


def test_nothing_is_paid_when_distribution_is_off_or_nothing_is_left_of_the_order():
    ancestors = [(1, 800), (2, 0)]
    assert (
        plan_rewards(10_000, ancestors, rules(enabled=False, direct_bp=500), buyer_id=BUYER) == []
    )
    assert plan_rewards(0, ancestors, rules(direct_bp=500), buyer_id=BUYER) == []


def test_the_buyer_is_never_paid_even_when_bad_data_makes_a_cycle():
    rewards = plan_rewards(
        10_000,
        [(1, 300), (BUYER, 800), (2, 500)],
        rules(direct_bp=100, indirect_bp=100, team_depth=3),
        buyer_id=BUYER,
    )
    assert BUYER not in {r.member_id for r in rewards}
    assert [(r.member_id, r.kind, r.depth) for r in rewards] == [
        (1, CommissionKind.DIRECT, 1),
        (2, CommissionKind.INDIRECT, 2),
        (1, CommissionKind.TEAM, 1),
        (2, CommissionKind.TEAM, 2),
    ]


def test_reward_keys_are_one_per_kind_per_order_and_one_team_reward_per_ancestor():
    assert Reward(1, CommissionKind.DIRECT, 1, 500, 5).key(42) == "reward:direct:42"
    assert Reward(7, CommissionKind.MERCHANT, 0, 150, 1).key(42) == "reward:merchant:42"
    assert Reward(3, CommissionKind.TEAM, 2, 200, 2).key(42) == "reward:team:42:3"


# --- 级差 -----------------------------------------------------------------------------------------


def test_team_reward_pays_only_the_difference_above_the_highest_rate():
    rewards = plan_rewards(10_000, [(1, 300), (2, 800)], rules(), buyer_id=BUYER)
    assert rewards == [
        Reward(1, CommissionKind.TEAM, 1, 300, 300),
        Reward(2, CommissionKind.TEAM, 2, 500, 500),  # 8% − 3% already paid
    ]


def test_team_walk_passes_an_ancestor_at_or_below_the_highest_rate_and_goes_on():
    chain = [(1, 500), (2, 300), (3, 500), (4, 800)]
    assert team_walk(chain, 3) == [TeamStep(1, 1, 500)]  # 2 below, 3 equal: nothing
    assert team_walk(chain, 4) == [TeamStep(1, 1, 500), TeamStep(4, 4, 300)]


def test_team_walk_never_goes_deeper_than_the_depth_limit():
    chain = [(1, 0), (2, 0), (3, 800)]
    assert team_walk(chain, 2) == []
    assert team_walk(chain, 3) == [TeamStep(3, 3, 800)]
    assert plan_rewards(10_000, chain, rules(team_depth=2), buyer_id=BUYER) == []


def test_levels_without_a_rate_pay_no_team_reward():
    assert team_walk([(1, 0), (2, 0)], 2) == []


# --- refunds of frozen rewards --------------------------------------------------------------


def test_a_refund_recomputes_a_frozen_reward_on_what_is_left_of_the_order():
    assert commission_after_refund(10_000, 6_001, 500) == 300  # 300.05 → 300
    assert commission_after_refund(10_000, 0, 500) == 0  # nothing left: reversed


def test_a_refunded_line_outside_the_base_leaves_the_reward_as_it_is():
    assert commission_after_refund(6_000, 6_000, 500) is None


# --- team levels -------------------------------------------------------------------------------


def test_a_level_is_reached_when_every_configured_threshold_is_met():
    both = DistributionSettings(
        levels=(TeamLevel(1, "经理", 300, min_team_turnover_fen=50_000, min_direct_referrals=2),)
    )
    assert level_reached(both, turnover_fen=50_000, directs=2) == 1
    assert level_reached(both, turnover_fen=49_999, directs=9) == 0
    assert level_reached(both, turnover_fen=10**9, directs=1) == 0


def test_the_highest_level_reached_wins_and_an_operator_level_is_never_reached_by_itself():
    assert level_reached(rules(), turnover_fen=100_000, directs=2) == 2
    assert level_reached(rules(), turnover_fen=100_000, directs=0) == 2
    assert level_reached(rules(), turnover_fen=0, directs=2) == 1
    assert level_reached(rules(), turnover_fen=10**12, directs=10**6) == 2  # 股东: operator only
    assert level_reached(rules(), turnover_fen=0, directs=0) == 0


# --- 股东分红 -------------------------------------------------------------------------------------


def test_the_dividend_pool_is_floored_and_nothing_when_distribution_is_off():
    assert dividend_pool(66_701, rules(dividend_pool_bp=100)) == 667
    assert dividend_pool(66_701, rules(enabled=False, dividend_pool_bp=100)) == 0


def test_the_odd_fen_of_a_dividend_go_to_the_first_shareholders():
    assert split_pool(10_000, 7) == [1429, 1429, 1429, 1429, 1428, 1428, 1428]
    assert split_pool(333, 0) == []


# --- a store's commission ------------------------------------------------------------------


def test_the_store_is_owed_what_was_paid_less_the_floored_commission():
    assert net_of_commission(16_801, 1_000) == (1_680, 15_121)  # 1680.1 → 1680


def test_a_late_refund_takes_back_the_difference_of_the_stores_nets():
    # 10001 → 4000 at 10%: nets 9001 → 3600; commissions 1000 → 400
    assert clawback(10_001, 4_000, 1_000) == Clawback(-6_001, -600, -5_401)
    assert clawback(4_000, 4_000, 1_000) is None


def test_the_guardrail_sums_extraction_rewards_top_team_rate_and_dividend_pool():
    numbers = guardrail(
        5,
        3_000,
        [1_000, 2_500, 1_500],
        rules(direct_bp=100, indirect_bp=50, merchant_referral_bp=20, dividend_pool_bp=30),
    )
    assert (numbers.extract_bp, numbers.team_bp) == (2_500, 800)
    assert numbers.payout_bp == 2_500 + 100 + 50 + 800 + 20 + 30
    assert numbers.exceeded and numbers.as_doc()["payout_bp"] == 3_500


def test_the_guardrail_holds_when_the_payouts_equal_the_commission():
    numbers = guardrail(None, 1_300, [500], rules())
    assert numbers.payout_bp == 1_300 and not numbers.exceeded
    assert guardrail(None, 1_299, [500], rules()).exceeded


def test_rewards_that_could_pay_out_more_than_the_order_are_refused():
    with pytest.raises(InvalidSetting) as refused:
        rules(direct_bp=5_000, indirect_bp=4_201)  # + 8% top team rate > 100%
    assert refused.value.field == "direct_bp"
    assert rules(direct_bp=5_000, indirect_bp=4_200).max_team_bp == 800


# --- properties ------------------------------------------------------------------------------


@st.composite
def distribution(draw: st.DrawFn) -> DistributionSettings:
    rates = draw(st.lists(st.integers(1, 3_000), unique=True, max_size=4).map(sorted))
    levels = tuple(TeamLevel(i + 1, f"L{i + 1}", r) for i, r in enumerate(rates))
    return DistributionSettings(
        direct_bp=draw(st.integers(0, 2_000)),
        indirect_bp=draw(st.integers(0, 2_000)),
        levels=levels,
        team_depth=draw(st.integers(1, 3)),
        merchant_referral_bp=draw(st.integers(0, 2_000)),
    )


@st.composite
def orders(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], DistributionSettings, int]:
    """(base, ancestors, settings, buyer): member ids collide with the buyer now and then."""
    config = draw(distribution())
    rates = [0, *(lv.rate_bp for lv in config.levels)]
    ancestors = draw(st.lists(st.tuples(st.integers(1, 6), st.sampled_from(rates)), max_size=4))
    return draw(st.integers(0, 10**9)), ancestors, config, draw(st.integers(1, 6))


@FAST
@given(orders())
def test_the_buyer_is_never_paid_and_no_reward_is_zero(order):
    base, ancestors, config, buyer = order
    rewards = plan_rewards(base, ancestors, config, buyer_id=buyer, merchant_inviter=None)
    assert all(r.member_id != buyer and r.amount_fen > 0 for r in rewards)
    assert all(r.amount_fen == apply_bp(base, r.rate_bp) for r in rewards)


@FAST
@given(orders())
def test_direct_and_indirect_go_to_the_first_and_second_ancestors_only(order):
    base, ancestors, config, buyer = order
    chain = referral_chain(ancestors, buyer)
    rewards = plan_rewards(base, ancestors, config, buyer_id=buyer)
    direct = of_kind(rewards, CommissionKind.DIRECT)
    indirect = of_kind(rewards, CommissionKind.INDIRECT)
    assert [(r.member_id, r.depth) for r in direct] == (
        [(chain[0][0], 1)] if chain and apply_bp(base, config.direct_bp) else []
    )
    assert [(r.member_id, r.depth) for r in indirect] == (
        [(chain[1][0], 2)] if len(chain) > 1 and apply_bp(base, config.indirect_bp) else []
    )


@FAST
@given(orders())
def test_the_team_walk_never_goes_deeper_than_its_limit(order):
    base, ancestors, config, buyer = order
    team = of_kind(plan_rewards(base, ancestors, config, buyer_id=buyer), CommissionKind.TEAM)
    assert all(1 <= r.depth <= config.team_depth for r in team)
    if len({m for m, _ in ancestors}) == len(ancestors):
        assert len({r.member_id for r in team}) == len(team)
    for step in team_walk(referral_chain(ancestors, buyer), config.team_depth):
        assert 1 <= step.depth <= config.team_depth


@FAST
@given(orders())
def test_each_paid_ancestor_has_a_higher_rate_than_every_one_paid_before(order):
    base, ancestors, config, buyer = order
    chain = referral_chain(ancestors, buyer)
    own = [rate for _, rate in chain]
    highest = 0
    for step in team_walk(chain, config.team_depth):
        rate = own[step.depth - 1]
        assert rate > highest and step.rate_bp == rate - highest
        assert rate > max(own[: step.depth - 1], default=0)
        highest = rate
    paid = [
        own[r.depth - 1]
        for r in of_kind(plan_rewards(base, ancestors, config, buyer_id=buyer), CommissionKind.TEAM)
    ]
    assert paid == sorted(set(paid))  # strictly increasing


@FAST
@given(orders())
def test_team_rewards_are_the_floored_differences_and_never_more_than_the_top_rate(order):
    base, ancestors, config, buyer = order
    chain = referral_chain(ancestors, buyer)
    steps = team_walk(chain, config.team_depth)
    top = max((rate for _, rate in chain[: config.team_depth]), default=0)
    assert sum(s.rate_bp for s in steps) == top
    team = of_kind(plan_rewards(base, ancestors, config, buyer_id=buyer), CommissionKind.TEAM)
    total = sum(r.amount_fen for r in team)
    assert total == sum(apply_bp(base, s.rate_bp) for s in steps)
    assert apply_bp(base, top) - config.team_depth <= total <= apply_bp(base, top)


@FAST
@given(pool=st.integers(0, 10**12), shareholders=st.integers(1, 500))
def test_the_dividend_split_adds_up_to_exactly_the_pool_in_equal_parts(pool, shareholders):
    parts = split_pool(pool, shareholders)
    assert sum(parts) == pool and len(parts) == shareholders
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the odd fen go to the lowest ids


@FAST
@given(turnover=st.integers(0, 10**12), bp=st.integers(0, BP_ONE))
def test_the_dividend_pool_is_the_floor_of_its_share_of_turnover(turnover, bp):
    pool = dividend_pool(turnover, DistributionSettings(dividend_pool_bp=bp))
    assert pool * BP_ONE <= turnover * bp < (pool + 1) * BP_ONE


@FAST
@given(paid=st.integers(0, 10**12), bp=st.integers(0, BP_ONE))
def test_commission_and_what_the_store_is_owed_add_up_to_what_was_paid(paid, bp):
    commission, owed = net_of_commission(paid, bp)
    assert commission + owed == paid
    assert commission == paid * bp // BP_ONE and 0 <= commission <= paid


@FAST
@given(accounted=st.integers(0, 10**9), left=st.integers(0, 10**9), bp=st.integers(0, BP_ONE))
def test_a_clawback_brings_the_store_to_its_net_on_what_is_left(accounted, left, bp):
    taken = clawback(accounted, left, bp)
    if left >= accounted:
        assert taken is None
        return
    assert taken is not None
    assert taken.paid_fen == left - accounted < 0
    assert net_of_commission(accounted, bp)[1] + taken.amount_fen == net_of_commission(left, bp)[1]
    assert net_of_commission(accounted, bp)[0] + taken.commission_fen == apply_bp(left, bp)
    assert taken.commission_fen + taken.amount_fen == taken.paid_fen
    assert taken.commission_fen <= 0 and taken.amount_fen <= 0


@FAST
@given(
    config=distribution(),
    commission=st.integers(0, BP_ONE),
    extraction=st.lists(st.integers(0, BP_ONE), min_size=1, max_size=5),
    dividend=st.integers(0, BP_ONE),
)
def test_the_guardrail_is_the_sum_of_every_payout_against_the_commission(
    config, commission, extraction, dividend
):
    config = replace(config, dividend_pool_bp=dividend)
    numbers = guardrail(1, commission, extraction, config)
    total = (
        max(extraction)
        + config.direct_bp
        + config.indirect_bp
        + max((lv.rate_bp for lv in config.levels), default=0)
        + config.merchant_referral_bp
        + dividend
    )
    assert numbers.payout_bp == total
    assert numbers.exceeded == (total > commission)


@FAST
@given(
    base=st.integers(0, 10**9),
    rate=st.integers(0, BP_ONE),
    refunds=st.lists(st.integers(0, 10**9), max_size=6),
)
def test_a_refund_never_raises_a_reward_above_its_first_amount(base, rate, refunds):
    first = apply_bp(base, rate)
    amount = first
    for left in refunds:
        after = commission_after_refund(base, left, rate)
        if after is None:
            assert left >= base
            continue
        assert after <= amount <= first
        amount, base = after, left
