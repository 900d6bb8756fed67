"""The outbox (SPEC §9): what happened, for the chat bot to tell, written in the same
transaction as the change it describes. Delivery never rolls money back.

``emit()`` is the one way an event is written. Payloads are JSON objects of plain values,
encoded one way: compact, with Chinese kept as is (``to_json``). The queue writer builds the
same text for its own events by hand, several per settled order, and its PostgreSQL path sends
them by COPY (tests/services/test_writer_events.py pins them to ``to_json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from tortoise.backends.base.client import BaseDBAsyncClient

from runtime.sql import insert_many

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
