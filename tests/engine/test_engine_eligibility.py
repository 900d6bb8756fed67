"""Who extracts and who joins (SPEC §4 deduction switch, §6 eligibility and limits)."""

from datetime import datetime, time

import pytest

from rebate.eligibility import Verdict, line_verdict, within_limits
from rebate.settings import BaseSettings, DeductionMode, Limits, TargetSettings, TimeWindow

NOON = datetime(2026, 11, 25, 12, 0)


def verdict(base=None, target=None, *, at=NOON, deduction_fen=0) -> Verdict:
    return line_verdict(
        base or BaseSettings(),
        target or TargetSettings(),
        paid_at_local=at,
        deduction_fen=deduction_fen,
    )


def at(hh: int, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(2026, 11, 25, hh, mm, ss, us)


def test_an_ordinary_line_extracts_and_joins():
    assert verdict() == Verdict(True, True, "")


def test_master_switch_off_neither_extracts_nor_joins():
    v = verdict(BaseSettings(enabled=False))
    assert (v.extracts, v.joins, v.reason) == (False, False, "master_off")


def test_master_switch_off_wins_over_everything_else():
    target = TargetSettings(enabled=False, windows=(TimeWindow(time(1), time(2)),))
    v = verdict(
        BaseSettings(enabled=False, deduction=DeductionMode.EXCLUDE), target, deduction_fen=100
    )
    assert v == Verdict(False, False, "master_off")


def test_disabled_target_neither_extracts_nor_joins():
    v = verdict(target=TargetSettings(enabled=False))
    assert v == Verdict(False, False, "target_disabled")


# --- reward time windows -----------------------------------------------------------------------

DAYTIME = TimeWindow(time(9), time(18))
OVERNIGHT = TimeWindow(time(22), time(2))


def test_no_windows_means_any_time():
    for hh in range(24):
        assert verdict(at=at(hh)).joins


def test_outside_every_window_extracts_but_does_not_join():
    v = verdict(target=TargetSettings(windows=(DAYTIME,)), at=at(20))
    assert v == Verdict(True, False, "outside_window")


def test_window_start_is_inclusive():
    assert DAYTIME.contains(time(9))
    assert verdict(target=TargetSettings(windows=(DAYTIME,)), at=at(9)).joins


def test_window_end_is_exclusive():
    assert not DAYTIME.contains(time(18))
    assert DAYTIME.contains(time(17, 59, 59, 999_999))
    assert not verdict(target=TargetSettings(windows=(DAYTIME,)), at=at(18)).joins


def test_just_before_start_is_outside():
    assert not DAYTIME.contains(time(8, 59, 59, 999_999))


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (time(21, 59, 59), False),
        (time(22), True),  # start inclusive
        (time(23, 59, 59, 999_999), True),
        (time(0), True),  # past midnight
        (time(1, 59, 59), True),
        (time(2), False),  # end exclusive
        (time(12), False),
    ],
)
def test_window_wrapping_midnight(moment, inside):
    assert OVERNIGHT.contains(moment) is inside


def test_window_with_equal_start_and_end_covers_the_whole_day():
    whole_day = TimeWindow(time(8), time(8))
    assert all(whole_day.contains(time(hh, mm)) for hh in range(24) for mm in (0, 30))


def test_any_of_several_windows_admits():
    target = TargetSettings(windows=(DAYTIME, OVERNIGHT))
    assert verdict(target=target, at=at(10)).joins
    assert verdict(target=target, at=at(23)).joins
    assert verdict(target=target, at=at(1)).joins
    assert not verdict(target=target, at=at(20)).joins


def test_window_looks_at_local_time_of_day_only():
    target = TargetSettings(windows=(DAYTIME,))
    other_day = datetime(2031, 1, 1, 10, 30)
    assert verdict(target=target, at=other_day).joins


# --- deduction switch --------------------------------------------------------------------------


def test_deduction_order_participates_by_default():
    assert BaseSettings().deduction == DeductionMode.PARTICIPATE
    assert verdict(deduction_fen=500) == Verdict(True, True, "")


def test_deduction_order_excluded_still_extracts_but_gets_no_entry():
    v = verdict(BaseSettings(deduction=DeductionMode.EXCLUDE), deduction_fen=500)
    assert v == Verdict(True, False, "deduction_excluded")


def test_exclude_mode_does_not_touch_orders_without_deduction():
    assert verdict(BaseSettings(deduction=DeductionMode.EXCLUDE), deduction_fen=0).joins


# --- limits -------------------------------------------------------------------------------------


def test_no_limits_always_allow():
    assert within_limits(Limits(), today=10**6, total=10**9)


def test_per_day_limit_allows_up_to_n_entries_a_day():
    limits = Limits(per_day=2)
    assert within_limits(limits, today=0, total=100)
    assert within_limits(limits, today=1, total=100)
    assert not within_limits(limits, today=2, total=100)


def test_total_limit_allows_up_to_m_entries_in_all():
    limits = Limits(total=3)
    assert within_limits(limits, today=0, total=2)
    assert not within_limits(limits, today=0, total=3)


def test_both_limits_must_hold():
    limits = Limits(per_day=2, total=5)
    assert not within_limits(limits, today=2, total=0)
    assert not within_limits(limits, today=0, total=5)
    assert within_limits(limits, today=1, total=4)


def test_zero_limit_allows_nothing():
    assert not within_limits(Limits(per_day=0), today=0, total=0)
    assert not within_limits(Limits(total=0), today=0, total=0)
