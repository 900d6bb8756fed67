"""Auto-complete (自动确认收货): orders paid more than N days ago (default 7) and never confirmed
by their member are completed as if the member had confirmed receipt — through
``services.orders.lifecycle.complete_order``, so under 完成后结算 they settle exactly as a confirmation
would settle them. An order confirmed, refunded or completed meanwhile is left alone.

Runs hourly (``services.jobs``), oldest paid first, in batches until nothing due is left. Its
settings are a ``job_setting`` row ``auto_complete``: ``{"enabled": true, "after_days": 7}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models import JobSetting, Order, OrderStatus
from rebate.errors import InvalidSetting, NotAllowed
from services.orders.lifecycle import complete_order
from services.orders.reconciliation import every
from services.settings.codec import _bool, _int, _known

log = logging.getLogger(__name__)

JOB_NAME = "auto_complete"
INTERVAL_MINUTES = 60
BATCH = 200


@dataclass(frozen=True)
class AutoCompletePolicy:
    enabled: bool = True
    after_days: int = 7

    def __post_init__(self) -> None:
        if self.after_days < 1:
            raise InvalidSetting("自动确认收货天数至少为 1", field="auto_complete.after_days")


def policy_from_doc(doc: Mapping[str, Any] | None) -> AutoCompletePolicy:
    doc = doc or {}
    _known(doc, {"enabled", "after_days"}, "auto_complete.")
    kwargs: dict[str, Any] = {}
    if "enabled" in doc:
        kwargs["enabled"] = _bool(doc["enabled"], "auto_complete.enabled")
    if "after_days" in doc:
        kwargs["after_days"] = _int(doc["after_days"], "auto_complete.after_days")
    return AutoCompletePolicy(**kwargs)


async def load_policy() -> AutoCompletePolicy:
    row = await JobSetting.get_or_none(name=JOB_NAME)
    return policy_from_doc(row.config if row else None)


async def auto_complete_orders(
    *, now: datetime, after: timedelta = timedelta(days=7), batch: int = BATCH
) -> list[int]:
    """Complete every order paid at or before ``now - after``; the ids completed."""
    completed: list[int] = []
    while True:
        due = (
            await Order.filter(status=OrderStatus.PAID, paid_at__lte=now - after)
            .order_by("paid_at", "id")
            .limit(batch)
            .only("id")
        )
        for order in due:
            try:
                await complete_order(order.id, now=now)
            except NotAllowed:  # confirmed or refunded since it was listed: no longer due
                continue
            completed.append(order.id)
        if len(due) < batch:
            break
    if completed:
        log.info("auto-complete: %d order(s) completed %s after payment", len(completed), after)
    return completed


async def _enabled() -> bool:
    return (await load_policy()).enabled


scheduled_slot = every(INTERVAL_MINUTES, _enabled)


async def run_auto_complete(now: datetime, slot: datetime) -> dict[str, Any]:
    """The job's work for one slot."""
    policy = await load_policy()
    completed = await auto_complete_orders(now=now, after=timedelta(days=policy.after_days))
    return {"completed": len(completed), "order_ids": completed[:50]}
