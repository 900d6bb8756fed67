"""What the notifier guarantees when processes die or run side by side (``bot.notifier``'s
docstring states it): a delivery marked sent is never sent again; a crash before the WeChat
call sends it once after the lease; a crash between WeChat's answer and the mark sends it once
more (at least once); concurrent notifiers send each event once; a late commit is not lost."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import asyncpg
import pytest
from tortoise import connections

from bot.channels import SUBSCRIBE, Claimed, Result
from models import DeliveryAttempt, NotificationDelivery, NotifierCursor, OutboxEvent
from runtime.bot_settings import BotSettings, OfficialAccountSettings, WeComSettings
from tests.bot.conftest import T0, member

PAYOUT = {
    "entry_id": 1,
    "amount_fen": 100,
    "paid_fen": 100,
    "entitlement_fen": 200,
    "progress_bp": 5000,
}


class Crash(BaseException):
    """The process dies: nothing catches it, no transaction after it runs."""


class CrashingChannel:
    """Wraps a real channel; dies before calling WeChat, or after WeChat accepted."""

    def __init__(self, inner, *, when: str) -> None:
        self.inner, self.when, self.name = inner, when, inner.name

    async def send(self, delivery: Claimed) -> Result:
        if self.when == "before":
            raise Crash
        await self.inner.send(delivery)
        raise Crash


def subscribe_only(bot_config: BotSettings) -> BotSettings:
    return dataclasses.replace(
        bot_config, official_account=OfficialAccountSettings(), wecom=WeComSettings()
    )


async def crash_once(make_notifier, bot_config, when: str) -> None:
    notifier = make_notifier(bot=subscribe_only(bot_config))
    notifier.channels[SUBSCRIBE] = CrashingChannel(notifier.channels[SUBSCRIBE], when=when)
    with pytest.raises(Crash):
        await notifier.run_once()


@pytest.mark.parametrize("when, wechat_calls", [("before", 1), ("after", 2)])
async def test_a_crash_mid_delivery_delivers_again_after_the_lease(
    db, make_notifier, bot_config, mini_wx, clock, when, wechat_calls
):
    m = await member(1, consents={"T_payout_received": 5})
    await OutboxEvent.create(kind="payout_received", member=m, payload=PAYOUT, created_at=T0)
    await crash_once(make_notifier, bot_config, when)
    delivery = await NotificationDelivery.get(channel=SUBSCRIBE)
    assert delivery.status == "sending"  # the dedupe key was recorded before WeChat was called

    restarted = make_notifier(bot=subscribe_only(bot_config))
    await restarted.run_once()  # the dead process's lease still holds: nothing is sent
    assert len(mini_wx.sent_messages) == wechat_calls - 1
    clock.advance(bot_config.notifier.lease_seconds + 1)
    await restarted.run_once()
    # Crash before the call: one message in all. Crash after WeChat accepted: a second one —
    # WeChat has no idempotency key, so at-least-once is the promise, and this is its cost.
    assert len(mini_wx.sent_messages) == wechat_calls
    delivery = await NotificationDelivery.get(id=delivery.id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert await DeliveryAttempt.filter(delivery_id=delivery.id).values_list(
        "outcome", flat=True
    ) == ["sent"]  # the dead attempt left no row: it never got to record one

    # Marked sent: no notifier sends it again, however late.
    clock.advance(24 * 3600)
    await make_notifier(bot=subscribe_only(bot_config)).run_once()
    assert len(mini_wx.sent_messages) == wechat_calls


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_two_notifiers_at_once_send_each_event_once_in_order_per_member(
    db, make_notifier, bot_config, mini_wx
):
    members = [await member(n, consents={"T_payout_received": 50}) for n in range(1, 7)]
    for amount in range(1, 37):  # 36 events, 6 per member, amounts tell them apart
        m = members[amount % 6]
        await OutboxEvent.create(
            kind="payout_received",
            member=m,
            created_at=T0,
            payload={**PAYOUT, "amount_fen": amount * 100},
        )
    config = subscribe_only(bot_config)
    first = make_notifier(bot=config, batch=4, claim=3)
    second = make_notifier(bot=config, batch=4, claim=3)

    async def drain(notifier) -> int:
        done = 0
        while work := await notifier.run_once():
            done += work
        return done

    work = await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    assert sum(work) == 36 + 36  # each event read once, each delivery tried once

    amounts = [m["data"]["amount1"]["value"] for m in mini_wx.sent_messages]
    assert sorted(amounts, key=lambda a: int(a[:-4])) == [f"{n}.00元" for n in range(1, 37)]
    for m in members:  # each member's messages in event order
        mine = [
            int(x["data"]["amount1"]["value"][:-4])
            for x in mini_wx.sent_messages
            if x["touser"] == m.openid
        ]
        assert mine == sorted(mine) and len(mine) == 6
    assert await NotificationDelivery.filter(status="sent").count() == 36
    assert await DeliveryAttempt.all().count() == 36
    assert len(mini_wx.calls_to("/cgi-bin/stable_token")) == 1  # one token for both


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_an_event_committed_after_a_later_one_is_still_delivered(
    db, make_notifier, bot_config, mini_wx
):
    m = await member(1, consents={"T_payout_received": 5})
    pg = connections.get("default")  # the test database, for a connection of our own
    raw = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.user, database=pg.database, password=pg.password
    )
    notifier = make_notifier(bot=subscribe_only(bot_config))
    try:
        slow = raw.transaction()
        await slow.start()
        late_id = await raw.fetchval(
            "INSERT INTO outbox_event (kind, member_id, payload, created_at)"
            " VALUES ('payout_received', $1, $2::json, $3) RETURNING id",
            m.id,
            json.dumps({**PAYOUT, "amount_fen": 111}),
            T0,
        )
        early = await OutboxEvent.create(
            kind="payout_received",
            member=m,
            payload={**PAYOUT, "amount_fen": 222},
            created_at=T0,
        )
        assert early.id > late_id
        await notifier.run_once()
        cursor = await NotifierCursor.get(consumer="notifier")
        assert cursor.last_event_id == early.id and str(late_id) in cursor.gaps
        await slow.commit()
    finally:
        await raw.close()
    await notifier.run_once()

    assert [x["data"]["amount1"]["value"] for x in mini_wx.sent_messages] == ["2.22元", "1.11元"]
    assert (await NotifierCursor.get(consumer="notifier")).gaps == {}
