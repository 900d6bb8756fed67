"""Mounting the bot on an aiohttp application: ``setup_routes(app, settings)``.

Adds the official account's endpoint (GET and POST on ``[bot.official_account] path``) and a
``cleanup_ctx`` that, once the app's HTTP session and Redis exist, gives the endpoint its
``user/info`` look-up (with its own short timeout: WeChat waits only five seconds for a reply).
Without ``appid`` and ``token`` nothing is mounted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.handlers import ROUTERS
from bot.handlers.help import show_help
from bot.middlewares import custom_names, resolve_member
from bot.notifier import official_account_tokens
from bot.official_account import OfficialAccountEndpoint
from bot.router import Dispatcher
from bot.wechat_apis import FollowerInfo, OfficialAccountClient
from runtime.bot_settings import BotSettings, bot_settings
from web.keys import HTTP, REDIS
from web.registry import Reply, RouteSpec, install
from wechat.tokens import with_token

log = logging.getLogger(__name__)

OFFICIAL_ACCOUNT = web.AppKey("bot_official_account", OfficialAccountEndpoint)
LOOK_UP_TIMEOUT = 3.0  # seconds: the whole reply must reach WeChat within five


def build_dispatcher() -> Dispatcher:
    return Dispatcher(ROUTERS, middlewares=[custom_names, resolve_member], fallback=show_help)


def setup_routes(app: web.Application, settings: Any, *, bot: BotSettings | None = None) -> None:
    bot = bot or bot_settings(settings)
    oa = bot.official_account
    if not (oa.appid and oa.token):
        log.info("official account not configured: its message endpoint is not mounted")
        return
    endpoint = OfficialAccountEndpoint(bot, build_dispatcher())
    app[OFFICIAL_ACCOUNT] = endpoint

    async def official_account_verify(request: web.Request) -> web.StreamResponse:
        """WeChat's server-configuration check: echo ``echostr`` when the signature holds."""
        return await endpoint.verify(request)

    async def official_account_message(request: web.Request) -> web.StreamResponse:
        """A member's message or event to the official account; the reply is WeChat XML."""
        return await endpoint.receive(request)

    xml = {
        200: Reply("WeChat XML reply, or the literal `success`", None, "application/xml"),
        400: Reply("malformed or forbidden XML"),
        403: Reply("bad signature"),
    }
    install(
        app,
        [
            RouteSpec(
                "GET",
                oa.path,
                official_account_verify,
                "公众号服务器配置校验",
                xml,
                tags=("chat bot",),
            ),
            RouteSpec(
                "POST",
                oa.path,
                official_account_message,
                "公众号消息与事件",
                xml,
                body_content_type="text/xml",
                tags=("chat bot",),
            ),
        ],
    )
    app.cleanup_ctx.append(_look_up_ctx)


async def _look_up_ctx(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[OFFICIAL_ACCOUNT]
    bot = endpoint.settings
    own = None
    session = app.get(HTTP)
    if session is None:
        session = own = aiohttp.ClientSession()
    oa = bot.official_account
    client = OfficialAccountClient(
        session,
        appid=oa.appid,
        secret=oa.app_secret,
        api_base_url=oa.api_base_url,
        timeout=LOOK_UP_TIMEOUT,
    )
    tokens = official_account_tokens(bot, client, app.get(REDIS))

    async def look_up(openid: str) -> FollowerInfo:
        return await with_token(tokens, lambda token: client.follower_info(token, openid))

    endpoint.look_up = look_up
    try:
        yield
    finally:
        endpoint.look_up = None
        if own is not None:
            await own.close()
