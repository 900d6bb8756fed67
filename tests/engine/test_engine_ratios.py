"""Reward ratio priority chains (SPEC §5): the first configured step gives the ratio."""

import pytest

from rebate.errors import InvalidSetting
from rebate.ratios import CHAINS, Layer, RatioChoice, Step, ratio_for, tier_ratio
from rebate.settings import BaseSettings, Lottery, LotteryMode, OrderSource, RatioSettings, Tier

L, S = Layer, Step
LEVEL = 3  # the member's level in these tests

EXPECTED_CHAINS = {
    OrderSource.MALL: [
        (L.PRODUCT, S.LEVEL),
        (L.BASE, S.LEVEL),
        (L.PRODUCT, S.TIERS),
        (L.PRODUCT, S.LOTTERY),
        (L.BASE, S.LOTTERY),
        (L.PRODUCT, S.DEFAULT),
        (L.BASE, S.DEFAULT),
    ],
    OrderSource.CASHIER: [
        (L.CASHIER, S.LEVEL),
        (L.BASE, S.LEVEL),
        (L.CASHIER, S.TIERS),
        (L.CASHIER, S.LOTTERY),
        (L.BASE, S.LOTTERY),
        (L.CASHIER, S.DEFAULT),
        (L.BASE, S.DEFAULT),
    ],
    OrderSource.STORE: [
        (L.STORE_PRODUCT, S.LEVEL),
        (L.STORE, S.LEVEL),
        (L.BASE, S.LEVEL),
        (L.STORE_PRODUCT, S.TIERS),
        (L.STORE, S.TIERS),
        (L.STORE_PRODUCT, S.LOTTERY),
        (L.STORE, S.LOTTERY),
        (L.BASE, S.LOTTERY),
        (L.STORE_PRODUCT, S.DEFAULT),
        (L.STORE, S.DEFAULT),
        (L.BASE, S.DEFAULT),
    ],
}

CASES = [(source, k) for source, chain in EXPECTED_CHAINS.items() for k in range(len(chain))]


def value_of(k: int) -> int:
    """A distinct ratio per chain position, so the winner is identifiable."""
    return 1_000 * (k + 1)


def layers_with(source: OrderSource, positions: set[int]) -> dict[Layer, RatioSettings]:
    """Configure exactly the chain positions given, each with its own distinct ratio."""
    parts: dict[Layer, dict[str, object]] = {}
    for k, (layer, step) in enumerate(EXPECTED_CHAINS[source]):
        part = parts.setdefault(layer, {})
        if k not in positions:
            continue
        value = value_of(k)
        if step == S.LEVEL:
            part["level_bp"] = {LEVEL: value}
        elif step == S.TIERS:
            part["tiers"] = (Tier(days=30, min_amount_fen=100, ratio_bp=value),)
        elif step == S.LOTTERY:
            part["lottery"] = Lottery(LotteryMode.FIXED, ratios_bp=(value,))
        else:
            part["default_bp"] = value
    return {layer: RatioSettings(**kw) for layer, kw in parts.items()}  # type: ignore[arg-type]


def choose(source: OrderSource, layers, *, level: int = LEVEL, spend=None) -> RatioChoice:
    return ratio_for(source, layers, level=level, spend_by_days=spend or {30: 100})


def test_chains_are_exactly_the_spec_chains():
    assert {s: list(c) for s, c in CHAINS.items()} == EXPECTED_CHAINS


