"""What the live demo's chapters share: its error, a signed-in member, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.errors import CommandError


class DemoFailed(CommandError):
    """A step of the story did not get the answer it should have (the CLI says which, exit 2)."""


@dataclass
class Shopper:
    name: str
    token: str
    member_id: int
    referral_code: str = ""


@dataclass
class StoryReport:
    """What happened, for the final summary and for the test."""

    orders: list[str] = field(default_factory=list)  # out_trade_no, every order created
    notified: dict[str, int] = field(default_factory=dict)  # out_trade_no → our HTTP answer
    reconciled: list[str] = field(default_factory=list)  # paid, found by the reconciliation job
    refunds: dict[str, int] = field(default_factory=dict)  # out_refund_no → our HTTP answer
    problems: list[str] = field(default_factory=list)  # conservation problems (none expected)
    page: str = ""  # GET /demo at the end of the story
    operator_login: int = 0  # the demo operator's POST /api/admin/session, after the story
    pool_entries: list[dict[str, Any]] = field(default_factory=list)  # after the daily close
    pool_day: dict[str, Any] = field(default_factory=dict)  # the day's statement
