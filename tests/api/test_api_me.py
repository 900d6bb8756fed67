"""GET /api/me and the referral QR code (getwxacodeunlimit via the fake WeChat, cached)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from models import Member, Wallet
from runtime.cache import MemoryCache
from tests.api.conftest import REDIS_URL, Api, bearer
from web.keys import OPTIONS

QR = "/api/me/referral-qr"


async def test_me_shows_the_profile_and_the_wallet_balances(api: Api) -> None:
    login = await api.login("oMe")
    member = await Member.get(openid="oMe")
    await Wallet.filter(member_id=member.id).update(cash_fen=1234, points=56, love_available=7)
    response = await api.client.get("/api/me", headers=bearer(login["token"]))
    assert response.status == 200
    body = await response.json()
    assert body["member"]["referral_code"] == member.referral_code
    assert body["wallet"] == {"cash_fen": 1234, "points": 56, "love_available": 7, "love_frozen": 0}
    assert "openid" not in body["member"]


async def test_referral_qr_is_a_png_with_the_referral_code_as_scene(api: Api) -> None:
    login = await api.login()
    response = await api.client.get(QR, headers=bearer(login["token"]))
    assert response.status == 200
    assert response.content_type == "image/png"
    assert (await response.read()).startswith(b"\x89PNG\r\n\x1a\n")
    (call,) = api.wx.calls_to("/wxa/getwxacodeunlimit")
    sent = json.loads(call.body)
    assert sent["scene"] == login["member"]["referral_code"]
    assert sent["page"] == "pages/index/index"


async def test_the_page_is_configurable(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(
        "postgres", referral_page="pages/invite/index", referral_env_version="trial"
    )
    await api.client.get(QR, headers=bearer(await api.member_token()))
    sent = json.loads(api.wx.calls_to("/wxa/getwxacodeunlimit")[0].body)
    assert (sent["page"], sent["env_version"]) == ("pages/invite/index", "trial")


async def test_the_qr_is_cached_in_redis_and_the_token_is_reused(api: Api) -> None:
    token = await api.member_token()
    first = await (await api.client.get(QR, headers=bearer(token))).read()
    second = await (await api.client.get(QR, headers=bearer(token))).read()
    other = await api.client.get(QR, headers=bearer(await api.member_token()))
    assert first == second and other.status == 200
    assert len(api.wx.calls_to("/wxa/getwxacodeunlimit")) == 2  # one per member
    assert len(api.wx.calls_to("/cgi-bin/stable_token")) == 1
    redis = Redis.from_url(REDIS_URL)
    try:
        prefix = api.app[OPTIONS].redis_prefix
        keys = [k async for k in redis.scan_iter(match=f"{prefix}cache:referral-qr:*")]
    finally:
        await redis.aclose()
    assert len(keys) == 2


async def test_without_redis_the_qr_is_cached_in_the_process(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis=False)
    token = await api.member_token()
    for _ in range(3):
        assert (await api.client.get(QR, headers=bearer(token))).status == 200
    assert len(api.wx.calls_to("/wxa/getwxacodeunlimit")) == 1


async def test_a_rejected_access_token_is_refreshed_once(api: Api) -> None:
    await api.client.get(QR, headers=bearer(await api.member_token()))
    api.wx.access_tokens.clear()  # WeChat revoked the token we cached
    response = await api.client.get(QR, headers=bearer(await api.member_token()))
    assert response.status == 200
    stable = api.wx.calls_to("/cgi-bin/stable_token")
    assert len(stable) == 2
    assert json.loads(stable[1].body)["force_refresh"] is True


@pytest.mark.parametrize(("errcode", "status"), [(45009, 502), (-1, 503)])
async def test_a_wechat_error_on_the_qr_is_json(api: Api, errcode: int, status: int) -> None:
    api.wx.wxacode_errcode = errcode
    response = await api.client.get(QR, headers=bearer(await api.member_token()))
    assert response.status == status
    assert (await response.json())["message"]


async def test_the_in_process_cache_evicts_the_least_recently_used_and_the_expired() -> None:
    now = [0.0]
    cache = MemoryCache(2, clock=lambda: now[0])
    await cache.put("a", b"A", 10)
    await cache.put("b", b"B", 10)
    assert await cache.get("a") == b"A"  # a is now the most recently used
    await cache.put("c", b"C", 10)
    assert (await cache.get("b"), await cache.get("a"), len(cache)) == (None, b"A", 2)
    now[0] = 10.0
    assert await cache.get("a") is None