@pytest.mark.parametrize(("source", "k"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_each_step_wins_when_configured_and_no_earlier_step_is(source, k):
    chain = EXPECTED_CHAINS[source]
    later = set(range(k, len(chain)))
    choice = choose(source, layers_with(source, later))
    layer, step = chain[k]
    if step != S.LOTTERY:
        assert choice == RatioChoice(value_of(k), f"{layer}:{step}", None, None)
        return
    # A lottery step: the entry's default is the NEXT non-lottery ratio of the chain.
    nxt = next(j for j in range(k + 1, len(chain)) if chain[j][1] != S.LOTTERY)
    assert choice.ratio_bp == value_of(nxt)
    assert choice.source == f"{chain[nxt][0]}:{chain[nxt][1]}"
    assert choice.lottery == Lottery(LotteryMode.FIXED, ratios_bp=(value_of(k),))
    assert choice.lottery_source == f"{layer}:lottery"


@pytest.mark.parametrize(("source", "k"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_a_step_alone_with_base_default_wins_over_base_default(source, k):
    chain = EXPECTED_CHAINS[source]
    last = len(chain) - 1
    choice = choose(source, layers_with(source, {k, last}))
    layer, step = chain[k]
    if step == S.LOTTERY:
        assert choice.ratio_bp == value_of(last)
        assert choice.source == "base:default"
        assert choice.lottery_source == f"{layer}:lottery"
    else:
        assert choice.ratio_bp == value_of(k)
        assert choice.source == f"{layer}:{step}"
        assert choice.lottery is None


@pytest.mark.parametrize("source", list(OrderSource))
def test_ratio_source_strings_read_layer_colon_step(source):
    choice = choose(source, {L.BASE: RatioSettings(default_bp=10_000)})
    assert choice.source == "base:default"


def test_level_ratio_for_another_level_does_not_apply():
    layers = {
        L.PRODUCT: RatioSettings(level_bp={LEVEL + 1: 20_000}),
        L.BASE: RatioSettings(level_bp={LEVEL - 1: 18_000}, default_bp=13_000),
    }
    choice = choose(OrderSource.MALL, layers)
    assert (choice.ratio_bp, choice.source) == (13_000, "base:default")


def test_level_ratio_for_the_members_level_applies():
    layers = {
        L.PRODUCT: RatioSettings(level_bp={1: 11_000, 2: 12_000, 3: 15_000}),
        L.BASE: RatioSettings(default_bp=13_000),
    }
    assert choose(OrderSource.MALL, layers, level=2).ratio_bp == 12_000
    assert choose(OrderSource.MALL, layers, level=9).ratio_bp == 13_000


def test_level_ratio_of_zero_is_configured_and_wins():
    """An explicit 0% for a level is a configured ratio, not a gap in the chain."""
    layers = {
        L.PRODUCT: RatioSettings(level_bp={LEVEL: 0}),
        L.BASE: RatioSettings(default_bp=13_000),
    }
    assert choose(OrderSource.MALL, layers).ratio_bp == 0


def test_layers_not_in_a_sources_chain_are_ignored():
    layers = {
        L.STORE: RatioSettings(level_bp={LEVEL: 20_000}, default_bp=19_000),
        L.CASHIER: RatioSettings(default_bp=18_000),
        L.BASE: RatioSettings(default_bp=13_000),
    }
    assert choose(OrderSource.MALL, layers).ratio_bp == 13_000


# --- cumulative-spend tiers --------------------------------------------------------------------


def test_every_met_tier_is_a_candidate_and_the_highest_ratio_wins():
    tiers = [(30, 10_000, 12_000), (30, 50_000, 16_000), (7, 1_000, 14_000)]
    assert tier_ratio(tiers, {30: 60_000, 7: 2_000}) == 16_000
    # the highest ratio, not the highest threshold: a short-window tier can win
    tiers = [(30, 50_000, 13_000), (7, 1_000, 15_000)]
    assert tier_ratio(tiers, {30: 60_000, 7: 2_000}) == 15_000


def test_unmet_tiers_are_ignored():
    tiers = [(30, 10_000, 12_000), (30, 50_000, 16_000)]
    assert tier_ratio(tiers, {30: 20_000}) == 12_000
    assert tier_ratio(tiers, {30: 9_999}) is None


def test_tier_threshold_is_inclusive():
    assert tier_ratio([(30, 10_000, 12_000)], {30: 10_000}) == 12_000


def test_tier_spend_is_keyed_by_its_days():
    tiers = [(7, 10_000, 15_000), (90, 10_000, 12_000)]
    # 90-day spend meets the threshold, 7-day spend does not
    assert tier_ratio(tiers, {7: 5_000, 90: 50_000}) == 12_000
    # no figure for a tier's days counts as no spend
    assert tier_ratio(tiers, {90: 50_000}) == 12_000
    assert tier_ratio(tiers, {}) is None


def test_no_tiers_gives_nothing():
    assert tier_ratio([], {30: 10**9}) is None


@pytest.mark.parametrize(
    ("source", "layer"),
    [
        (OrderSource.MALL, L.PRODUCT),
        (OrderSource.CASHIER, L.CASHIER),
        (OrderSource.STORE, L.STORE_PRODUCT),
        (OrderSource.STORE, L.STORE),
    ],
)
def test_tier_step_in_chain_uses_highest_met_tier_and_falls_through_when_none_met(source, layer):
    layers = {
        layer: RatioSettings(tiers=(Tier(30, 10_000, 12_000), Tier(30, 50_000, 16_000))),
        L.BASE: RatioSettings(default_bp=10_000),
    }
    met = ratio_for(source, layers, level=LEVEL, spend_by_days={30: 50_000})
    assert (met.ratio_bp, met.source) == (16_000, f"{layer}:tiers")
    unmet = ratio_for(source, layers, level=LEVEL, spend_by_days={30: 9_999})
    assert (unmet.ratio_bp, unmet.source) == (10_000, "base:default")


def test_store_product_tiers_win_over_store_tiers_even_if_lower():
    layers = {
        L.STORE_PRODUCT: RatioSettings(tiers=(Tier(30, 100, 11_000),)),
        L.STORE: RatioSettings(tiers=(Tier(30, 100, 19_000),)),
        L.BASE: RatioSettings(default_bp=10_000),
    }
    choice = ratio_for(OrderSource.STORE, layers, level=LEVEL, spend_by_days={30: 100})
    assert (choice.ratio_bp, choice.source) == (11_000, "store_product:tiers")


def test_earlier_step_wins_even_with_a_lower_ratio():
    layers = {
        L.PRODUCT: RatioSettings(level_bp={LEVEL: 5_000}, tiers=(Tier(30, 0, 30_000),)),
        L.BASE: RatioSettings(default_bp=20_000),
    }
    assert choose(OrderSource.MALL, layers).ratio_bp == 5_000


# --- lottery step ------------------------------------------------------------------------------

PRODUCT_LOTTERY = Lottery(LotteryMode.FIXED, ratios_bp=(1_000, 2_000, 5_000))
BASE_LOTTERY = Lottery(LotteryMode.RANGE, low_bp=1_000, high_bp=9_000)


def test_lottery_entry_gets_next_non_lottery_ratio_as_default():
    layers = {
        L.PRODUCT: RatioSettings(lottery=PRODUCT_LOTTERY, default_bp=12_000),
        L.BASE: RatioSettings(lottery=BASE_LOTTERY, default_bp=10_000),
    }
    choice = choose(OrderSource.MALL, layers)
    assert choice == RatioChoice(12_000, "product:default", PRODUCT_LOTTERY, "product:lottery")


def test_product_lottery_wins_over_base_lottery():
    layers = {
        L.PRODUCT: RatioSettings(lottery=PRODUCT_LOTTERY),
        L.BASE: RatioSettings(lottery=BASE_LOTTERY, default_bp=10_000),
    }
    choice = choose(OrderSource.MALL, layers)
    assert (choice.lottery, choice.lottery_source) == (PRODUCT_LOTTERY, "product:lottery")
    assert (choice.ratio_bp, choice.source) == (10_000, "base:default")


def test_base_lottery_applies_when_product_has_none():
    layers = {
        L.PRODUCT: RatioSettings(default_bp=12_000),
        L.BASE: RatioSettings(lottery=BASE_LOTTERY, default_bp=10_000),
    }
    choice = choose(OrderSource.MALL, layers)
    assert choice == RatioChoice(12_000, "product:default", BASE_LOTTERY, "base:lottery")


def test_store_lottery_order_is_store_product_then_store_then_base():
    store_lottery = Lottery(LotteryMode.FIXED, ratios_bp=(3_000,))
    layers = {
        L.STORE: RatioSettings(lottery=store_lottery),
        L.BASE: RatioSettings(lottery=BASE_LOTTERY, default_bp=10_000),
    }
    choice = choose(OrderSource.STORE, layers)
    assert (choice.lottery, choice.lottery_source) == (store_lottery, "store:lottery")
    layers[L.STORE_PRODUCT] = RatioSettings(lottery=PRODUCT_LOTTERY)
    choice = choose(OrderSource.STORE, layers)
    assert (choice.lottery, choice.lottery_source) == (PRODUCT_LOTTERY, "store_product:lottery")


def test_a_met_earlier_step_means_no_lottery_at_all():
    layers = {
        L.PRODUCT: RatioSettings(tiers=(Tier(30, 100, 15_000),), lottery=PRODUCT_LOTTERY),
        L.BASE: RatioSettings(default_bp=10_000),
    }
    choice = choose(OrderSource.MALL, layers, spend={30: 100})
    assert (choice.ratio_bp, choice.lottery, choice.lottery_source) == (15_000, None, None)


def test_unmet_tiers_fall_through_to_the_lottery():
    layers = {
        L.PRODUCT: RatioSettings(tiers=(Tier(30, 100, 15_000),), lottery=PRODUCT_LOTTERY),
        L.BASE: RatioSettings(default_bp=10_000),
    }
    choice = choose(OrderSource.MALL, layers, spend={30: 99})
    assert (choice.ratio_bp, choice.lottery) == (10_000, PRODUCT_LOTTERY)


# --- no default ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", list(OrderSource))
def test_no_ratio_anywhere_is_an_error(source):
    with pytest.raises(InvalidSetting):
        choose(source, {})


def test_a_lottery_without_any_default_is_an_error():
    layers = {L.PRODUCT: RatioSettings(lottery=PRODUCT_LOTTERY), L.BASE: RatioSettings()}
    with pytest.raises(InvalidSetting):
        choose(OrderSource.MALL, layers)


def test_base_settings_require_a_default_ratio():
    with pytest.raises(InvalidSetting):
        BaseSettings(ratios=RatioSettings(default_bp=None))
    assert BaseSettings().ratios.default_bp == 10_000


def test_base_settings_default_always_ends_every_chain():
    base = BaseSettings(ratios=RatioSettings(default_bp=13_000))
    for source in OrderSource:
        assert choose(source, {L.BASE: base.ratios}).ratio_bp == 13_000
