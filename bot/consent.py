"""Mini-program subscribe-message consents, counted on our side (WeChat offers no API to read
them). Rule: one consent buys one message. A member grants consents in the mini-program
(``wx.requestSubscribeMessage`` answers "accept" per template); the API then calls
``grant_consent``. The notifier sends only while the count is positive, takes one per message
WeChat accepts, and sets it to 0 when WeChat answers 43101 (none left after all)."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import SubscribeConsent
from runtime.sql import execute

MAX_GRANT = 100  # consents one call may add: a client cannot inflate the count without bound


async def grant_consent(
    member_id: int, template_id: str, n: int = 1, *, now: datetime | None = None
) -> int:
    """Add ``n`` consents for ``template_id``; returns the member's remaining count."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_GRANT:
        raise ValueError(f"consents granted at once must be 1..{MAX_GRANT}")
    if not template_id:
        raise ValueError("template_id is required")
    now = now or datetime.now(UTC)
    conn = connections.get("default")
    await execute(
        conn,
        "INSERT INTO subscribe_consent (member_id, template_id, remaining, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (member_id, template_id) DO UPDATE SET"
        " remaining = subscribe_consent.remaining + excluded.remaining,"
        " updated_at = excluded.updated_at",
        [member_id, template_id, n, now],
    )
    return await remaining_consents(member_id, template_id)


async def remaining_consents(member_id: int, template_id: str) -> int:
    row = await SubscribeConsent.get_or_none(member_id=member_id, template_id=template_id)
    return row.remaining if row else 0


async def use_consent(
    conn: BaseDBAsyncClient, member_id: int, template_id: str, now: datetime
) -> None:
    """One message went out: one consent less (never below 0)."""
    await execute(
        conn,
        "UPDATE subscribe_consent SET remaining = remaining - 1, updated_at = $1"
        " WHERE member_id = $2 AND template_id = $3 AND remaining > 0",
        [now, member_id, template_id],
    )


async def exhaust_consent(
    conn: BaseDBAsyncClient, member_id: int, template_id: str, now: datetime
) -> None:
    """WeChat answered 43101: whatever we counted, none are left."""
    await execute(
        conn,
        "UPDATE subscribe_consent SET remaining = 0, updated_at = $1"
        " WHERE member_id = $2 AND template_id = $3",
        [now, member_id, template_id],
    )
