"""What notifier processes share through Redis: the per-channel send rate (a burst waits for the
next window). And operator alerts through the WeCom webhook. (The access tokens they share are
``wechat.tokens``: tests/wechat/test_wx_tokens.py; two notifiers fetching one token:
tests/bot/test_bot_delivery_guarantees.py.)"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.ratelimit import ChannelRateLimiter
from models import DeliveryAttempt, NotificationDelivery, OutboxEvent
from runtime.ratelimit import Limit, RedisRateLimiter
from services.alerts import alert_operators


async def test_a_channel_rate_is_shared_and_a_burst_waits_for_the_next_window(redis):
    client, prefix = redis
    now = [1_000_000.0]
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    limits = {"wecom": Limit(2, 60)}
    a, b = (
        ChannelRateLimiter(
            limits, RedisRateLimiter(client, prefix=prefix, clock=lambda: now[0]), sleep=sleep
        )
        for _ in range(2)
    )
    await a.acquire("wecom")
    await b.acquire("wecom")
    assert waited == []
    await a.acquire("wecom")  # the third in this minute, across both processes
    assert len(waited) == 1 and waited[0] == pytest.approx(20.001)  # 1_000_020 starts a window
    await b.acquire("subscribe")  # no limit configured: never waits
    assert len(waited) == 1
    await b.acquire("wecom")  # the second of the new minute: no wait
    assert len(waited) == 1
    await b.acquire("wecom")
    assert len(waited) == 2 and waited[1] == pytest.approx(60.0, abs=0.01)


async def test_when_redis_is_down_messages_go_out_without_waiting(caplog):
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    limiter = ChannelRateLimiter(
        {"wecom": Limit(1, 60)}, RedisRateLimiter(down, prefix="x:"), sleep=sleep
    )
    try:
        for _ in range(3):
            await limiter.acquire("wecom")
    finally:
        await down.aclose()
    assert waited == []  # WeChat's own limit (45009) makes an excess a retry, never a loss
    assert "rate limit send not checked, Redis failed" in caplog.text


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_operator_alerts_go_to_the_wecom_group_and_are_retried_when_limited(
    db, make_notifier, oa_fake, clock
):
    oa_fake.wecom_errcodes.append(45009)  # the group bot's rate limit, once
    await alert_operators("守恒检查失败：队列 mall 的提取与返现相差 1 分")
    event_id = (await OutboxEvent.get(kind="operator_alert")).id
    notifier = make_notifier()
    await notifier.run_once()
    assert oa_fake.alerts == []
    clock.advance(5)
    await notifier.run_once()

    assert oa_fake.alerts == [
        {"msgtype": "text", "text": {"content": "守恒检查失败：队列 mall 的提取与返现相差 1 分"}}
    ]
    delivery = await NotificationDelivery.get(event_id=event_id)
    assert (delivery.channel, delivery.status, delivery.member_id) == ("wecom", "sent", None)
    outcomes = await DeliveryAttempt.filter(delivery_id=delivery.id).order_by("number")
    assert [(a.outcome, a.errcode) for a in outcomes] == [("retry", 45009), ("sent", None)]
