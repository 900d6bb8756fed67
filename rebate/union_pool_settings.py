"""工会排队设置 (SPEC §11): the union pool's settings as an immutable value — 控盘, the
operator's controls.

Which orders the pool takes is chosen per order source: an order of a source in ``sources``
joins the union pool and nothing else of it queues — the share queue never sees it — so no
order is ever in both modes. The seed sells the pool as a separate system; here one deployment
may run either mode, or both side by side for different sources (``sources`` empty, the
default, is the share mode only). Reading and storing the document is the services' job.

Every ratio is basis points, every amount fen. A bad value is refused with a Chinese message
naming the field.
"""

from dataclasses import dataclass

from rebate.errors import InvalidSetting
from rebate.money import BP_ONE, MAX_RATIO_BP
from rebate.settings import OrderSource
from rebate.union_pool import DEFAULT_POOL_BP, DEFAULT_QUOTA_BP, AccelerationLimits

MAX_FEN = 10**15


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _within(value: object, field: str, label: str, low: int, high: int) -> None:
    if not _whole(value) or not low <= value <= high:  # type: ignore[operator]
        raise InvalidSetting(f"{label}必须是 {low}–{high} 之间的整数", field=field)


def _optional(value: object, field: str, label: str, low: int, high: int) -> None:
    if value is not None:
        _within(value, field, label, low, high)


@dataclass(frozen=True)
class PoolSettings:
    """工会排队: ``pool_bp`` of each line's profit after rewards and subsidies goes into the pool
    (返利池比例); a line paid P gets a quota of P × ``quota_bp`` (分红额度比例); the daily close
    at ``close_at`` (Beijing time, HH:MM) pays at most ``daily_cap_fen`` (每日分红上限, None: the
    whole balance), each quota in full unless ``head_in_part``; 动态加速 ``accel_bp`` of a direct
    referral's contribution, capped per referrer per day and in total; ``ceiling_days``: no new
    entry joins while the projected wait of the tail is longer (排队上限, None: never closed);
    members are told when their projected wait moves by ``notify_wait_days`` or more."""

    sources: tuple[OrderSource, ...] = ()
    pool_bp: int = DEFAULT_POOL_BP
    quota_bp: int = DEFAULT_QUOTA_BP
    daily_cap_fen: int | None = None
    head_in_part: bool = False
    close_at: str = "00:00"
    accel_bp: int = 0
    accel_per_day_fen: int | None = None
    accel_total_fen: int | None = None
    ceiling_days: int | None = None
    notify_wait_days: int = 7

    def check(self) -> "PoolSettings":
        if len(set(self.sources)) != len(self.sources) or not all(
            isinstance(s, OrderSource) for s in self.sources
        ):
            raise InvalidSetting(
                "参与工会排队的订单来源必须是 mall、store、cashier", field="sources"
            )
        _within(self.pool_bp, "pool_bp", "返利池比例（万分比）", 0, BP_ONE)
        _within(self.quota_bp, "quota_bp", "分红额度比例（万分比）", 0, MAX_RATIO_BP)
        _optional(self.daily_cap_fen, "daily_cap_fen", "每日分红上限（分）", 0, MAX_FEN)
        if not isinstance(self.head_in_part, bool):
            raise InvalidSetting("队首部分分红必须是 true 或 false", field="head_in_part")
        _check_time(self.close_at)
        _within(self.accel_bp, "accel_bp", "加速比例（万分比）", 0, BP_ONE)
        _optional(self.accel_per_day_fen, "accel_per_day_fen", "每日加速上限（分）", 0, MAX_FEN)
        _optional(self.accel_total_fen, "accel_total_fen", "累计加速上限（分）", 0, MAX_FEN)
        _optional(self.ceiling_days, "ceiling_days", "排队上限（天）", 1, 3650)
        _within(self.notify_wait_days, "notify_wait_days", "等待天数变动提醒（天）", 1, 3650)
        return self

    @property
    def acceleration(self) -> AccelerationLimits:
        return AccelerationLimits(self.accel_bp, self.accel_per_day_fen, self.accel_total_fen)

    def takes(self, source: OrderSource) -> bool:
        """Whether an order of ``source`` joins the union pool (and no share queue)."""
        return source in self.sources


def _check_time(text: object) -> None:
    ok = isinstance(text, str) and len(text) == 5 and text[2] == ":"
    if ok:
        hh, mm = text[:2], text[3:]  # type: ignore[index]
        ok = hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60
    if not ok:
        raise InvalidSetting("每日结算时间必须是 HH:MM（北京时间）", field="close_at")
