"""分销设置 (SPEC §8) as an immutable value: referral, team, 招商, freeze, dividend and
merchant-settlement settings.

Every ratio is basis points, every amount fen. A bad value is refused with a Chinese message
naming the field. Reading and storing the document is the services' job
(``services.distribution.settings``).
"""

from dataclasses import dataclass
from enum import StrEnum

from rebate.errors import InvalidSetting
from rebate.money import BP_ONE

MAX_TEAM_DEPTH = 3
MAX_FREEZE_DAYS = 90
MAX_STATEMENT_DAYS = 30
WECHAT_TRANSFER_REAL_NAME_FEN = 200_000  # 2000 元: above this WeChat needs the payee's real name


class DividendPeriod(StrEnum):
    MONTH = "month"  # calendar month, Beijing time
    WEEK = "week"  # ISO week, Monday 00:00 Beijing time


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bp(value: object, field_name: str, label: str) -> None:
    if not _whole(value) or not 0 <= value <= BP_ONE:  # type: ignore[operator]
        raise InvalidSetting(f"{label}必须是 0–{BP_ONE} 之间的整数（万分比）", field=field_name)


def _count(value: object, field_name: str, label: str, low: int, high: int) -> None:
    if not _whole(value) or not low <= value <= high:  # type: ignore[operator]
        raise InvalidSetting(f"{label}必须是 {low}–{high} 之间的整数", field=field_name)


@dataclass(frozen=True)
class TeamLevel:
    """团队等级. Reached when every configured threshold is met (both ``None``: an operator
    assigns it). ``rate_bp`` is the level's 级差 rate."""

    level: int
    name: str
    rate_bp: int
    min_team_turnover_fen: int | None = None  # 团队业绩
    min_direct_referrals: int | None = None  # 直推人数

    @property
    def automatic(self) -> bool:
        """A level with a threshold is reached by itself; one without is only assigned."""
        return self.min_team_turnover_fen is not None or self.min_direct_referrals is not None

    def check(self, at: str) -> None:
        _count(self.level, f"{at}.level", "团队等级编号", 1, 99)
        if not isinstance(self.name, str) or not 0 < len(self.name.strip()) <= 16:
            raise InvalidSetting("团队等级名称必须是 1–16 个字", field=f"{at}.name")
        _bp(self.rate_bp, f"{at}.rate_bp", "团队等级级差比例")
        if self.min_team_turnover_fen is not None:
            _count(
                self.min_team_turnover_fen,
                f"{at}.min_team_turnover_fen",
                "团队业绩门槛（分）",
                0,
                10**15,
            )
        if self.min_direct_referrals is not None:
            _count(
                self.min_direct_referrals, f"{at}.min_direct_referrals", "直推人数门槛", 0, 10**9
            )


@dataclass(frozen=True)
class DistributionSettings:
    """分销设置.

    ``team_depth`` bounds every walk up the referral chain (级差, and what counts as a team):
    default 2, never more than 3. Multi-level schemes that pay on deeper chains are what
    Chinese law treats as pyramid selling (传销: 《禁止传销条例》, and 刑法第224条之一 on
    organising pyramid selling, which prosecutes schemes of three or more levels); so a
    deeper setting is refused outright, not clamped.
    """

    enabled: bool = True
    direct_bp: int = 0  # 直推奖励
    indirect_bp: int = 0  # 间推奖励
    levels: tuple[TeamLevel, ...] = ()  # 团队等级, rates rising with the level
    team_depth: int = 2  # 级差 walk depth
    merchant_referral_bp: int = 0  # 招商奖励
    freeze_days: int = 7  # 佣金冻结天数, counted from the order's completion
    dividend_pool_bp: int = 0  # 股东分红: share of the period's completed turnover
    dividend_period: DividendPeriod = DividendPeriod.MONTH
    shareholder_level: int | None = None  # team level (and above) that shares dividends
    statement_days: int = 1  # 商家结算 T+N
    max_transfer_fen: int = WECHAT_TRANSFER_REAL_NAME_FEN - 1  # larger statements: manual

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise InvalidSetting("enabled 必须是 true/false", field="enabled")
        _bp(self.direct_bp, "direct_bp", "直推奖励比例")
        _bp(self.indirect_bp, "indirect_bp", "间推奖励比例")
        _bp(self.merchant_referral_bp, "merchant_referral_bp", "招商奖励比例")
        _bp(self.dividend_pool_bp, "dividend_pool_bp", "股东分红比例")
        if _whole(self.team_depth) and self.team_depth > MAX_TEAM_DEPTH:
            raise InvalidSetting(
                f"级差层级最多 {MAX_TEAM_DEPTH} 级：更深的多级分销可能被认定为传销",
                field="team_depth",
            )
        _count(self.team_depth, "team_depth", "级差层级", 1, MAX_TEAM_DEPTH)
        _count(self.freeze_days, "freeze_days", "佣金冻结天数", 0, MAX_FREEZE_DAYS)
        _count(
            self.statement_days, "statement_days", "商家结算周期 T+N 的 N", 0, MAX_STATEMENT_DAYS
        )
        _count(self.max_transfer_fen, "max_transfer_fen", "单笔转账上限（分）", 1, 10**12)
        if not isinstance(self.dividend_period, DividendPeriod):
            raise InvalidSetting("分红周期必须是 month 或 week", field="dividend_period")
        self._check_levels()
        # 直推 + 间推 + every 级差 difference of one order never pay out more than the order.
        if self.direct_bp + self.indirect_bp + self.max_team_bp > BP_ONE:
            raise InvalidSetting("直推、间推与最高级差比例之和不能超过 100%", field="direct_bp")

    def _check_levels(self) -> None:
        if not isinstance(self.levels, tuple):
            raise InvalidSetting("团队等级必须是列表", field="levels")
        previous: TeamLevel | None = None
        for i, lv in enumerate(self.levels):
            if not isinstance(lv, TeamLevel):
                raise InvalidSetting("团队等级格式错误", field=f"levels.{i}")
            lv.check(f"levels.{i}")
            if previous is not None:
                if lv.level <= previous.level:
                    raise InvalidSetting("团队等级编号必须递增", field=f"levels.{i}.level")
                if lv.rate_bp <= previous.rate_bp:
                    raise InvalidSetting(
                        "更高的团队等级必须有更高的级差比例", field=f"levels.{i}.rate_bp"
                    )
            previous = lv
        if self.shareholder_level is not None and self.level(self.shareholder_level) is None:
            raise InvalidSetting("股东等级必须是已配置的团队等级", field="shareholder_level")

    @property
    def max_team_bp(self) -> int:
        """The most 级差 one order can pay in total: the differences add up to the top rate."""
        return max((lv.rate_bp for lv in self.levels), default=0)

    def level(self, number: int) -> TeamLevel | None:
        for lv in self.levels:
            if lv.level == number:
                return lv
        return None

    def rate_of(self, number: int) -> int:
        found = self.level(number)
        return found.rate_bp if found else 0

    @property
    def pays_rewards(self) -> bool:
        return self.enabled and (
            self.direct_bp > 0
            or self.indirect_bp > 0
            or self.max_team_bp > 0
            or self.merchant_referral_bp > 0
        )
