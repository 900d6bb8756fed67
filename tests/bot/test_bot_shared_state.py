"""What notifier processes share through Redis: the access token (fetched once, refreshed once
under a lock) and the per-channel send rate (a burst waits for the next window). And operator
alerts through the WeCom webhook."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bot.ratelimit import ChannelRateLimiter
from bot.tokens import TokenStore
from models import DeliveryAttempt, NotificationDelivery
from runtime.ratelimit import Limit, RedisRateLimiter
from services.alerts import alert_operators
from tests.bot.conftest import MINI_APPID, MINI_SECRET
from wechat.client import MiniProgramClient


def stores(http, mini_url, redis, count: int) -> list[TokenStore]:
    """``count`` token stores as ``count`` processes would build them."""
    client, prefix = redis
    made = []
    for _ in range(count):
        mini = MiniProgramClient(http, appid=MINI_APPID, secret=MINI_SECRET, api_base_url=mini_url)
        made.append(
            TokenStore(
                lambda force, mini=mini: mini.fetch_stable_access_token(force_refresh=force),
                key=MINI_APPID,
                redis=client,
                prefix=prefix,
            )
        )
    return made


async def test_processes_share_one_token_fetched_once_and_refreshed_once(
    http, mini_url, mini_wx, redis
):
    processes = stores(http, mini_url, redis, 4)
    tokens = await asyncio.gather(*(p.get() for p in processes for _ in range(3)))
    assert len(set(tokens)) == 1
    assert len(mini_wx.calls_to("/cgi-bin/stable_token")) == 1
    client, prefix = redis
    ttl = await client.ttl(f"{prefix}token:{MINI_APPID}")
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300  # WeChat's expiry, less the margin, shared

    # WeChat rejects the token: every process asks again at once, one refresh happens.
    fresh = await asyncio.gather(*(p.get(rejected=tokens[0]) for p in processes))
    assert len(set(fresh)) == 1 and fresh[0] != tokens[0]
    refreshes = mini_wx.calls_to("/cgi-bin/stable_token")
    assert len(refreshes) == 2 and b'"force_refresh": true' in refreshes[1].body
    # A process still holding the old token is told the new one, not a third.
    assert await processes[0].get(rejected=tokens[0]) == fresh[0]
    assert len(mini_wx.calls_to("/cgi-bin/stable_token")) == 2


async def test_without_redis_the_process_fetches_once_for_all_its_tasks(http, mini_url, mini_wx):
    mini = MiniProgramClient(http, appid=MINI_APPID, secret=MINI_SECRET, api_base_url=mini_url)
    store = TokenStore(
        lambda force: mini.fetch_stable_access_token(force_refresh=force), key=MINI_APPID
    )
    assert len(set(await asyncio.gather(*(store.get() for _ in range(5))))) == 1
    assert len(mini_wx.calls_to("/cgi-bin/stable_token")) == 1


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
    event_id = await alert_operators("守恒检查失败：队列 mall 的提取与返现相差 1 分")
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
