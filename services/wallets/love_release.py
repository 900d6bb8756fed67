"""爱心值释放 (SPEC §10): frozen love value becomes available by a scheduled job.

Love value is credited frozen when 爱心值奖励冻结 (``base.love_frozen``) is on — by an exchange
(``services.queues.exchange``) — or when an operator adjusts the frozen balance by hand. The
``love`` settings document says when it is released: ``release_days`` after it was credited
(default 7), or never by itself (``release_enabled`` off: it stays frozen until an operator
moves it).

A run for slot ``S`` releases, per member, what was credited to their frozen balance at or
before ``S − release_days`` and has not left it since, oldest first: Σ matured credits − Σ
everything that ever left the frozen balance (earlier releases and operators' deductions,
counted against the oldest credits). One posting per member and run,
``love_release:<member>:<slot>`` from ``member:<id>:love_frozen`` to
``member:<id>:love_available``, under the member's wallet row lock, with a ``love_released``
outbox event. The amount is derived from the books, so running a slot again — or any later
slot — releases nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.balances import balances_of
from ledger.postings import Posting, post, posted
from models import SettingDoc
from rebate.errors import InvalidSetting
from runtime.sql import fetch
from services.outbox import Event, emit
from services.settings.codec import _bool, _int, _known

SETTINGS_DOC = "love"
JOB_NAME = "love-release"
RELEASED_EVENT = "love_released"
MAX_RELEASE_DAYS = 3650


@dataclass(frozen=True)
class LoveSettings:
    """爱心值设置 — when frozen love value becomes available."""

    release_enabled: bool = True  # 冻结爱心值自动释放
    release_days: int = 7  # 冻结天数, counted from the credit

    def __post_init__(self) -> None:
        if not 0 <= self.release_days <= MAX_RELEASE_DAYS:
            raise InvalidSetting(
                f"冻结天数须在 0–{MAX_RELEASE_DAYS} 之间", field="love.release_days"
            )


def settings_from_doc(doc: Mapping[str, Any] | None) -> LoveSettings:
    doc = doc or {}
    _known(doc, {"release_enabled", "release_days"}, "love.")
    kwargs: dict[str, Any] = {}
    if "release_enabled" in doc:
        kwargs["release_enabled"] = _bool(doc["release_enabled"], "love.release_enabled")
    if "release_days" in doc:
        kwargs["release_days"] = _int(doc["release_days"], "love.release_days")
    return LoveSettings(**kwargs)


def settings_to_doc(settings: LoveSettings) -> dict[str, Any]:
    return {"release_enabled": settings.release_enabled, "release_days": settings.release_days}


async def load_love_settings() -> LoveSettings:
    row = await SettingDoc.get_or_none(name=SETTINGS_DOC)
    return settings_from_doc(row.config if row else None)


def release_key(member_id: int, slot: datetime) -> str:
    """``love_release:<member>:<slot, UTC to the microsecond>``: one per member and run."""
    return f"love_release:{member_id}:{slot.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"


async def release_frozen_love(now: datetime, slot: datetime, *, batch: int = 500) -> dict[str, Any]:
    """Job: release the frozen love value that matured by ``slot`` (see the module doc).
    Each member is one transaction. What it did: members released and the love value moved."""
    settings = await load_love_settings()
    if not settings.release_enabled:
        return {"released": 0, "amount": 0, "note": "release_enabled is off"}
    cutoff = slot - timedelta(days=settings.release_days)
    released = amount = 0
    after = 0
    while True:
        rows = await fetch(
            connections.get("default"),
            "SELECT member_id FROM wallet WHERE love_frozen > 0 AND member_id > $1"
            " ORDER BY member_id LIMIT $2",
            [after, batch],
        )
        for row in rows:
            moved = await _release_member(int(row["member_id"]), cutoff, slot, now)
            released += 1 if moved else 0
            amount += moved
        if len(rows) < batch:
            return {"released": released, "amount": amount}
        after = int(rows[-1]["member_id"])


async def _release_member(member_id: int, cutoff: datetime, slot: datetime, now: datetime) -> int:
    frozen = accounts.member(member_id, "love_frozen")
    key = release_key(member_id, slot)
    async with in_transaction() as conn:
        held = await balances_of(member_id, conn, lock=True)
        if await posted(conn, key) is not None:
            return 0
        rows = await fetch(
            conn,
            "SELECT COALESCE(SUM(CASE WHEN credit = $1 AND created_at <= $2 THEN amount"
            " ELSE 0 END), 0) AS matured, COALESCE(SUM(CASE WHEN debit = $1 THEN amount"
            " ELSE 0 END), 0) AS gone FROM posting WHERE credit = $1 OR debit = $1",
            [frozen, cutoff],
        )
        due = min(int(rows[0]["matured"]) - int(rows[0]["gone"]), held.love_frozen)
        if due <= 0:
            return 0
        available = accounts.member(member_id, "love_available")
        await post(
            conn, [Posting(key, "love_release", frozen, available, "love", due, memo="冻结爱心值释放")],
            now,
        )  # fmt: skip
        told = {"amount": due, "love_available": held.love_available + due}
        await emit(conn, [Event(RELEASED_EVENT, member_id, told)], now)
    return due
