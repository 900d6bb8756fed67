"""抽奖奖励权益 (SPEC §5): fair draws, one per waiting, unpaid entry."""

import random
import secrets
from collections import Counter

import pytest

from rebate.errors import NotAllowed
from rebate.lottery import draw_ratio, redraw_entitlement
from rebate.settings import Lottery, LotteryMode

DRAWS = 10_000
FIXED = Lottery(LotteryMode.FIXED, ratios_bp=(1_000, 2_000, 5_000))
RANGE = Lottery(LotteryMode.RANGE, low_bp=1_000, high_bp=2_000)


def chi_square(counts: Counter[int], outcomes: list[int], draws: int) -> float:
    expected = draws / len(outcomes)
    return sum((counts[o] - expected) ** 2 / expected for o in outcomes)


def test_fixed_lottery_draws_only_listed_ratios_roughly_uniformly():
    rng = random.Random(20261125)
    counts = Counter(draw_ratio(FIXED, rng) for _ in range(DRAWS))
    assert set(counts) == {1_000, 2_000, 5_000}
    # df = 2; P(χ² > 13.8) ≈ 0.001 for a fair draw
    assert chi_square(counts, [1_000, 2_000, 5_000], DRAWS) < 13.8


def test_fixed_lottery_with_one_ratio_always_draws_it():
    lottery = Lottery(LotteryMode.FIXED, ratios_bp=(3_000,))
    rng = random.Random(1)
    assert {draw_ratio(lottery, rng) for _ in range(100)} == {3_000}


def test_range_lottery_draws_whole_percents_within_bounds_roughly_uniformly():
    rng = random.Random(20261126)
    counts = Counter(draw_ratio(RANGE, rng) for _ in range(DRAWS))
    outcomes = list(range(1_000, 2_001, 100))
    assert set(counts) == set(outcomes)  # both ends reachable, nothing else
    assert all(r % 100 == 0 for r in counts)
    # df = 10; P(χ² > 29.6) ≈ 0.001 for a fair draw
    assert chi_square(counts, outcomes, DRAWS) < 29.6


def test_range_lottery_with_equal_bounds_draws_that_ratio():
    lottery = Lottery(LotteryMode.RANGE, low_bp=2_000, high_bp=2_000)
    assert {draw_ratio(lottery, random.Random(s)) for s in range(50)} == {2_000}


@pytest.mark.parametrize("lottery", [FIXED, RANGE])
def test_a_cryptographic_source_fits_the_engine(lottery):
    rng = secrets.SystemRandom()
    for _ in range(50):
        ratio = draw_ratio(lottery, rng)
        assert ratio in FIXED.ratios_bp or 1_000 <= ratio <= 2_000


# --- one draw per entry ------------------------------------------------------------------------


def draw(**overrides):
    kwargs = dict(
        base_fen=16_800,
        status="waiting",
        paid_fen=0,
        drawn=False,
        lottery=FIXED,
        rng=random.Random(7),
    )
    kwargs.update(overrides)
    return redraw_entitlement(**kwargs)


def test_draw_replaces_the_ratio_and_recomputes_entitlement_with_floor():
    ratio, entitlement = draw(base_fen=16_801)
    assert ratio in FIXED.ratios_bp
    assert entitlement == 16_801 * ratio // 10_000


def test_draw_uses_the_given_source():
    assert draw(rng=random.Random(3)) == draw(rng=random.Random(3))


def test_entry_without_lottery_cannot_draw():
    with pytest.raises(NotAllowed):
        draw(lottery=None)


def test_entry_that_already_drew_cannot_draw_again():
    with pytest.raises(NotAllowed):
        draw(drawn=True)


@pytest.mark.parametrize("status", ["completed", "refunded", "exchanged", "cleared"])
def test_entry_that_is_not_waiting_cannot_draw(status):
    with pytest.raises(NotAllowed):
        draw(status=status)


def test_entry_already_paid_into_cannot_draw():
    with pytest.raises(NotAllowed):
        draw(paid_fen=1)


def test_refused_draw_does_not_consume_randomness():
    rng = random.Random(11)
    state = rng.getstate()
    with pytest.raises(NotAllowed):
        draw(drawn=True, rng=rng)
    assert rng.getstate() == state


def test_refusal_is_a_not_allowed_error_with_its_code():
    with pytest.raises(NotAllowed) as caught:
        draw(lottery=None)
    assert caught.value.code == "not_allowed"
