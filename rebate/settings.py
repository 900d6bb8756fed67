"""The settings the rules read (SPEC §3–§7), as immutable values.

Ratios are basis points, amounts fen. ``None`` means "not configured here": the ratio chain
(SPEC §5) moves on to the next step.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum

from rebate.errors import InvalidSetting
from rebate.money import MAX_RATIO_BP, check_bp


def _whole(value: object) -> bool:
    """A whole number, and not a bool (``True`` is an ``int`` to Python, not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


class OrderSource(StrEnum):
    """订单来源."""

    MALL = "mall"  # 商城自营 + 供应商商品
    STORE = "store"  # 门店商品（线上）
    CASHIER = "cashier"  # 门店收银台买单


class SettleOn(StrEnum):
    """结算事件."""

    PAID = "paid"  # 支付后结算
    COMPLETED = "completed"  # 完成后结算 (default)


class PayoutOrder(StrEnum):
    """待奖励队列奖励规则."""

    QUEUE_ORDER = "queue_order"  # 按队列顺序
    COMPLETED_FIRST = "completed_first"  # 按队列完成+队列顺序


class DeductionMode(StrEnum):
    """抵扣订单开关."""

    PARTICIPATE = "participate"  # 参与队列
    EXCLUDE = "exclude"  # 不参与队列


class LotteryMode(StrEnum):
    FIXED = "fixed"  # 固定比例抽奖
    RANGE = "range"  # 区间比例随机抽奖


@dataclass(frozen=True)
class Tier:
    """累计金额奖励: spend at least ``min_amount_fen`` in the last ``days`` days → ``ratio_bp``."""

    days: int
    min_amount_fen: int
    ratio_bp: int

    def __post_init__(self) -> None:
        if not _whole(self.days) or self.days <= 0:
            raise InvalidSetting("累计金额奖励的天数必须是正整数", field="tiers.days")
        if not _whole(self.min_amount_fen) or self.min_amount_fen < 0:
            raise InvalidSetting("累计金额奖励的金额不能为负", field="tiers.min_amount_fen")
        check_bp(self.ratio_bp, field="tiers.ratio_bp")


@dataclass(frozen=True)
class Lottery:
    """抽奖奖励权益: ``fixed`` picks one of ``ratios_bp``; ``range`` a whole percent in [low, high]."""

    mode: LotteryMode
    ratios_bp: tuple[int, ...] = ()
    low_bp: int = 0
    high_bp: int = 0

    def __post_init__(self) -> None:
        if self.mode == LotteryMode.FIXED:
            if not self.ratios_bp:
                raise InvalidSetting("固定比例抽奖至少需要一个比例", field="lottery.ratios_bp")
            for r in self.ratios_bp:
                check_bp(r, field="lottery.ratios_bp")
        else:
            check_bp(self.low_bp, field="lottery.low_bp")
            check_bp(self.high_bp, field="lottery.high_bp")
            if self.low_bp > self.high_bp:
                raise InvalidSetting("区间抽奖的下限不能大于上限", field="lottery.low_bp")
            if self.low_bp % 100 or self.high_bp % 100:
                raise InvalidSetting("区间抽奖的上下限必须是整百分比", field="lottery.low_bp")


@dataclass(frozen=True)
class RatioSettings:
    """The ratio steps one settings layer (base, product, store, cashier…) may configure."""

    level_bp: Mapping[int, int] = field(default_factory=dict)  # 会员等级奖励权益: level → bp
    tiers: tuple[Tier, ...] = ()  # 累计金额奖励
    lottery: Lottery | None = None  # 抽奖奖励权益
    default_bp: int | None = None  # 独立奖励比例 / 默认奖励权益

    def __post_init__(self) -> None:
        for level, bp in self.level_bp.items():
            check_bp(bp, field=f"level_bp.{level}")
        if self.default_bp is not None:
            check_bp(self.default_bp, field="default_bp")


@dataclass(frozen=True)
class TimeWindow:
    """奖励时间段: a daily window [start, end); one with end ≤ start wraps past midnight."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class Limits:
    """奖励限制: entries per member per day / in total, for one product, store or cashier."""

    per_day: int | None = None
    total: int | None = None

    def __post_init__(self) -> None:
        for name, v in (("per_day", self.per_day), ("total", self.total)):
            if v is not None and (not _whole(v) or v < 0):
                raise InvalidSetting("奖励限制必须是非负整数", field=f"limits.{name}")


@dataclass(frozen=True)
class RandomReturn:
    """随机返: groups of ``cash_places + points_places``; ``points_places`` of each turn to points."""

    cash_places: int
    points_places: int

    def __post_init__(self) -> None:
        places = (self.cash_places, self.points_places)
        if not all(_whole(p) and p >= 0 for p in places) or self.group_size == 0:
            raise InvalidSetting("随机返每组人数必须大于 0", field="random_return")

    @property
    def group_size(self) -> int:
        return self.cash_places + self.points_places


MAX_DEDUCTION_RATE = 1_000_000  # points (or love value) that pay one fen, at most


def _min_cash(fen: object) -> None:
    """WeChat Pay takes at least 1 fen: every order keeps at least that much in cash."""
    if not _whole(fen) or fen < 1:  # type: ignore[operator]
        raise InvalidSetting("最低现金支付必须是至少 1 分的整数", field="deduction_min_cash_fen")


@dataclass(frozen=True)
class TargetSettings:
    """排队返利设置 of one product, store, store product or cashier (商品/门店/收银台独立设置)."""

    enabled: bool = True  # 开启
    extract_bp: int | None = None  # 提取比例
    ratios: RatioSettings = field(default_factory=RatioSettings)
    windows: tuple[TimeWindow, ...] = ()  # 奖励时间段限制 (empty: any time)
    limits: Limits = field(default_factory=Limits)  # 奖励限制
    random_return: RandomReturn | None = None  # 随机返 (stores and cashiers only)
    deduction_max_bp: int | None = None  # 抵扣上限: the most of a price points / love may pay
    deduction_min_cash_fen: int | None = None  # 最低现金支付: what an order keeps in cash

    def __post_init__(self) -> None:
        if self.extract_bp is not None:
            check_bp(self.extract_bp, field="extract_bp", maximum=10_000)
        if self.deduction_max_bp is not None:
            check_bp(self.deduction_max_bp, field="deduction_max_bp", maximum=10_000)
        if self.deduction_min_cash_fen is not None:
            _min_cash(self.deduction_min_cash_fen)


@dataclass(frozen=True)
class BaseSettings:
    """排队返利插件基础设置."""

    enabled: bool = True  # 开启排队返利 (master switch)
    new_products_enabled: bool = True  # 商品排队返利 (new products default to enabled)
    deduction: DeductionMode = DeductionMode.PARTICIPATE  # 抵扣订单开关
    settle_on: SettleOn = SettleOn.COMPLETED  # 结算事件
    payout_order: PayoutOrder = PayoutOrder.QUEUE_ORDER  # 待奖励队列奖励规则
    mall_queue_unified: bool = True  # 开启商家队列
    stores_queue_unified: bool = False  # 所有门店队列
    cashiers_queue_unified: bool = False  # 所有收银台队列
    extract_bp: int = 1_000  # 提取比例
    ratios: RatioSettings = field(default_factory=lambda: RatioSettings(default_bp=10_000))
    paused: bool = False  # 队列奖励暂停
    random_return: RandomReturn | None = None  # 开启随机返
    exchange_points_bp: int = 10_000  # 兑换比例: points per fen of entitlement, in bp
    exchange_love_bp: int = 10_000  # 兑换比例: love value per fen of entitlement, in bp
    love_frozen: bool = False  # 爱心值奖励冻结 (else available)
    deduction_points_per_fen: int = 0  # 积分抵扣比例: points that pay 1 fen (0: off)
    deduction_love_per_fen: int = 0  # 爱心值抵扣比例: love value that pays 1 fen (0: off)
    deduction_max_bp: int = 10_000  # 抵扣上限: the most of a price deduction may pay, bp
    deduction_min_cash_fen: int = 1  # 最低现金支付: what every order keeps in cash, fen

    def __post_init__(self) -> None:
        for name in ("deduction_points_per_fen", "deduction_love_per_fen"):
            rate = getattr(self, name)
            if not _whole(rate) or not 0 <= rate <= MAX_DEDUCTION_RATE:
                raise InvalidSetting(f"抵扣比例必须是 0–{MAX_DEDUCTION_RATE} 的整数", field=name)
        check_bp(self.deduction_max_bp, field="deduction_max_bp", maximum=10_000)
        _min_cash(self.deduction_min_cash_fen)
        check_bp(self.extract_bp, field="extract_bp", maximum=10_000)
        if self.ratios.default_bp is None:
            raise InvalidSetting("基础设置必须配置默认奖励权益比例", field="ratios.default_bp")
        check_bp(self.exchange_points_bp, field="exchange_points_bp", maximum=MAX_RATIO_BP)
        check_bp(self.exchange_love_bp, field="exchange_love_bp", maximum=MAX_RATIO_BP)
