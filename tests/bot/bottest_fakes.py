"""The fake WeChat for the bot's tests: the project's fake (``wechat_fake.server``) serves the
mini-program API; a second instance, extended here with the official account's template,
customer-service and user-info endpoints and the WeCom group-bot webhook, serves the official
account (its own appid and secret). Both are real local aiohttp servers recording every call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from wechat_fake.server import create_fake_wechat
from wechat_fake.state import STATE_KEY, FakeWeChatState

WECOM_KEY = "wecom-test-key"


@dataclass
class OfficialAccountFake:
    """What the official-account fake knows (followers' unionids), its error switches, and
    what it accepted."""

    unionids: dict[str, str] = field(default_factory=dict)  # openid → unionid
    unfollowed: set[str] = field(default_factory=set)
    errcodes: dict[str, int] = field(default_factory=dict)  # openid → errcode on sends
    wecom_errcodes: list[int] = field(default_factory=list)  # answered in turn, then 0
    templates: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


OA_FAKE = web.AppKey("official_account_fake", OfficialAccountFake)


def _err(errcode: int, errmsg: str = "simulated error") -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


async def _send(request: web.Request, sink: str) -> web.Response:
    state = request.app[OA_FAKE]
    tokens = request.app[STATE_KEY].access_tokens
    if request.query.get("access_token") not in tokens:
        return _err(40001, "invalid credential")
    data = json.loads(await request.read())
    touser = data.get("touser", "")
    if touser in state.unfollowed:
        return _err(43004, "require subscribe")
    if touser in state.errcodes:
        return _err(state.errcodes[touser])
    getattr(state, sink).append(data)
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(getattr(state, sink))})


async def template_send(request: web.Request) -> web.Response:
    return await _send(request, "templates")


async def custom_send(request: web.Request) -> web.Response:
    return await _send(request, "texts")


async def user_info(request: web.Request) -> web.Response:
    state = request.app[OA_FAKE]
    if request.query.get("access_token") not in request.app[STATE_KEY].access_tokens:
        return _err(40001, "invalid credential")
    openid = request.query.get("openid", "")
    answer: dict[str, Any] = {"subscribe": 0 if openid in state.unfollowed else 1, "openid": openid}
    if openid in state.unionids:
        answer["unionid"] = state.unionids[openid]
    return web.json_response(answer)


async def wecom_webhook(request: web.Request) -> web.Response:
    state = request.app[OA_FAKE]
    if request.query.get("key") != WECOM_KEY:
        return _err(93000, "invalid webhook url")
    if state.wecom_errcodes:
        return _err(state.wecom_errcodes.pop(0))
    state.alerts.append(json.loads(await request.read()))
    return web.json_response({"errcode": 0, "errmsg": "ok"})


def create_official_account_fake(wx: FakeWeChatState, oa: OfficialAccountFake) -> web.Application:
    app = create_fake_wechat(wx)
    app[OA_FAKE] = oa
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    app.router.add_get("/cgi-bin/user/info", user_info)
    app.router.add_post("/cgi-bin/webhook/send", wecom_webhook)
    return app
