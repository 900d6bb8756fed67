"""The notifier's bookkeeping: reading the outbox into deliveries, claiming deliveries, and
recording how each attempt went. Only the notification tables are written here.

Reading the outbox (``take_events``), one transaction:
  1. lock the consumer's cursor row (PostgreSQL ``FOR UPDATE SKIP LOCKED``: a second notifier
     skips this step instead of waiting; SQLite serialises writers, so the cursor is written
     first to take the write lock);
  2. read the next events in id order, plus ids seen missing before that have now appeared;
  3. insert one delivery per (event, channel) — ``ON CONFLICT DO NOTHING`` on that unique key;
  4. move the cursor past them.
  An event is therefore either not yet read or has its deliveries recorded, never neither.

Ids and commit order: outbox ids come from a sequence, but transactions commit in any order, so
id 10 may become visible after id 11. An id missing below the newest one read is remembered on
the cursor (``gaps``) and looked for again on every pass for ``gap_retention`` seconds, then
forgotten (a rolled-back transaction never fills its id). A late event is delivered when it
appears: out of id order, but only relative to events of a concurrent transaction, which
cannot be about the same entry (its queue's writer lock orders those).

Claiming (``claim``): a pending delivery whose time has come, or one whose lease ran out, is
marked ``sending`` with a lease. Per member and channel, a delivery is not claimed while an
earlier one is still pending or sending, so a member's messages arrive in event order and two
notifiers never send to the same member on the same channel at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.channels import Claimed, Outcome, Result
from models import DeliveryStatus, Member, NotifierCursor, OutboxEvent
from runtime.sql import dumps, execute, fetch, is_pg, loads, marks, placeholders
from services.members.consents import exhaust_consent, use_consent

log = logging.getLogger(__name__)

MAX_GAPS = 1000  # ids watched at once; a larger jump in the sequence is not a commit gap


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    member_id: int | None
    member_openid: str | None
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Planned:
    channel: str
    content: Mapping[str, Any]


Plan = Callable[[Event], Sequence[Planned]]


async def ensure_cursor(consumer: str, now: datetime) -> None:
    await execute(
        _conn(),
        "INSERT INTO notifier_cursor (consumer, last_event_id, gaps, updated_at)"
        " VALUES ($1, 0, $2, $3) ON CONFLICT (consumer) DO NOTHING",
        [consumer, "{}", now],
    )


async def take_events(
    consumer: str, plan: Plan, *, batch: int, gap_retention: int, now: datetime
) -> int | None:
    """Turn the next ``batch`` outbox events into deliveries; the number of events read, or
    ``None`` when another notifier holds the cursor."""
    async with in_transaction() as conn:
        if not is_pg(conn):
            await execute(
                conn,
                "UPDATE notifier_cursor SET updated_at = $1 WHERE consumer = $2",
                [now, consumer],
            )
        cursor = (
            await NotifierCursor.filter(consumer=consumer)
            .select_for_update(skip_locked=True)
            .using_db(conn)
            .first()
        )
        if cursor is None:
            return None
        gaps = {int(k): float(v) for k, v in (loads(cursor.gaps) or {}).items()}
        fresh = (
            await OutboxEvent.filter(id__gt=cursor.last_event_id)
            .order_by("id")
            .limit(batch)
            .using_db(conn)
        )
        late = await OutboxEvent.filter(id__in=sorted(gaps)).using_db(conn) if gaps else []
        stamp = now.timestamp()
        expected = cursor.last_event_id + 1
        for event in fresh:
            for missing in range(expected, min(event.id, expected + MAX_GAPS)):
                gaps.setdefault(missing, stamp)
            expected = event.id + 1
        for event in late:
            gaps.pop(event.id, None)
        gaps = {k: v for k, v in gaps.items() if stamp - v < gap_retention}
        if len(gaps) > MAX_GAPS:
            gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
        events = sorted([*late, *fresh], key=lambda e: e.id)
        await _record(conn, await _with_members(conn, events), plan, now)
        cursor.last_event_id = fresh[-1].id if fresh else cursor.last_event_id
        cursor.gaps = {str(k): v for k, v in gaps.items()}
        cursor.updated_at = now
        await cursor.save(using_db=conn)
        if late:
            log.info("outbox: %d event(s) committed late, delivered now", len(late))
        return len(events)


async def _with_members(conn: BaseDBAsyncClient, events: Sequence[OutboxEvent]) -> list[Event]:
    ids = {e.member_id for e in events if e.member_id is not None}  # type: ignore[attr-defined]
    openids = (
        dict(await Member.filter(id__in=sorted(ids)).using_db(conn).values_list("id", "openid"))
        if ids
        else {}
    )
    out = []
    for e in events:
        member_id = e.member_id  # type: ignore[attr-defined]
        out.append(
            Event(
                e.id,
                e.kind,
                member_id,
                openids.get(member_id) if member_id else None,
                loads(e.payload) or {},
                e.created_at,
            )
        )
    return out


async def _record(
    conn: BaseDBAsyncClient, events: Sequence[Event], plan: Plan, now: datetime
) -> None:
    rows: list[list[Any]] = []
    for event in events:
        for planned in plan(event):
            rows.append(
                [
                    event.id,
                    planned.channel,
                    event.member_id,
                    event.kind,
                    dumps(planned.content),
                    DeliveryStatus.PENDING.value,
                    0,
                    now,
                    "",
                    now,
                ]
            )
    columns = (
        "event_id, channel, member_id, kind, content, status, attempts, next_attempt_at,"
        " last_error, created_at"
    )
    for at in range(0, len(rows), 200):
        chunk = rows[at : at + 200]
        groups: list[str] = []
        args: list[Any] = []
        for row in chunk:
            groups.append(f"({', '.join(placeholders(conn, len(row), len(args) + 1))})")
            args.extend(row)
        await conn.execute_query(
            f"INSERT INTO notification_delivery ({columns}) VALUES {', '.join(groups)}"
            " ON CONFLICT (event_id, channel) DO NOTHING",
            args,
        )


# --- claiming and recording -------------------------------------------------------------------


async def claim(limit: int, *, now: datetime, lease: timedelta) -> tuple[datetime, list[Claimed]]:
    """Claim up to ``limit`` deliveries that are due; returns the lease and what was claimed."""
    lease_until = now + lease
    conn = _conn()
    lock = " FOR UPDATE SKIP LOCKED" if is_pg(conn) else ""
    rows = await fetch(
        conn,
        "UPDATE notification_delivery SET status = 'sending', lease_until = $1,"
        " attempts = attempts + 1"
        " WHERE id IN (SELECT d.id FROM notification_delivery d"
        "  WHERE ((d.status = 'pending' AND d.next_attempt_at <= $2)"
        "     OR (d.status = 'sending' AND d.lease_until < $2))"
        "  AND NOT EXISTS (SELECT 1 FROM notification_delivery e"
        "     WHERE e.member_id = d.member_id AND e.channel = d.channel AND e.id < d.id"
        "     AND e.status IN ('pending', 'sending'))"
        f"  ORDER BY d.id LIMIT $3{lock})"
        " RETURNING id, event_id, channel, member_id, kind, content, attempts",
        [lease_until, now, limit],
    )
    claimed = [
        Claimed(
            id=int(r["id"]),
            event_id=int(r["event_id"]),
            channel=str(r["channel"]),
            member_id=int(r["member_id"]) if r["member_id"] is not None else None,
            kind=str(r["kind"]),
            content=loads(r["content"]) or {},
            attempts=int(r["attempts"]),
        )
        for r in rows
    ]
    return lease_until, sorted(claimed, key=lambda c: c.id)


async def release(ids: Sequence[int], lease_until: datetime) -> None:
    """Hand back claimed deliveries not tried yet (the lease would run out mid-send)."""
    if not ids:
        return
    conn = _conn()
    await execute(
        conn,
        "UPDATE notification_delivery SET status = 'pending', lease_until = NULL,"
        " attempts = attempts - 1"
        f" WHERE status = 'sending' AND lease_until = $1 AND id IN ({marks(2, len(ids))})",
        [lease_until, *ids],
    )


@dataclass(frozen=True)
class Retry:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """Exponential: base, 2·base, 4·base … up to the cap."""
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2 ** (attempts - 1)))


async def finish(
    delivery: Claimed, result: Result, *, lease_until: datetime, now: datetime, retry: Retry
) -> DeliveryStatus:
    """Record the attempt and the delivery's new state, in one transaction. If our lease ran
    out and another notifier took the delivery over, its state is theirs to set: only the
    attempt is recorded (and the consent count follows what WeChat did)."""
    status = {
        Outcome.SENT: DeliveryStatus.SENT,
        Outcome.REFUSED: DeliveryStatus.REFUSED,
        Outcome.SKIPPED: DeliveryStatus.SKIPPED,
        Outcome.FAILED: DeliveryStatus.FAILED,
        Outcome.RETRY: DeliveryStatus.PENDING,
    }[result.outcome]
    next_at = now
    if result.outcome is Outcome.RETRY:
        if delivery.attempts >= retry.max_attempts:
            status = DeliveryStatus.FAILED
        else:
            next_at = now + retry.delay(delivery.attempts)
    error = "" if status is DeliveryStatus.SENT else _error(result)
    async with in_transaction() as conn:
        updated = await execute(
            conn,
            "UPDATE notification_delivery SET status = $1, next_attempt_at = $2,"
            " lease_until = NULL, last_error = $3, sent_at = $4"
            " WHERE id = $5 AND status = 'sending' AND lease_until = $6",
            [
                status.value,
                next_at,
                error,
                now if status is DeliveryStatus.SENT else None,
                delivery.id,
                lease_until,
            ],
        )
        await execute(
            conn,
            "INSERT INTO delivery_attempt (delivery_id, number, outcome, recipient, errcode,"
            " detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                delivery.id,
                delivery.attempts,
                result.outcome.value,
                result.recipient[:64],
                result.errcode,
                result.detail[:255],
                now,
            ],
        )
        template_id = str(delivery.content.get("template_id", ""))
        if delivery.channel == "subscribe" and delivery.member_id is not None and template_id:
            if result.outcome is Outcome.SENT:
                await use_consent(conn, delivery.member_id, template_id, now)
            elif result.outcome is Outcome.REFUSED:
                await exhaust_consent(conn, delivery.member_id, template_id, now)
    if not updated:
        log.warning("delivery %d: lease lost before its outcome was recorded", delivery.id)
    return status


def _error(result: Result) -> str:
    code = f"[{result.errcode}] " if result.errcode is not None else ""
    return f"{result.outcome.value}: {code}{result.detail}"[:255]


def _conn() -> BaseDBAsyncClient:
    conn: BaseDBAsyncClient = connections.get("default")
    return conn
