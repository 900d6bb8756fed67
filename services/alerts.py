"""Operator alerts (new merchant application, failed withdrawal, conservation check failure).

``alert_operators(text)`` writes an ``operator_alert`` event to the outbox; the notifier sends
it to the WeCom group bot with the same durability as member messages (recorded, retried with
backoff, rate limited to the group bot's 20 a minute). Pass ``conn`` to write it in the
caller's transaction, so the alert exists exactly when what it reports does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from models import OutboxEvent

MAX_ALERT_BYTES = 2000  # the group bot accepts at most 2048 bytes of UTF-8 text


async def alert_operators(
    text: str, *, conn: BaseDBAsyncClient | None = None, now: datetime | None = None
) -> int:
    """Queue ``text`` for the operators' group; returns the outbox event id."""
    text = text.strip()
    if not text:
        raise ValueError("an alert needs text")
    event = await OutboxEvent.create(
        kind="operator_alert",
        member=None,
        payload={"text": text.encode()[:MAX_ALERT_BYTES].decode("utf-8", "ignore")},
        created_at=now or datetime.now(UTC),
        using_db=conn,
    )
    return int(event.id)
