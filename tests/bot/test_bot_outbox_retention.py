"""The outbox's backlog and retention: what counts as delivered is what the notifier read and
finished with (sent, skipped, refused, failed for good); only that is counted out of the backlog,
and only that, once old enough, is deleted (with its deliveries and their attempts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from models import DeliveryAttempt, NotificationDelivery, OutboxEvent
from services import outbox
from services.jobs import JobClients, run_job
from tests.bot.conftest import T0, member

PAYOUT = {
    "entry_id": 1,
    "amount_fen": 100,
    "paid_fen": 100,
    "entitlement_fen": 200,
    "progress_bp": 5000,
}


async def emit(member_id: int, *, days_after_t0: int = 0) -> OutboxEvent:
    at = T0 + timedelta(days=days_after_t0)
    return await OutboxEvent.create(
        kind="payout_received", member_id=member_id, payload=PAYOUT, created_at=at
    )


async def scenario(make_notifier: Any, mini_wx: Any) -> dict[str, OutboxEvent]:
    """``sent``: delivered on every channel (T0); ``busy``: its subscribe message is waiting for
    a retry (T0); ``recent``: delivered, 20 days after T0; ``unread``: written after the
    notifier's pass (T0)."""
    fine = await member(1, consents={"T_payout_received": 5})
    unlucky = await member(2, consents={"T_payout_received": 5})
    mini_wx.subscribe_errcodes["o-mini-2"] = -1  # WeChat busy: retried later
    events = {
        "sent": await emit(fine.id),
        "busy": await emit(unlucky.id),
        "recent": await emit(fine.id, days_after_t0=20),
    }
    await make_notifier().run_once()
    events["unread"] = await emit(fine.id)
    return events


async def test_the_backlog_counts_only_what_is_not_delivered_yet(db, make_notifier, mini_wx):
    assert await outbox.backlog() == 0
    events = await scenario(make_notifier, mini_wx)
    assert await OutboxEvent.all().count() == 4
    assert await outbox.backlog() == 2  # busy (a delivery pending) and unread
    await NotificationDelivery.filter(event_id=events["busy"].id, status="pending").update(
        status="failed"
    )  # failed for good: delivered as far as it ever will be
    assert await outbox.backlog() == 1


async def test_retention_deletes_only_delivered_events_older_than_the_cutoff(
    db, make_notifier, mini_wx
):
    events = await scenario(make_notifier, mini_wx)
    sent_deliveries = await NotificationDelivery.filter(event_id=events["sent"].id).count()
    assert sent_deliveries >= 2  # subscribe and official account
    deleted = await outbox.prune_delivered(before=T0 + timedelta(days=10))
    assert deleted == {"events": 1, "deliveries": sent_deliveries, "attempts": sent_deliveries}
    left = await OutboxEvent.all().order_by("id").values_list("id", flat=True)
    assert left == [events["busy"].id, events["recent"].id, events["unread"].id]
    assert not await NotificationDelivery.filter(event_id=events["sent"].id).exists()
    assert await DeliveryAttempt.filter(delivery__event_id=events["busy"].id).exists()
    assert await outbox.backlog() == 2  # deleting delivered events changes no backlog


async def test_without_a_notifier_nothing_is_deleted(db):
    fine = await member(1)
    await emit(fine.id)
    assert await outbox.prune_delivered(before=T0 + timedelta(days=365)) == {
        "events": 0,
        "deliveries": 0,
        "attempts": 0,
    }
    assert await outbox.backlog() == 1


async def test_the_retention_job_keeps_the_configured_days_and_is_counted(
    db, make_notifier, mini_wx
):
    events = await scenario(make_notifier, mini_wx)
    counted = succeeded_runs()
    now = T0 + timedelta(days=35)
    keep_40_days = JobClients(outbox_retention=timedelta(days=40))
    outcome = await run_job("outbox-retention", now=now, clients=keep_40_days)
    assert (outcome.status, outcome.changes["events"]) == ("succeeded", 0)  # all younger
    outcome = await run_job("outbox-retention", now=now, clients=JobClients())
    assert outcome.changes["events"] == 1  # 30 days by default: the sent one goes
    assert not await OutboxEvent.filter(id=events["sent"].id).exists()
    assert succeeded_runs() == counted + 2


def succeeded_runs() -> float:
    labels = {"job": "outbox-retention", "status": "succeeded"}
    return REGISTRY.get_sample_value("queue_rebate_job_runs_total", labels) or 0.0


async def test_delivery_outcomes_are_counted_by_channel_and_status(db, make_notifier, mini_wx):
    def deliveries(channel: str, status: str) -> float:
        labels = {"channel": channel, "status": status}
        return REGISTRY.get_sample_value("queue_rebate_notifier_deliveries_total", labels) or 0.0

    before = {s: deliveries("subscribe", s) for s in ("sent", "pending")}
    await scenario(make_notifier, mini_wx)
    assert deliveries("subscribe", "sent") - before["sent"] == 2  # member 1's two payouts
    assert deliveries("subscribe", "pending") - before["pending"] == 1  # member 2's: busy
