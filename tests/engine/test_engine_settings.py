"""Settings refuse values the rules cannot work with (SPEC §2, §5, §6)."""

from datetime import time

import pytest

from rebate.errors import InvalidRatio, InvalidSetting, RebateError
from rebate.settings import (
    BaseSettings,
    DeductionMode,
    Limits,
    Lottery,
    LotteryMode,
    PayoutOrder,
    RandomReturn,
    RatioSettings,
    SettleOn,
    TargetSettings,
    Tier,
    TimeWindow,
)


def test_defaults_match_the_spec():
    base = BaseSettings()
    assert base.enabled
    assert base.settle_on == SettleOn.COMPLETED
    assert base.payout_order == PayoutOrder.QUEUE_ORDER
    assert base.deduction == DeductionMode.PARTICIPATE
    assert not base.paused
    assert base.random_return is None


def test_enum_values_are_the_stored_strings():
    assert [s.value for s in SettleOn] == ["paid", "completed"]
    assert [p.value for p in PayoutOrder] == ["queue_order", "completed_first"]
    assert [d.value for d in DeductionMode] == ["participate", "exclude"]
    assert [m.value for m in LotteryMode] == ["fixed", "range"]


def test_settings_are_immutable():
    base = BaseSettings()
    with pytest.raises(AttributeError):
        base.enabled = False  # type: ignore[misc]


# --- Tier ---------------------------------------------------------------------------------------


def test_valid_tier():
    assert Tier(days=30, min_amount_fen=0, ratio_bp=15_000).ratio_bp == 15_000


@pytest.mark.parametrize("days", [0, -1, 1.5, True, "30"])
def test_tier_days_must_be_a_positive_whole_number(days):
    with pytest.raises(InvalidSetting):
        Tier(days=days, min_amount_fen=100, ratio_bp=12_000)


@pytest.mark.parametrize("amount", [-1, 1.5, True, "100"])
def test_tier_amount_must_be_whole_non_negative_fen(amount):
    with pytest.raises(InvalidSetting):
        Tier(days=30, min_amount_fen=amount, ratio_bp=12_000)


@pytest.mark.parametrize("ratio", [-1, 12_000.0, True])
def test_tier_ratio_must_be_whole_bp(ratio):
    with pytest.raises(InvalidRatio):
        Tier(days=30, min_amount_fen=100, ratio_bp=ratio)


# --- Lottery ------------------------------------------------------------------------------------


def test_fixed_lottery_needs_at_least_one_ratio():
    with pytest.raises(InvalidSetting):
        Lottery(LotteryMode.FIXED, ratios_bp=())


def test_fixed_lottery_ratios_must_be_valid_bp():
    with pytest.raises(InvalidRatio):
        Lottery(LotteryMode.FIXED, ratios_bp=(1_000, -5))


def test_range_lottery_bounds_must_be_ordered():
    with pytest.raises(InvalidSetting):
        Lottery(LotteryMode.RANGE, low_bp=5_000, high_bp=1_000)


@pytest.mark.parametrize(("low", "high"), [(1_050, 2_000), (1_000, 2_001)])
def test_range_lottery_bounds_must_be_whole_percents(low, high):
    with pytest.raises(InvalidSetting):
        Lottery(LotteryMode.RANGE, low_bp=low, high_bp=high)


def test_range_lottery_with_equal_bounds_is_allowed():
    assert Lottery(LotteryMode.RANGE, low_bp=2_000, high_bp=2_000).low_bp == 2_000


# --- RatioSettings ------------------------------------------------------------------------------


def test_level_ratios_must_be_valid_bp():
    with pytest.raises(InvalidRatio) as caught:
        RatioSettings(level_bp={2: -1})
    assert caught.value.field == "level_bp.2"


def test_default_ratio_must_be_valid_bp_when_given():
    with pytest.raises(InvalidRatio):
        RatioSettings(default_bp=True)  # type: ignore[arg-type]
    assert RatioSettings().default_bp is None


# --- Limits and RandomReturn --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["per_day", "total"])
@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_limits_must_be_whole_non_negative_numbers(field, value):
    with pytest.raises(InvalidSetting):
        Limits(**{field: value})


def test_limits_default_to_unlimited():
    assert Limits() == Limits(per_day=None, total=None)


def test_random_return_group_size_is_cash_plus_points_places():
    assert RandomReturn(cash_places=3, points_places=2).group_size == 5


@pytest.mark.parametrize(("cash", "points"), [(0, 0), (-1, 2), (2, -1)])
def test_random_return_needs_a_positive_group_and_no_negative_places(cash, points):
    with pytest.raises(InvalidSetting):
        RandomReturn(cash_places=cash, points_places=points)


@pytest.mark.parametrize(("cash", "points"), [(1.5, 1), (2, 0.5), (True, 1), (2, "1")])
def test_random_return_places_must_be_whole_numbers(cash, points):
    with pytest.raises(InvalidSetting):
        RandomReturn(cash_places=cash, points_places=points)


def test_random_return_may_be_all_cash_or_all_points():
    assert RandomReturn(cash_places=4, points_places=0).group_size == 4
    assert RandomReturn(cash_places=0, points_places=4).group_size == 4


# --- Target and base ----------------------------------------------------------------------------


def test_target_extraction_ratio_cannot_exceed_one_hundred_percent():
    assert TargetSettings(extract_bp=10_000).extract_bp == 10_000
    with pytest.raises(InvalidRatio):
        TargetSettings(extract_bp=10_001)


def test_base_extraction_ratio_cannot_exceed_one_hundred_percent():
    with pytest.raises(InvalidRatio):
        BaseSettings(extract_bp=10_001)


@pytest.mark.parametrize("field", ["exchange_points_bp", "exchange_love_bp"])
def test_base_exchange_ratios_must_be_valid_bp(field):
    with pytest.raises(InvalidRatio):
        BaseSettings(**{field: -1})


def test_every_settings_error_is_a_rebate_error():
    with pytest.raises(RebateError):
        BaseSettings(ratios=RatioSettings())


def test_time_window_is_a_value():
    assert TimeWindow(time(9), time(18)) == TimeWindow(time(9), time(18))
