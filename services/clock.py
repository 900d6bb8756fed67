"""The service's clock and calendar: instants are UTC; days, reward windows and schedules are
Beijing time (Asia/Shanghai)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local(moment: datetime) -> datetime:
    """``moment`` on the Beijing calendar."""
    return moment.astimezone(LOCAL_TZ)


def utcnow() -> datetime:
    return datetime.now(UTC)
