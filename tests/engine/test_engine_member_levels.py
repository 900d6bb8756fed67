"""会员等级 over plain values: the ladder's checks, and which level completed orders reach."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rebate.errors import InvalidSetting
from rebate.member_levels import (
    LevelRule,
    Match,
    Measured,
    check_ladder,
    level_reached,
    next_level,
    upgrade,
    windows,
)

SILVER = LevelRule(1, "银卡", spend_fen=100_00, days=30)
GOLD = LevelRule(2, "金卡", spend_fen=500_00, orders=5, days=30)
VIP = LevelRule(9, "特邀", None)  # assigned by hand only


def test_a_ladder_of_rising_conditions_and_a_manual_level_is_accepted():
    check_ladder([SILVER, GOLD, VIP])
    assert windows([SILVER, GOLD, VIP]) == [30]
    assert windows([LevelRule(1, "a", orders=1), SILVER]) == [30, None]


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        ([LevelRule(0, "零", spend_fen=1)], "rank"),
        ([LevelRule(100, "百", spend_fen=1)], "rank"),
        ([LevelRule(1, " ", spend_fen=1)], "name"),
        ([LevelRule(1, "一" * 17, spend_fen=1)], "name"),
        ([LevelRule(1, "a", spend_fen=0)], "spend_fen"),
        ([LevelRule(1, "a", spend_fen=-5)], "spend_fen"),
        ([LevelRule(1, "a", spend_fen=True)], "spend_fen"),  # type: ignore[arg-type]
        ([LevelRule(1, "a", orders=0)], "orders"),
        ([LevelRule(1, "a", spend_fen=1, days=0)], "days"),
        ([LevelRule(1, "a", days=30)], "days"),  # a window without a condition
        ([LevelRule(1, "a", spend_fen=1, match="some")], "match"),  # type: ignore[arg-type]
        ([SILVER, LevelRule(1, "又一个", orders=3)], "rank"),
        ([SILVER, LevelRule(2, "银卡", orders=3)], "name"),
    ],
)
def test_bad_levels_are_refused_naming_the_field(levels, field):
    with pytest.raises(InvalidSetting) as refused:
        check_ladder(levels)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("low", "high", "field"),
    [
        (LevelRule(1, "a", spend_fen=500), LevelRule(2, "b", spend_fen=100), "spend_fen"),
        (LevelRule(1, "a", spend_fen=500), LevelRule(2, "b", spend_fen=500), "spend_fen"),
        (LevelRule(1, "a", orders=5), LevelRule(2, "b", orders=3), "orders"),
        # the same amount over a longer window is easier
        (LevelRule(1, "a", spend_fen=500, days=30), LevelRule(2, "b", spend_fen=500, days=90), "spend_fen"),
        (LevelRule(1, "a", spend_fen=500, days=30), LevelRule(2, "b", spend_fen=500), "spend_fen"),
        # both conditions below needed; the higher needs only one of them
        (LevelRule(1, "a", spend_fen=500, orders=5), LevelRule(2, "b", orders=5), "orders"),
        (
            LevelRule(1, "a", spend_fen=500, orders=5),
            LevelRule(2, "b", spend_fen=900, orders=5, match=Match.ANY),
            "spend_fen",
        ),
    ],
)  # fmt: skip
def test_a_higher_level_no_harder_to_reach_is_out_of_order(low, high, field):
    with pytest.raises(InvalidSetting) as refused:
        check_ladder([high, low])
    assert refused.value.field == field
    assert f"等级 {high.rank}" in refused.value.message


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (LevelRule(1, "a", spend_fen=500), LevelRule(2, "b", spend_fen=501)),
        (LevelRule(1, "a", spend_fen=500, days=90), LevelRule(2, "b", spend_fen=500, days=30)),
        (LevelRule(1, "a", orders=5), LevelRule(2, "b", spend_fen=100)),  # not comparable
        (LevelRule(1, "a", spend_fen=500), LevelRule(2, "b", spend_fen=500, orders=1)),
        (
            LevelRule(1, "a", spend_fen=500, orders=5, match=Match.ANY),
            LevelRule(2, "b", spend_fen=500, orders=6, match=Match.ANY),
        ),
        (LevelRule(1, "a", spend_fen=500), LevelRule(2, "b")),  # manual: no conditions
    ],
)
def test_harder_or_incomparable_higher_levels_are_in_order(low, high):
    check_ladder([low, high])


def test_the_highest_level_met_is_reached_and_all_or_any_decide_two_conditions():
    ladder = [SILVER, GOLD, VIP]
    assert level_reached(ladder, {}) == 0
    assert level_reached(ladder, {30: Measured(100_00, 1)}) == 1
    assert level_reached(ladder, {30: Measured(900_00, 4)}) == 1  # gold needs both
    assert level_reached(ladder, {30: Measured(500_00, 5)}) == 2
    either = LevelRule(2, "金卡", spend_fen=500_00, orders=5, days=30, match=Match.ANY)
    assert level_reached([SILVER, either], {30: Measured(100_00, 5)}) == 2
    assert level_reached([VIP], {30: Measured(10**9, 10**6)}) == 0  # only by hand


def test_levels_never_fall_by_themselves():
    ladder = [SILVER, GOLD]
    assert upgrade(ladder, 0, {30: Measured(100_00, 1)}) == 1
    assert upgrade(ladder, 2, {30: Measured(0, 0)}) == 2
    assert upgrade(ladder, 9, {30: Measured(500_00, 5)}) == 9  # an operator's level above


def test_the_next_level_is_the_lowest_automatic_one_above():
    ladder = [SILVER, GOLD, VIP]
    assert next_level(ladder, 0) == SILVER
    assert next_level(ladder, 1) == GOLD
    assert next_level(ladder, 2) is None  # 9 is assigned only


CONDITIONS = st.tuples(
    st.one_of(st.none(), st.integers(1, 1000)),
    st.one_of(st.none(), st.integers(1, 20)),
    st.sampled_from([7, 30, None]),
    st.sampled_from(list(Match)),
).filter(lambda c: c[0] is not None or c[1] is not None)
NESTED = st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))


@given(CONDITIONS, CONDITIONS, NESTED, NESTED)
def test_a_level_refused_as_out_of_order_is_reached_by_whoever_reaches_the_lower(
    low_c, high_c, spends, counts
):
    """Soundness of the order check: when a higher level is refused as no harder than a lower
    one, every member who meets the lower one's conditions meets the higher one's too —
    whatever they spent and ordered (spend and orders only grow with the window)."""
    low, high = LevelRule(1, "低", *low_c), LevelRule(2, "高", *high_c)
    try:
        check_ladder([low, high])
    except InvalidSetting:
        s7, s30, s_all = sorted(spends)
        n7, n30, n_all = sorted(counts)
        measured = {7: Measured(s7, n7), 30: Measured(s30, n30), None: Measured(s_all, n_all)}
        assert not low.reached_by(measured) or high.reached_by(measured)
