"""Mini-program subscribe-message consents (订阅消息), counted on our side (WeChat offers no API
to read them). Rule: one consent buys one message — WeChat's one-time subscription.

A member is asked in the mini-program (``wx.requestSubscribeMessage``), which answers per
template id ``accept``, ``reject``, ``ban`` (the member switched the template off for good) or
``filter`` (WeChat hid the request); the mini-program posts that answer and
``record_results`` applies it: ``accept`` adds one consent, ``reject`` and ``ban`` zero the
member's count for the template (they stop it), ``filter`` changes nothing. Only the template
ids the operator configured (``[bot.subscribe_templates]``, event kind → template) are taken;
any other is refused, and then nothing of the answer is applied.

The notifier sends only while the count is positive, takes one per message WeChat accepts, and
sets it to 0 when WeChat answers 43101 (none left after all)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import SubscribeConsent
from runtime.bot_settings import Template
from runtime.sql import execute
from services.errors import InvalidField

log = logging.getLogger(__name__)

MAX_GRANT = 100  # consents one call may add: a client cannot inflate the count without bound
MAX_REMAINING = 100  # the most a member's count for one template may reach
MAX_TEMPLATE_ID = 64  # the column's length
RESULTS = ("accept", "reject", "ban", "filter")  # what wx.requestSubscribeMessage answers
STOPS = ("reject", "ban")

# What each member-facing event kind tells the member, as the template's purpose.
PURPOSES: Mapping[str, str] = {
    "entry_joined": "加入排队通知",
    "lottery_available": "抽奖机会通知",
    "lottery_drawn": "抽奖结果通知",
    "payout_received": "返利到账通知",
    "entry_completed": "权益返完通知",
    "entry_converted": "权益转积分通知",
    "entry_refunded": "权益失效通知",
    "entry_cleared": "权益清零通知",
    "entry_exchanged": "权益兑换通知",
    "commission_earned": "佣金待到账通知",
    "commission_released": "佣金到账通知",
    "commission_received": "佣金到账通知",
    "dividend_received": "分红到账通知",
    "withdrawal_result": "提现结果通知",
    "balance_adjusted": "余额调整通知",
    "merchant_application_decided": "入驻审核结果通知",
    "statement_closed": "结算单生成通知",
    "statement_paid": "结算打款通知",
    "statement_confirm_needed": "确认收款提醒",
    "member_level_changed": "会员等级变更通知",
    "pool_entry_joined": "工会排队通知",
    "pool_not_queued": "工会排队已满通知",
    "pool_paid": "工会分红到账通知",
    "pool_accelerated": "加速到账通知",
    "pool_entry_refunded": "工会排队失效通知",
    "pool_wait_changed": "预计等待时间变化通知",
}


@dataclass(frozen=True)
class Configured:
    """One configured template id and the event kinds it carries (in configuration order)."""

    template_id: str
    kinds: tuple[str, ...]

    @property
    def purpose(self) -> str:
        return "、".join(dict.fromkeys(PURPOSES.get(k, k) for k in self.kinds))


def configured(templates: Mapping[str, Template]) -> list[Configured]:
    """The operator's templates by id (several kinds may share one id)."""
    by_id: dict[str, list[str]] = {}
    for kind, template in templates.items():
        if template.template_id:
            by_id.setdefault(template.template_id, []).append(kind)
    return [Configured(t, tuple(kinds)) for t, kinds in by_id.items()]


async def grant_consent(
    member_id: int, template_id: str, n: int = 1, *, now: datetime | None = None
) -> int:
    """Add ``n`` consents for ``template_id``; returns the member's remaining count."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_GRANT:
        raise ValueError(f"consents granted at once must be 1..{MAX_GRANT}")
    if not template_id:
        raise ValueError("template_id is required")
    await _add(connections.get("default"), member_id, template_id, n, now or datetime.now(UTC))
    return await remaining_consents(member_id, template_id)


async def _add(
    conn: BaseDBAsyncClient, member_id: int, template_id: str, n: int, now: datetime
) -> None:
    await execute(
        conn,
        "INSERT INTO subscribe_consent (member_id, template_id, remaining, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (member_id, template_id) DO UPDATE SET"
        " remaining = CASE WHEN subscribe_consent.remaining + excluded.remaining > $5"
        " THEN $5 ELSE subscribe_consent.remaining + excluded.remaining END,"
        " updated_at = excluded.updated_at",
        [member_id, template_id, min(n, MAX_REMAINING), now, MAX_REMAINING],
    )


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
    """WeChat answered 43101, or the member rejected or banned the template: none are left."""
    await execute(
        conn,
        "UPDATE subscribe_consent SET remaining = 0, updated_at = $1"
        " WHERE member_id = $2 AND template_id = $3",
        [now, member_id, template_id],
    )


# --- the member's side --------------------------------------------------------------------------


def _checked(results: Mapping[str, Any], known: set[str]) -> dict[str, str]:
    """The answer, every template id configured and every result one WeChat gives; else a 400
    naming ``results.<template id>`` (the first one wrong, in the answer's order)."""
    if not results:
        raise InvalidField("results 不能为空", field="results")
    for template_id, result in results.items():
        name = f"results.{template_id[:MAX_TEMPLATE_ID]}"
        if template_id not in known:
            log.info("subscribe answer names an unknown template %r", template_id[:80])
            raise InvalidField(f"{name} 不是本商城配置的订阅消息模板", field=name)
        if result not in RESULTS:
            raise InvalidField(f"{name} 必须是以下之一：{'、'.join(RESULTS)}", field=name)
    return {str(t): str(r) for t, r in results.items()}


async def record_results(
    member_id: int,
    results: Mapping[str, Any],
    templates: Mapping[str, Template],
    *,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """Apply one ``wx.requestSubscribeMessage`` answer (see the module doc), all of it or —
    when any template id or result is refused — none of it; returns the member's counts."""
    answer = _checked(results, {c.template_id for c in configured(templates)})
    async with in_transaction() as conn:
        for template_id, result in answer.items():
            if result == "accept":
                await _add(conn, member_id, template_id, 1, now)
            elif result in STOPS:
                await exhaust_consent(conn, member_id, template_id, now)
    return await my_subscriptions(member_id, templates)


async def my_subscriptions(
    member_id: int, templates: Mapping[str, Template]
) -> dict[str, dict[str, Any]]:
    """Template id → what it is for and the member's remaining count, for each configured
    template in configuration order."""
    rows = await SubscribeConsent.filter(member_id=member_id).values_list(
        "template_id", "remaining"
    )
    counts: dict[str, int] = {str(t): int(r) for t, r in rows}
    return {
        c.template_id: {
            "kinds": list(c.kinds),
            "purpose": c.purpose,
            "remaining": counts.get(c.template_id, 0),
        }
        for c in configured(templates)
    }
