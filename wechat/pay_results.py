"""What a verified payment exchange tells us, the same shape for pay v2 and v3.

The order service consumes these without caring which API version produced them. Amounts are
integer fen; times are aware datetimes. ``raw`` keeps every field WeChat sent, for audit logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# China Standard Time has had no daylight saving since 1991: a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def parse_v2_time(value: str) -> datetime | None:
    """v2 times are ``yyyyMMddHHmmss`` in Beijing time; ``""`` means absent."""
    if not value:
        return None
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)


def parse_v3_time(value: str | None) -> datetime | None:
    """v3 times are RFC 3339 with offset, e.g. ``2018-06-08T10:34:56+08:00``."""
    if not value:
        return None
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class PaymentNotice:
    """An authentic, successful payment for one of our orders."""

    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    total_fen: int
    payer_total_fen: int
    openid: str
    paid_at: datetime | None
    trade_type: str
    attach: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class RefundNotice:
    """An authentic refund outcome. ``status`` is SUCCESS, CLOSED or ABNORMAL (v2's
    REFUNDCLOSE and CHANGE are normalised to the v3 names)."""

    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    status: str
    total_fen: int
    refund_fen: int
    succeeded_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class OrderStatus:
    """Answer of an order query. ``trade_state``: SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED,
    USERPAYING or PAYERROR (same names in v2 and v3)."""

    out_trade_no: str
    trade_state: str
    transaction_id: str
    total_fen: int | None
    openid: str
    paid_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_paid(self) -> bool:
        return self.trade_state in ("SUCCESS", "REFUND")


@dataclass(frozen=True)
class RefundReceipt:
    """WeChat accepted a refund request. The outcome arrives later by notification (v3
    ``status`` may already say SUCCESS; v2 always reports PROCESSING here)."""

    out_refund_no: str
    refund_id: str
    status: str
    refund_fen: int
    raw: dict[str, Any] = field(repr=False, compare=False)
