"""Deduction (抵扣, SPEC §10): limits, the split of the price, pro-rata refunds."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebate.deduction import (
    Rates,
    Request,
    line_caps,
    max_deduction,
    plan_deduction,
    refund_units,
)
from rebate.errors import InvalidAmount, NotAllowed

FAST = settings(max_examples=300, deadline=None)
ONE = Rates(points_per_fen=1, love_per_fen=1)


def test_the_seed_rate_100_points_pay_one_yuan():
    plan = plan_deduction([1000], [10_000], Request(points=500), rates=ONE, min_cash_fen=1)
    assert (plan.points_fen, plan.deduction_fen, plan.lines) == (500, 500, (500,))


def test_points_and_love_value_together_and_the_shown_amount_checked():
    rates = Rates(points_per_fen=10, love_per_fen=2)
    plan = plan_deduction(
        [600, 400], [5000, 5000], Request(points=2000, love=100, deduction_fen=250),
        rates=rates, min_cash_fen=1,
    )  # fmt: skip
    assert (plan.points_fen, plan.love_fen) == (200, 50)
    assert plan.lines == (150, 100)  # in proportion to the caps 300 : 200


@pytest.mark.parametrize(
    ("request_", "field", "error"),
    [
        (Request(points=-1), "deduction_points", InvalidAmount),
        (Request(love=-5), "deduction_love", InvalidAmount),
        (Request(points=1.5), "deduction_points", InvalidAmount),  # type: ignore[arg-type]
        (Request(points=15), "deduction_points", InvalidAmount),  # not a multiple of 10
        (Request(love=3), "deduction_love", NotAllowed),  # love value switched off
        (Request(points=100, deduction_fen=11), "deduction_fen", InvalidAmount),  # does not add up
        (Request(deduction_fen=5), "deduction_fen", InvalidAmount),  # fen without units
        (Request(points=5010), "deduction_fen", NotAllowed),  # over the 50% cap
    ],
)
def test_refusals_name_the_field(request_, field, error):
    with pytest.raises(error) as exc:
        plan_deduction([1000], [5000], request_, rates=Rates(points_per_fen=10), min_cash_fen=1)
    assert exc.value.field == field


def test_the_minimum_cash_part_is_kept():
    assert max_deduction([1000], [10_000], 300) == 700
    with pytest.raises(NotAllowed):
        plan_deduction([1000], [10_000], Request(points=701), rates=ONE, min_cash_fen=300)


def test_caps_are_floored_the_fraction_stays_cash():
    assert line_caps([999, 1], [3333, 10_000]) == [332, 1]


def test_refunds_round_to_the_member_and_add_up():
    # 10 points on 3 fen deducted over three 1-fen lines: 4 + 3 + 3, whichever comes first
    assert refund_units(10, 3, 0, 1) == 4
    assert refund_units(10, 3, 1, 1) == 3
    assert refund_units(10, 3, 2, 1) == 3
    assert refund_units(0, 3, 0, 1) == 0
    assert refund_units(10, 3, 0, 0) == 0


lines_st = st.lists(
    st.tuples(st.integers(1, 10**7), st.integers(0, 10_000)), min_size=1, max_size=6
)


@FAST
@given(
    lines_st,
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 10**6),
    st.data(),
)
def test_property_every_fen_and_unit_is_accounted_for(lines, p_rate, l_rate, min_cash, data):
    prices, bps = [p for p, _ in lines], [b for _, b in lines]
    most = max_deduction(prices, bps, min_cash)
    fen = data.draw(st.integers(0, most))
    points_fen = data.draw(st.integers(0, fen))
    request = Request(points_fen * p_rate, (fen - points_fen) * l_rate, fen)
    plan = plan_deduction(prices, bps, request, rates=Rates(p_rate, l_rate), min_cash_fen=min_cash)
    assert plan.deduction_fen == fen == sum(plan.lines)
    assert all(0 <= d <= cap for d, cap in zip(plan.lines, line_caps(prices, bps), strict=True))
    assert fen == 0 or sum(prices) - fen >= min_cash
    order = data.draw(st.permutations(range(len(prices))))
    for units in (plan.points, plan.love):
        back, before = 0, 0
        for i in order:
            back += refund_units(units, fen, before, plan.lines[i])
            before += plan.lines[i]
            assert back * fen >= units * before  # never behind the exact pro-rata share
        assert back == (units if fen else 0)
