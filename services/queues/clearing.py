"""队列奖励清零 (SPEC §7): at each scheduled time every waiting entry is cleared.

The schedule is its own small settings document (``job_setting`` row ``clearing``):

    {"enabled": false, "kind": "daily", "at": "00:00", "weekday": 1, "day": 1, "once_at": null}

``kind`` is ``daily`` (at HH:MM), ``weekly`` (``weekday`` 1 = Monday … 7 = Sunday, at HH:MM),
``monthly`` (``day`` 1–28 of each month, at HH:MM; 29–31 would skip short months) or ``once``
(``once_at``, a date-time ``YYYY-MM-DDTHH:MM``). Every time is Beijing time (Asia/Shanghai).
Clearing is off until an operator turns it on (SPEC: "when enabled"; the seed: 如开启).

Clearing for a slot (the scheduled time) clears every entry that was waiting and had joined by
that time: ``cleared``, remainder forfeited, the queue's waiting count fixed, one
``entry_cleared`` outbox event per entry so its member is told. Entries that join after the
slot are left alone, so clearing the same slot again changes nothing. Work goes queue by queue
in chunks, each chunk one transaction under the queue's lock (settlements interleave between
chunks and never see a half-cleared chunk). Exactly once per slot is ``services.jobs``' job.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from models import EntryStatus, JobSetting
from rebate.errors import InvalidSetting
from runtime.sql import execute, fetch, marks
from services.clock import LOCAL_TZ
from services.outbox import Event, emit
from services.queues.locks import lock_queue
from services.settings.codec import _bool, _enum, _int, _known, _time

JOB_NAME = "clearing"
CHUNK = 500
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ClearingKind(StrEnum):
    DAILY = "daily"  # 每天
    WEEKLY = "weekly"  # 每周
    MONTHLY = "monthly"  # 每月
    ONCE = "once"  # 指定时间


@dataclass(frozen=True)
class ClearingSchedule:
    """开启队列奖励清零 and when. Times are Beijing time, to the minute."""

    enabled: bool = False
    kind: ClearingKind = ClearingKind.DAILY
    at: time = time(0, 0)
    weekday: int = 1  # weekly: ISO weekday, 1 = Monday … 7 = Sunday
    day: int = 1  # monthly: 1–28
    once_at: datetime | None = None  # once: Beijing date-time

    def __post_init__(self) -> None:
        if self.at.second or self.at.microsecond or self.at.tzinfo is not None:
            raise InvalidSetting("清零时间必须是 HH:MM（北京时间）", field="clearing.at")
        if not 1 <= self.weekday <= 7:
            raise InvalidSetting(
                "每周清零的星期必须是 1（周一）到 7（周日）", field="clearing.weekday"
            )
        if not 1 <= self.day <= 28:
            raise InvalidSetting("每月清零的日期必须是 1 到 28 号", field="clearing.day")
        if self.kind == ClearingKind.ONCE and self.once_at is None:
            raise InvalidSetting("指定时间清零必须设置日期时间", field="clearing.once_at")

    def once_local(self) -> datetime | None:
        """``once_at`` as an aware Beijing date-time."""
        if self.once_at is None:
            return None
        if self.once_at.tzinfo is None:
            return self.once_at.replace(tzinfo=LOCAL_TZ)
        return self.once_at.astimezone(LOCAL_TZ)


def schedule_from_doc(doc: Mapping[str, Any] | None) -> ClearingSchedule:
    """The clearing settings document → ClearingSchedule; missing keys keep their defaults.
    Unknown keys and wrong types are refused with the field named."""
    doc = doc or {}
    _known(doc, {"enabled", "kind", "at", "weekday", "day", "once_at"}, "clearing.")
    kwargs: dict[str, Any] = {}
    if "enabled" in doc:
        kwargs["enabled"] = _bool(doc["enabled"], "clearing.enabled")
    if "kind" in doc:
        kwargs["kind"] = _enum(ClearingKind, doc["kind"], "clearing.kind")
    if "at" in doc:
        kwargs["at"] = _time(doc["at"], "clearing.at")
    for key in ("weekday", "day"):
        if key in doc:
            kwargs[key] = _int(doc[key], f"clearing.{key}")
    if doc.get("once_at") is not None:
        try:
            kwargs["once_at"] = datetime.fromisoformat(doc["once_at"])
        except (TypeError, ValueError):
            raise InvalidSetting(
                "指定清零时间必须是 YYYY-MM-DDTHH:MM 格式", field="clearing.once_at"
            ) from None
    return ClearingSchedule(**kwargs)


def schedule_to_doc(schedule: ClearingSchedule) -> dict[str, Any]:
    once = schedule.once_local()
    return {
        "enabled": schedule.enabled,
        "kind": schedule.kind.value,
        "at": schedule.at.strftime("%H:%M"),
        "weekday": schedule.weekday,
        "day": schedule.day,
        "once_at": None if once is None else once.strftime("%Y-%m-%dT%H:%M"),
    }


async def load_schedule() -> ClearingSchedule:
    row = await JobSetting.get_or_none(name=JOB_NAME)
    return schedule_from_doc(row.config if row else None)


async def save_schedule(schedule: ClearingSchedule) -> None:
    await JobSetting.update_or_create(defaults={"config": schedule_to_doc(schedule)}, name=JOB_NAME)


def latest_slot(schedule: ClearingSchedule, now: datetime) -> datetime | None:
    """The latest scheduled time at or before ``now`` (aware, Beijing time), or None if there is
    none (``once`` still in the future). Whether clearing is enabled is not considered here."""
    local = now.astimezone(LOCAL_TZ)
    if schedule.kind == ClearingKind.ONCE:
        once = schedule.once_local()
        return once if once is not None and once <= local else None
    at = local.replace(hour=schedule.at.hour, minute=schedule.at.minute, second=0, microsecond=0)
    if schedule.kind == ClearingKind.DAILY:
        return at if at <= local else at - timedelta(days=1)
    if schedule.kind == ClearingKind.WEEKLY:
        at -= timedelta(days=(at.isoweekday() - schedule.weekday) % 7)
        return at if at <= local else at - timedelta(days=7)
    at = at.replace(day=schedule.day)
    if at <= local:
        return at
    month_before = at.replace(day=1) - timedelta(days=1)
    return at.replace(year=month_before.year, month=month_before.month)


async def scheduled_slot(now: datetime) -> datetime | None:
    """The slot a scheduled run at ``now`` belongs to, or None when clearing is switched off."""
    schedule = await load_schedule()
    return latest_slot(schedule, now) if schedule.enabled else None


@dataclass(frozen=True)
class ClearingProgress:
    queue_key: str
    cleared_in_queue: int
    cleared_total: int


@dataclass
class ClearingReport:
    slot: str
    entries: int = 0
    forfeited_fen: int = 0
    queues: dict[str, int] = field(default_factory=dict)  # queue key → entries cleared

    def as_changes(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "entries": self.entries,
            "forfeited_fen": self.forfeited_fen,
            "queues": self.queues,
        }


async def clear_waiting_entries(
    *,
    now: datetime,
    slot: datetime,
    chunk: int = CHUNK,
    progress: Callable[[ClearingProgress], None] | None = None,
) -> ClearingReport:
    """Clear every entry waiting at ``slot`` (joined at or before it), queue by queue, ``chunk``
    entries per transaction; ``progress`` is called after each chunk."""
    report = ClearingReport(slot=slot.isoformat())
    after_id = 0
    while True:
        queues = await fetch(
            connections.get("default"),
            "SELECT id, key FROM queue WHERE id > $1 AND waiting_count > 0 ORDER BY id LIMIT $2",
            [after_id, chunk],
        )
        for q in queues:
            await _clear_queue(int(q["id"]), str(q["key"]), now, slot, chunk, report, progress)
        if len(queues) < chunk:
            return report
        after_id = int(queues[-1]["id"])


def _cleared(row: Mapping[str, Any], queue_key: str) -> Event:
    """The member is told their entry was cleared and what it forfeited."""
    paid, entitlement = int(row["paid_fen"]), int(row["entitlement_fen"])
    return Event(
        "entry_cleared",
        int(row["member_id"]),
        {
            "entry_id": int(row["id"]),
            "queue": queue_key,
            "paid_fen": paid,
            "entitlement_fen": entitlement,
            "forfeited_fen": entitlement - paid,
        },
    )


async def _clear_queue(
    queue_id: int,
    key: str,
    now: datetime,
    slot: datetime,
    chunk: int,
    report: ClearingReport,
    progress: Callable[[ClearingProgress], None] | None,
) -> None:
    while True:
        async with in_transaction() as conn:
            await lock_queue(conn, queue_id)
            rows = await fetch(
                conn,
                "SELECT id, member_id, entitlement_fen, paid_fen FROM entry"
                " WHERE queue_id = $1 AND status = $2 AND created_at <= $3 ORDER BY seq LIMIT $4",
                [queue_id, EntryStatus.WAITING.value, slot.astimezone(UTC), chunk],
            )
            if not rows:
                return
            ids = [int(r["id"]) for r in rows]
            await execute(
                conn,
                f"UPDATE entry SET status = $1, updated_at = $2 WHERE status = $3 AND id IN ({marks(4, len(ids))})",
                [EntryStatus.CLEARED.value, now, EntryStatus.WAITING.value, *ids],
            )
            await execute(
                conn,
                "UPDATE queue SET waiting_count = waiting_count - $1 WHERE id = $2",
                [len(ids), queue_id],
            )
            events = [_cleared(r, key) for r in rows]
            await emit(conn, events, now)
        report.entries += len(ids)
        report.forfeited_fen += sum(e.payload["forfeited_fen"] for e in events)
        report.queues[key] = report.queues.get(key, 0) + len(ids)
        if progress is not None:
            progress(ClearingProgress(key, report.queues[key], report.entries))
        if len(ids) < chunk:
            return
