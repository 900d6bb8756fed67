"""The one access-token cache (wechat.tokens), against the fake WeChat and the real Redis: one
token per app id, shared by every process, fetched once, used until ``margin`` seconds before it
expires, refreshed once when WeChat rejects it, kept in the process while Redis is down.
(Its users: the member API's mini-program codes, tests/api/test_api_me.py; the notifier,
tests/bot/test_bot_delivery_guarantees.py.)"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from runtime.cache import MemoryCache
from tests.conftest import REDIS_DOWN_URL
from tests.wechat.wxtest_constants import APPID
from wechat.client import AccessToken, MiniProgramClient
from wechat.errors import AccessTokenInvalid
from wechat.tokens import AccessTokens, stable_tokens, token_cache, with_token

STABLE = "/cgi-bin/stable_token"


def processes(
    mini: MiniProgramClient, new_redis, key_prefix: str, count: int
) -> list[AccessTokens]:
    """``count`` token caches of one app as ``count`` processes would build them."""
    return [stable_tokens(mini, token_cache(new_redis(), prefix=key_prefix)) for _ in range(count)]


def forced(calls) -> list[bool]:
    return [json.loads(call.body)["force_refresh"] for call in calls]


async def test_processes_share_one_token_fetched_once_until_the_margin_before_expiry(
    mini, fake_state, new_redis, key_prefix
):
    tokens = await asyncio.gather(
        *(p.get() for p in processes(mini, new_redis, key_prefix, 4) for _ in range(3))
    )
    assert len(set(tokens)) == 1
    assert len(fake_state.calls_to(STABLE)) == 1
    ttl = await new_redis().ttl(f"{key_prefix}cache:access-token:{APPID}")
    assert 7200 - 300 - 5 <= ttl <= 7200 - 300  # WeChat's expiry less the margin, shared


async def test_a_rejected_token_is_refreshed_once_for_every_process(
    mini, fake_state, new_redis, key_prefix
):
    first, *others = processes(mini, new_redis, key_prefix, 4)
    old = await first.get()
    fresh = await asyncio.gather(*(p.get(rejected=old) for p in [first, *others]))
    assert len(set(fresh)) == 1 and fresh[0] != old
    assert forced(fake_state.calls_to(STABLE)) == [False, True]
    # A process that comes late with the old token is told the new one, not a third.
    assert await others[0].get(rejected=old) == fresh[0]
    assert len(fake_state.calls_to(STABLE)) == 2


async def test_the_token_is_asked_again_once_its_time_is_up(
    mini, fake_state, new_redis, key_prefix
):
    fake_state.token_expires_in = 301  # kept 301 - 300 = 1 second
    (tokens,) = processes(mini, new_redis, key_prefix, 1)
    await tokens.get()
    await tokens.get()
    assert len(fake_state.calls_to(STABLE)) == 1
    await asyncio.sleep(1.1)
    await tokens.get()
    assert forced(fake_state.calls_to(STABLE)) == [False, False]


async def test_in_the_process_the_token_also_expires_at_the_margin(mini, fake_state):
    now = [0.0]
    tokens = AccessTokens(
        lambda force: mini.fetch_stable_access_token(force_refresh=force),
        MemoryCache(8, clock=lambda: now[0]),
        appid=APPID,
    )
    await tokens.get()
    now[0] = 7200 - 300 - 0.5
    await tokens.get()
    assert len(fake_state.calls_to(STABLE)) == 1
    now[0] = 7200 - 300
    await tokens.get()
    assert len(fake_state.calls_to(STABLE)) == 2


async def test_tasks_of_one_process_wait_for_its_own_refresh_not_for_the_poll(
    mini, fake_state, new_redis, key_prefix
):
    tokens = AccessTokens(
        lambda force: mini.fetch_stable_access_token(force_refresh=force),
        token_cache(new_redis(), prefix=key_prefix),
        appid=APPID,
        poll=60,  # a task that polled for another's refresh would take a minute
    )
    got = await asyncio.wait_for(asyncio.gather(*(tokens.get() for _ in range(5))), 5)
    assert len(set(got)) == 1
    assert len(fake_state.calls_to(STABLE)) == 1


async def test_each_app_id_has_a_token_of_its_own(new_redis, key_prefix):
    fetched: list[str] = []

    def fetch_for(appid: str):
        async def fetch(force: bool) -> AccessToken:
            fetched.append(appid)
            return AccessToken(f"token-of-{appid}", 7200)

        return fetch

    cache = token_cache(new_redis(), prefix=key_prefix)
    mini = AccessTokens(fetch_for("wxmini"), cache, appid="wxmini")
    official = AccessTokens(fetch_for("wxoa"), cache, appid="wxoa")
    assert (await mini.get(), await official.get()) == ("token-of-wxmini", "token-of-wxoa")
    assert (await mini.get(), await official.get()) == ("token-of-wxmini", "token-of-wxoa")
    assert fetched == ["wxmini", "wxoa"]


async def test_a_lock_left_by_a_dead_process_runs_out_and_the_next_one_refreshes(
    mini, fake_state, new_redis, key_prefix
):
    dead = token_cache(new_redis(), prefix=key_prefix)
    assert await dead.add(f"access-token:{APPID}:lock", b"dead-process", 1)
    (tokens,) = processes(mini, new_redis, key_prefix, 1)
    token = await asyncio.wait_for(tokens.get(), 5)
    assert token == fake_state.stable_token
    assert len(fake_state.calls_to(STABLE)) == 1


async def test_while_redis_is_down_each_process_keeps_the_token_itself(
    mini, fake_state, new_redis, key_prefix, caplog
):
    tokens = stable_tokens(mini, token_cache(new_redis(REDIS_DOWN_URL), prefix=key_prefix))
    with caplog.at_level(logging.WARNING, logger="runtime.cache"):
        got = await asyncio.gather(*(tokens.get() for _ in range(5)))
        got.append(await tokens.get())
    assert len(set(got)) == 1
    assert len(fake_state.calls_to(STABLE)) == 1
    assert "cache read failed (the process's cache instead)" in caplog.text
    # and a rejection still refreshes once
    fresh = await asyncio.gather(*(tokens.get(rejected=got[0]) for _ in range(3)))
    assert len(set(fresh)) == 1 and fresh[0] != got[0]
    assert forced(fake_state.calls_to(STABLE)) == [False, True]


async def test_without_redis_the_process_fetches_once_for_all_its_tasks(mini, fake_state):
    tokens = stable_tokens(mini, token_cache(None, prefix="unused:"))
    assert len(set(await asyncio.gather(*(tokens.get() for _ in range(5))))) == 1
    assert len(fake_state.calls_to(STABLE)) == 1


async def test_a_call_with_a_rejected_token_is_repeated_once_with_a_fresh_one(
    mini, fake_state, new_redis, key_prefix
):
    tokens = stable_tokens(mini, token_cache(new_redis(), prefix=key_prefix))

    def qr(token: str):
        return mini.get_unlimited_wxacode(
            token, scene="s", page="pages/index/index", check_path=False, env_version="release"
        )

    assert await with_token(tokens, qr)
    fake_state.access_tokens.clear()  # WeChat revoked the token we cached
    assert await with_token(tokens, qr)
    assert forced(fake_state.calls_to(STABLE)) == [False, True]
    assert len(fake_state.calls_to("/wxa/getwxacodeunlimit")) == 3

    async def always_rejected(token: str) -> bytes:
        raise AccessTokenInvalid(40001, "invalid credential")

    with pytest.raises(AccessTokenInvalid):
        await with_token(tokens, always_rejected)
    assert forced(fake_state.calls_to(STABLE)) == [False, True, True]
