"""POST /api/login: code2session through the fake WeChat, members, tokens, WeChat's errors."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from models import Member, Wallet
from runtime.config import Settings
from tests.api.conftest import Api, bearer


async def test_first_login_creates_the_member_with_an_empty_wallet(api: Api) -> None:
    data = await api.login("oAlice")
    member = await Member.get(openid="oAlice")
    assert data["new_member"] is True
    assert data["member"]["id"] == member.id
    assert data["member"]["referral_code"] == member.referral_code
    assert data["expires_in"] > 0
    wallet = await Wallet.get(member_id=member.id)
    assert (wallet.cash_fen, wallet.points) == (0, 0)
    me = await api.client.get("/api/me", headers=bearer(data["token"]))
    assert me.status == 200
    assert (await me.json())["member"]["id"] == member.id


async def test_second_login_finds_the_same_member(api: Api) -> None:
    first = await api.login("oBob")
    second = await api.login("oBob")
    assert second["new_member"] is False
    assert second["member"]["id"] == first["member"]["id"]
    assert await Member.filter(openid="oBob").count() == 1


async def test_session_key_never_leaves_the_server_nor_reaches_a_log(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.wx.register_code("code-secret", "oCarol", session_key="SESSION-KEY-must-stay-home")
    response = await api.client.post("/api/login", json={"code": "code-secret"})
    assert response.status == 200
    assert "SESSION-KEY" not in await response.text()
    assert "session_key" not in await response.text()
    assert "SESSION-KEY" not in caplog.text
    assert all("SESSION-KEY" not in repr(r.__dict__) for r in caplog.records)


async def test_a_used_or_unknown_code_is_a_clear_400(api: Api) -> None:
    api.wx.register_code("once", "oDave")
    assert (await api.client.post("/api/login", json={"code": "once"})).status == 200
    again = await api.client.post("/api/login", json={"code": "once"})  # 40163
    unknown = await api.client.post("/api/login", json={"code": "never-issued"})  # 40029
    for response in (again, unknown):
        assert response.status == 400
        body = await response.json()
        assert body["code"] == "invalid_login_code"
        assert body["field"] == "code"
        assert "重新登录" in body["message"]


@pytest.mark.parametrize(
    ("errcode", "status", "code", "words"),
    [
        (40029, 400, "invalid_login_code", "登录凭证无效"),
        (45011, 429, "wechat_rate_limited", "频繁"),
        (40226, 403, "wechat_high_risk_user", "风险"),
        (-1, 503, "wechat_busy", "繁忙"),
    ],
)
async def test_each_wechat_login_error_has_its_own_answer(
    api: Api, errcode: int, status: int, code: str, words: str
) -> None:
    api.wx.code_errcodes["bad-code"] = errcode
    response = await api.client.post("/api/login", json={"code": "bad-code"})
    assert response.status == status
    body = await response.json()
    assert body["code"] == code
    assert words in body["message"]
    if status in (429, 503):
        assert int(response.headers["Retry-After"]) > 0
    assert await Member.all().count() == 0


async def test_wechat_unreachable_is_a_503(
    make_api: Callable[..., Any], fake_wechat: TestServer
) -> None:
    api: Api = await make_api("postgres")
    await fake_wechat.close()  # WeChat is gone
    response = await api.client.post("/api/login", json={"code": "whatever"})
    assert response.status == 503
    assert (await response.json())["code"] == "wechat_unavailable"


async def test_malformed_json_is_a_400(api: Api) -> None:
    response = await api.client.post(
        "/api/login", data=b'{"code": ', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "malformed_json"
    assert body["message"] == "请求内容不是有效的 JSON"


async def test_missing_code_names_the_field(api: Api) -> None:
    response = await api.client.post("/api/login", json={"referral_code": "ABC"})
    assert response.status == 400
    assert (await response.json())["field"] == "code"


async def test_a_wrongly_typed_or_unknown_field_is_refused(api: Api) -> None:
    typed = await api.client.post("/api/login", json={"code": 42})
    extra = await api.client.post("/api/login", json={"code": "c", "openid": "oMallory"})
    assert typed.status == extra.status == 400
    assert (await typed.json())["field"] == "code"
    assert (await extra.json())["field"] == "openid"


async def test_empty_body_is_a_400(api: Api) -> None:
    response = await api.client.post("/api/login", data=b"")
    assert response.status == 400
    assert (await response.json())["code"] == "malformed_json"


async def test_login_without_an_appid_configured_is_a_503(make_api: Callable[..., Any]) -> None:
    def no_appid(settings: Settings) -> Settings:
        return dataclasses.replace(settings, wechat=dataclasses.replace(settings.wechat, appid=""))

    api: Api = await make_api("sqlite", redis=False, edit_settings=no_appid)
    response = await api.client.post("/api/login", json={"code": "c"})
    assert response.status == 503
    assert (await response.json())["code"] == "login_unavailable"
    assert not api.wx.calls
