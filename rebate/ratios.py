"""Reward ratio priority chains (SPEC §5, 奖励权益比例).

A chain is a list of (layer, step). The first step configured for this member and line gives
the ratio. A lottery step gives the *next non-lottery* ratio in the chain as the entry's
default and marks the entry as allowed to draw once.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rebate.errors import InvalidSetting
from rebate.settings import Lottery, OrderSource, RatioSettings


class Step(StrEnum):
    LEVEL = "level"  # 会员等级奖励权益
    TIERS = "tiers"  # 累计金额奖励
    LOTTERY = "lottery"  # 抽奖奖励权益
    DEFAULT = "default"  # 独立/默认奖励权益


class Layer(StrEnum):
    BASE = "base"  # 排队返利插件基础设置
    PRODUCT = "product"  # 商品设置
    STORE = "store"  # 门店排队返利设置
    STORE_PRODUCT = "store_product"  # 门店商品设置
    CASHIER = "cashier"  # 收银台排队返利设置


L, S = Layer, Step
CHAINS: Mapping[OrderSource, tuple[tuple[Layer, Step], ...]] = {
    OrderSource.MALL: (
        (L.PRODUCT, S.LEVEL),
        (L.BASE, S.LEVEL),
        (L.PRODUCT, S.TIERS),
        (L.PRODUCT, S.LOTTERY),
        (L.BASE, S.LOTTERY),
        (L.PRODUCT, S.DEFAULT),
        (L.BASE, S.DEFAULT),
    ),
    OrderSource.CASHIER: (
        (L.CASHIER, S.LEVEL),
        (L.BASE, S.LEVEL),
        (L.CASHIER, S.TIERS),
        (L.CASHIER, S.LOTTERY),
        (L.BASE, S.LOTTERY),
        (L.CASHIER, S.DEFAULT),
        (L.BASE, S.DEFAULT),
    ),
    OrderSource.STORE: (
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
    ),
}


@dataclass(frozen=True)
class RatioChoice:
    """The ratio an entry starts with, where it came from, and the lottery it may draw on."""

    ratio_bp: int
    source: str  # e.g. "product:level", "base:default", for display and audit
    lottery: Lottery | None = None
    lottery_source: str | None = None


def tier_ratio(
    tiers: Sequence[tuple[int, int, int]], spend_by_days: Mapping[int, int]
) -> int | None:
    """The highest ratio among tiers the member meets, or None (SPEC §5)."""
    met = [bp for days, minimum, bp in tiers if spend_by_days.get(days, 0) >= minimum]
    return max(met) if met else None


def _value(settings: RatioSettings, step: Step, level: int, spend: Mapping[int, int]) -> int | None:
    if step == Step.LEVEL:
        return settings.level_bp.get(level)
    if step == Step.TIERS:
        return tier_ratio([(t.days, t.min_amount_fen, t.ratio_bp) for t in settings.tiers], spend)
    if step == Step.DEFAULT:
        return settings.default_bp
    raise AssertionError(step)


def ratio_for(
    source: OrderSource,
    layers: Mapping[Layer, RatioSettings],
    *,
    level: int,
    spend_by_days: Mapping[int, int],
) -> RatioChoice:
    """Walk the chain of ``source`` over the configured ``layers`` (missing layers are skipped).

    ``spend_by_days`` maps each tier's ``days`` to the member's qualifying completed spend in
    that many days (mall: self-operated + supplier; store/cashier: that store's orders).
    """
    chain = CHAINS[source]
    lottery: Lottery | None = None
    lottery_source: str | None = None
    for layer, step in chain:
        settings = layers.get(layer)
        if settings is None:
            continue
        if step == Step.LOTTERY:
            if lottery is None and settings.lottery is not None:
                lottery, lottery_source = settings.lottery, f"{layer}:{step}"
            continue
        value = _value(settings, step, level, spend_by_days)
        if value is not None:
            return RatioChoice(value, f"{layer}:{step}", lottery, lottery_source)
    raise InvalidSetting(
        "没有可用的奖励权益比例：请在基础设置中配置默认奖励权益", field="default_bp"
    )
