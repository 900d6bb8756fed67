"""Operator alerts (a new merchant application, a commission guardrail excess an operator
acknowledged).

``alert_operators(text)`` writes an ``operator_alert`` event to the outbox; the notifier sends
it to the WeCom group bot with the same durability as member messages (recorded, retried with
backoff, rate limited to the group bot's 20 a minute). Pass ``conn`` to write it in the
caller's transaction, so the alert exists exactly when what it reports does.
"""

from __future__ import annotations

from datetime import datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from services.clock import utcnow
from services.outbox import Event, emit

MAX_ALERT_BYTES = 2000  # the group bot accepts at most 2048 bytes of UTF-8 text


async def alert_operators(
    text: str, *, conn: BaseDBAsyncClient | None = None, now: datetime | None = None
) -> None:
    """Queue ``text`` for the operators' group."""
    text = text.strip()
    if not text:
        raise ValueError("an alert needs text")
    payload = {"text": text.encode()[:MAX_ALERT_BYTES].decode("utf-8", "ignore")}
    await emit(conn or connections.get("default"), [Event("operator_alert", None, payload)],
               now or utcnow())  # fmt: skip
