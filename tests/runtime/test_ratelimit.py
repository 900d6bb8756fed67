"""The one rate limiter (runtime.ratelimit): fixed windows counted in Redis by every process that
shares a prefix, in the process without Redis; a hit is allowed (and logged) when Redis fails.
The edges' own answers to a refusal are tested with them (tests/api/test_api_limits.py: 429;
tests/bot/test_bot_shared_state.py: the notifier waits for the next window)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from runtime.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, rate_limiter
from tests.conftest import REDIS_DOWN_URL

TWO_A_MINUTE = Limit(2, 60)
WINDOW_START = 1_000_020  # = 16_667 × 60: a minute window starts here
WINDOW_END = WINDOW_START + 60
T0 = WINDOW_START + 20.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiters(
    kind: str, clock: Clock, new_redis: Callable[..., Redis], key_prefix: str
) -> RateLimiter:
    if kind == "memory":
        return MemoryRateLimiter(clock=clock)
    return RedisRateLimiter(new_redis(), prefix=key_prefix, clock=clock)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_window_refuses_past_its_count_until_it_ends(kind, new_redis, key_prefix) -> None:
    clock = Clock(T0)
    limiter = limiters(kind, clock, new_redis, key_prefix)
    assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    clock.now = T0 + 30
    assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    clock.now = T0 + 30.5
    refused = await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)
    assert not refused.allowed
    assert refused.wait == pytest.approx(WINDOW_END - clock.now)  # 9.5 s
    assert refused.retry_after == 10  # whole seconds, rounded up
    clock.now = WINDOW_END - 0.001
    assert not (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    clock.now = WINDOW_END  # the next window starts afresh
    assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert not (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_names_and_subjects_count_apart(kind, new_redis, key_prefix) -> None:
    limiter = limiters(kind, Clock(T0), new_redis, key_prefix)
    for _ in range(2):
        assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert not (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert (await limiter.hit("login:ip", "5.6.7.8", TWO_A_MINUTE)).allowed
    assert (await limiter.hit("order:ip", "1.2.3.4", TWO_A_MINUTE)).allowed


async def test_processes_count_together_in_redis_and_keys_expire_with_the_window(
    new_redis, key_prefix
) -> None:
    clock = Clock(T0)
    one = RedisRateLimiter(new_redis(), prefix=key_prefix, clock=clock)
    two = RedisRateLimiter(new_redis(), prefix=key_prefix, clock=clock)  # another process
    assert (await one.hit("send", "wecom", TWO_A_MINUTE)).allowed
    assert (await two.hit("send", "wecom", TWO_A_MINUTE)).allowed
    assert not (await one.hit("send", "wecom", TWO_A_MINUTE)).allowed
    assert not (await two.hit("send", "wecom", TWO_A_MINUTE)).allowed
    redis = new_redis()
    keys = [k async for k in redis.scan_iter(match=f"{key_prefix}*")]
    assert keys == [f"{key_prefix}rl:send:wecom:{WINDOW_START}".encode()]
    assert 60 - 1 <= await redis.ttl(keys[0]) <= 60 + 1  # gone soon after the window
    assert await redis.get(keys[0]) == b"4"


async def test_another_prefix_counts_apart(new_redis, key_prefix) -> None:
    clock = Clock(T0)
    api = RedisRateLimiter(new_redis(), prefix=key_prefix, clock=clock)
    bot = RedisRateLimiter(new_redis(), prefix=f"{key_prefix}bot:", clock=clock)
    for _ in range(2):
        assert (await api.hit("send", "wecom", TWO_A_MINUTE)).allowed
    assert (await bot.hit("send", "wecom", TWO_A_MINUTE)).allowed


async def test_a_key_is_gone_a_second_after_its_window(new_redis, key_prefix) -> None:
    redis = new_redis()
    clock = Clock(T0)
    await RedisRateLimiter(redis, prefix=key_prefix, clock=clock).hit("x", "s", Limit(5, 1))
    key = f"{key_prefix}rl:x:s:{int(T0)}"  # one-second windows start every second
    assert await redis.exists(key)
    await asyncio.sleep(2.1)  # EXPIRE window + 1
    assert not await redis.exists(key)


async def test_when_redis_is_down_every_hit_is_allowed_and_logged(
    new_redis, key_prefix, caplog
) -> None:
    limiter = RedisRateLimiter(new_redis(REDIS_DOWN_URL), prefix=key_prefix, clock=Clock(T0))
    with caplog.at_level(logging.WARNING, logger="runtime.ratelimit"):
        for _ in range(5):
            assert (await limiter.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert sum("not checked, Redis failed" in r.getMessage() for r in caplog.records) == 5


async def test_without_redis_the_count_stays_in_the_process() -> None:
    clock = Clock(T0)
    one, two = rate_limiter(None, prefix="x:", clock=clock), rate_limiter(None, prefix="x:")
    assert isinstance(one, MemoryRateLimiter)
    for _ in range(2):
        assert (await one.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert not (await one.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed
    assert (await two.hit("login:ip", "1.2.3.4", TWO_A_MINUTE)).allowed  # another process


async def test_the_memory_forgets_only_windows_that_have_ended(monkeypatch) -> None:
    monkeypatch.setattr(MemoryRateLimiter, "MAX_KEYS", 3)
    clock = Clock(T0)
    limiter = MemoryRateLimiter(clock=clock)
    day = Limit(1, 86_400)
    await limiter.hit("a", "s", day)  # a day-long window, still open an hour later
    await limiter.hit("b", "s", TWO_A_MINUTE)
    await limiter.hit("c", "s", TWO_A_MINUTE)
    clock.now = T0 + 3600  # the minute windows have ended; the next hit cleans up
    await limiter.hit("d", "s", TWO_A_MINUTE)
    assert len(limiter._counts) == 2
    assert not (await limiter.hit("a", "s", day)).allowed  # its count was kept
