"""The outbox (SPEC §9): what happened, for the chat bot to tell, written in the same
transaction as the change it describes. Delivery never rolls money back.

``emit()`` is the one way an event is written. Payloads are JSON objects of plain values,
encoded one way: compact, with Chinese kept as is (``to_json``). The queue writer builds the
same text for its own events by hand, several per settled order, and its PostgreSQL path sends
them by COPY (tests/services/test_writer_events.py pins them to ``to_json``).

Nothing else deletes events, so the table would only grow: ``prune_delivered`` (the daily
``outbox-retention`` job, ``[outbox] retention_days``) deletes delivered events older than that,
with their deliveries; ``backlog`` counts what is still to deliver (the ``/metrics`` gauge).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import (
    DeliveryAttempt,
    DeliveryStatus,
    NotificationDelivery,
    NotifierCursor,
    OutboxEvent,
)
from runtime.sql import fetch, insert_many, loads

COLUMNS = ("kind", "member_id", "payload", "created_at")
# One encoder: json.dumps with any non-default option builds a new one per call.
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Event(NamedTuple):
    """``kind`` for the bot (entry_joined, payout_received, withdrawal_result, …), the member it
    is about (None: the operators), and its payload."""

    kind: str
    member_id: int | None
    payload: Mapping[str, Any]


async def emit(conn: BaseDBAsyncClient, events: Sequence[Event], now: datetime) -> None:
    """Write the events in the caller's transaction, in order."""
    if events:
        await insert_many(
            conn,
            "outbox_event",
            COLUMNS,
            [(e.kind, e.member_id, to_json(dict(e.payload)), now) for e in events],
        )


# --- what is left to deliver, and forgetting what was delivered ---------------------------------

UNFINISHED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
PRUNE_CHUNK = 1000


async def _read_up_to() -> tuple[int, set[int]]:
    """The highest event id every notifier consumer has read past (0: none has read any), and
    the ids below it they still look for (``gaps``: committed late, not read yet)."""
    cursors = await NotifierCursor.all().values("last_event_id", "gaps")
    if not cursors:
        return 0, set()
    gaps = {int(k) for c in cursors for k in (loads(c["gaps"]) or {})}
    return min(int(c["last_event_id"]) for c in cursors), gaps


async def backlog() -> int:
    """Events not delivered yet: not read by the notifier, or with a delivery still pending or
    being sent. Delivered (sent, skipped, refused, failed for good) events do not count."""
    read_up_to, _ = await _read_up_to()
    unread = await OutboxEvent.filter(id__gt=read_up_to).count()
    rows = await fetch(
        connections.get("default"),
        "SELECT COUNT(DISTINCT event_id) AS n FROM notification_delivery WHERE status IN ($1, $2)",
        list(UNFINISHED),
    )
    return unread + int(rows[0]["n"])


async def prune_delivered(*, before: datetime, chunk: int = PRUNE_CHUNK) -> dict[str, int]:
    """Delete the events created before ``before`` that are delivered — read by every notifier
    consumer, none of their deliveries pending or being sent — with their deliveries and the
    deliveries' attempts, ``chunk`` events per transaction. An event nobody has read (no
    notifier runs) is never deleted."""
    read_up_to, gaps = await _read_up_to()
    deleted = {"events": 0, "deliveries": 0, "attempts": 0}
    after = 0
    while True:
        ids = await (
            OutboxEvent.filter(id__gt=after, id__lte=read_up_to, created_at__lt=before)
            .order_by("id")
            .limit(chunk)
            .values_list("id", flat=True)
        )
        if not ids:
            return deleted
        after = int(ids[-1])
        for name, n in (await _delete_delivered([int(i) for i in ids], gaps)).items():
            deleted[name] += n


async def _delete_delivered(ids: list[int], gaps: set[int]) -> dict[str, int]:
    async with in_transaction() as conn:
        busy = await (
            NotificationDelivery.filter(event_id__in=ids, status__in=UNFINISHED)
            .using_db(conn)
            .values_list("event_id", flat=True)
        )
        done = sorted(set(ids) - {int(i) for i in busy} - gaps)
        if not done:
            return {}
        deliveries = await (
            NotificationDelivery.filter(event_id__in=done)
            .using_db(conn)
            .values_list("id", flat=True)
        )
        attempts = await DeliveryAttempt.filter(delivery_id__in=deliveries).using_db(conn).delete()
        removed = await NotificationDelivery.filter(id__in=deliveries).using_db(conn).delete()
        events = await OutboxEvent.filter(id__in=done).using_db(conn).delete()
    return {"events": events, "deliveries": removed, "attempts": attempts}
