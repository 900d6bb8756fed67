"""Rate limits on login and order creation, per member and per IP: shared through Redis by every
process, counted in the process without Redis; 429 JSON in Chinese with Retry-After. (The
limiter's windows, expiry and Redis failures: tests/runtime/test_ratelimit.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models import Order
from runtime.ratelimit import Limit
from services.catalog.products import new_product
from tests.api.conftest import Api, bearer
from web.options import RateLimits

# A day-long window: a fixed window rolling over between two requests of a test would let the
# third through; over a day that chance is negligible.
TIGHT = Limit(2, 86_400)
ROOMY = Limit(1000, 86_400)


def limits(**tight: Limit) -> RateLimits:
    return RateLimits(
        **{
            name: tight.get(name, ROOMY)
            for name in ("login_per_ip", "login_per_member", "order_per_ip", "order_per_member")
        }
    )


async def login(api: Api, openid: str, ip: str) -> Any:
    code = f"code-{openid}-{ip}-{len(api.wx.codes)}"
    api.wx.register_code(code, openid)
    return await api.client.post("/api/login", json={"code": code}, headers={"X-Forwarded-For": ip})


async def assert_429(response: Any) -> None:
    assert response.status == 429
    body = await response.json()
    assert body["code"] == "rate_limited"
    assert "频繁" in body["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= TIGHT.window
    assert f"{response.headers['Retry-After']} 秒" in body["message"]


# --- over HTTP -------------------------------------------------------------------------------------


async def test_login_is_limited_per_ip(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("postgres", rate_limits=limits(login_per_ip=TIGHT))
    assert (await login(api, "oA", "10.0.0.1")).status == 200
    assert (await login(api, "oB", "10.0.0.1")).status == 200
    await assert_429(await login(api, "oC", "10.0.0.1"))
    assert (await login(api, "oC", "10.0.0.2")).status == 200
    assert len(api.wx.calls_to("/sns/jscode2session")) == 3  # the refused one never reached WeChat


async def test_login_is_limited_per_member(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("postgres", rate_limits=limits(login_per_member=TIGHT))
    assert (await login(api, "oSame", "10.0.0.1")).status == 200
    assert (await login(api, "oSame", "10.0.0.2")).status == 200
    await assert_429(await login(api, "oSame", "10.0.0.3"))
    assert (await login(api, "oOther", "10.0.0.3")).status == 200


async def order(api: Api, token: str, product_id: int, ip: str = "10.9.9.9") -> Any:
    return await api.client.post(
        "/api/orders",
        json={"source": "mall", "items": [{"product_id": product_id, "quantity": 1}]},
        headers={**bearer(token), "X-Forwarded-For": ip},
    )


async def test_order_creation_is_limited_per_member(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("postgres", rate_limits=limits(order_per_member=TIGHT))
    product = (await new_product("好物", 100)).id
    token, other = await api.member_token("oBuyer"), await api.member_token("oOther")
    assert (await order(api, token, product, "10.0.0.1")).status == 201
    assert (await order(api, token, product, "10.0.0.2")).status == 201
    await assert_429(await order(api, token, product, "10.0.0.3"))
    assert (await order(api, other, product, "10.0.0.3")).status == 201
    assert await Order.all().count() == 3


async def test_order_creation_is_limited_per_ip(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("postgres", rate_limits=limits(order_per_ip=TIGHT))
    product = (await new_product("好物", 100)).id
    tokens = [await api.member_token() for _ in range(3)]
    assert (await order(api, tokens[0], product)).status == 201
    assert (await order(api, tokens[1], product)).status == 201
    await assert_429(await order(api, tokens[2], product))
    assert await Order.all().count() == 2


async def test_two_processes_share_the_limit_through_redis(make_api: Callable[..., Any]) -> None:
    one: Api = await make_api("postgres", rate_limits=limits(login_per_ip=TIGHT))
    two: Api = await make_api("postgres", rate_limits=limits(login_per_ip=TIGHT))
    assert (await login(one, "oA", "10.0.0.7")).status == 200
    assert (await login(two, "oB", "10.0.0.7")).status == 200
    await assert_429(await login(one, "oC", "10.0.0.7"))
    await assert_429(await login(two, "oD", "10.0.0.7"))


async def test_without_redis_the_limit_holds_in_the_process(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("sqlite", redis=False, rate_limits=limits(login_per_ip=TIGHT))
    assert (await login(api, "oA", "10.0.0.8")).status == 200
    assert (await login(api, "oB", "10.0.0.8")).status == 200
    await assert_429(await login(api, "oC", "10.0.0.8"))
