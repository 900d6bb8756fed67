"""Money rules (SPEC §2): integer fen, integer basis points, rounding to the platform."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebate.errors import InvalidAmount, InvalidRatio
from rebate.money import (
    BP_ONE,
    MAX_RATIO_BP,
    apply_bp,
    check_bp,
    check_fen,
    split_largest_remainder,
)

FAST = settings(max_examples=200, deadline=None)


def test_seed_example_entitlement_and_extraction():
    assert apply_bp(16_800, 13_000) == 21_840
    assert apply_bp(16_800, 6_500) == 10_920


def test_one_hundred_percent_is_ten_thousand_bp():
    assert BP_ONE == 10_000
    assert apply_bp(12_345, BP_ONE) == 12_345


@pytest.mark.parametrize(
    ("amount", "ratio", "expected"),
    [
        (1, 9_999, 0),  # 0.9999 fen → 0
        (3, 3_333, 0),  # 0.9999 fen → 0
        (3, 3_334, 1),  # 1.0002 fen → 1
        (199, 5_000, 99),  # 99.5 fen → 99
        (101, 13_000, 131),  # 131.3 fen → 131
        (16_801, 6_500, 10_920),  # 10920.65 fen → 10920
        (0, 13_000, 0),
        (12_345, 0, 0),
    ],
)
def test_rounding_goes_to_platform(amount, ratio, expected):
    assert apply_bp(amount, ratio) == expected


@FAST
@given(st.integers(0, 10**12), st.integers(0, MAX_RATIO_BP))
def test_apply_bp_is_the_floor_of_the_exact_product(amount, ratio):
    result = apply_bp(amount, ratio)
    assert isinstance(result, int)
    assert result * BP_ONE <= amount * ratio < (result + 1) * BP_ONE


@FAST
@given(st.integers(0, 10**12), st.integers(0, BP_ONE))
def test_extraction_never_exceeds_paid_amount(amount, ratio):
    assert 0 <= apply_bp(amount, ratio) <= amount


# --- check_fen ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1, 16_800, 10**15])
def test_positive_whole_fen_accepted(amount):
    assert check_fen(amount) == amount


def test_zero_fen_rejected_unless_allowed():
    with pytest.raises(InvalidAmount):
        check_fen(0)
    assert check_fen(0, allow_zero=True) == 0


@pytest.mark.parametrize("allow_zero", [False, True])
def test_negative_fen_rejected(allow_zero):
    with pytest.raises(InvalidAmount):
        check_fen(-1, allow_zero=allow_zero)


@pytest.mark.parametrize("amount", [True, False, 1.0, 168.0, "16800", None, 1.5])
def test_non_integer_fen_rejected(amount):
    with pytest.raises(InvalidAmount):
        check_fen(amount, allow_zero=True)


def test_bad_amount_error_names_its_field():
    with pytest.raises(InvalidAmount) as caught:
        check_fen(-5, field="paid_fen")
    assert caught.value.field == "paid_fen"
    assert caught.value.code == "invalid_amount"


# --- check_bp ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0, 1, 6_500, 13_000, MAX_RATIO_BP])
def test_whole_bp_within_bounds_accepted(ratio):
    assert check_bp(ratio) == ratio


@pytest.mark.parametrize("ratio", [-1, MAX_RATIO_BP + 1])
def test_ratio_out_of_bounds_rejected(ratio):
    with pytest.raises(InvalidRatio):
        check_bp(ratio)


def test_ratio_above_custom_maximum_rejected():
    assert check_bp(10_000, maximum=10_000) == 10_000
    with pytest.raises(InvalidRatio):
        check_bp(10_001, maximum=10_000)


@pytest.mark.parametrize("ratio", [True, False, 65.0, "6500", None, 0.5])
def test_non_integer_ratio_rejected(ratio):
    with pytest.raises(InvalidRatio) as caught:
        check_bp(ratio, field="extract_bp")
    assert caught.value.field == "extract_bp"


# --- split_largest_remainder --------------------------------------------------------------------


def test_split_gives_leftover_fen_to_largest_remainders():
    assert split_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert split_largest_remainder(10, [1, 2]) == [3, 7]  # 3.33 / 6.67 → 3 + 7


def test_split_ties_go_to_the_earlier_part():
    assert split_largest_remainder(2, [1, 1, 1]) == [1, 1, 0]


def test_split_ignores_zero_weight_parts():
    assert split_largest_remainder(7, [0, 3, 0, 4]) == [0, 3, 0, 4]


def test_split_of_zero_over_zero_weights_is_all_zero():
    assert split_largest_remainder(0, [0, 0]) == [0, 0]
    assert split_largest_remainder(0, []) == []


def test_split_refuses_to_lose_a_nonzero_pool_over_zero_weights():
    with pytest.raises(InvalidAmount):
        split_largest_remainder(5, [0, 0])
    with pytest.raises(InvalidAmount):
        split_largest_remainder(5, [])


@pytest.mark.parametrize(("total", "weights"), [(-1, [1]), (5, [1, -1])])
def test_split_refuses_negative_values(total, weights):
    with pytest.raises(InvalidAmount):
        split_largest_remainder(total, weights)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10**9),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
)
def test_largest_remainder_sums_exactly_and_each_part_is_within_one_fen(total, weights):
    parts = split_largest_remainder(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact_floor = total * weight // weight_sum
        assert exact_floor <= part <= exact_floor + 1
        if weight == 0:
            assert part == 0
