"""Start the fake WeChat and the real server in this process, tell the story, stop.

Both listen on 127.0.0.1 (the server on ``port``, 0 = any free port; the fake WeChat on a free
port). The server is ``create_app`` exactly as ``queue-rebate serve`` builds it, on the embedded
default (SQLite, no Redis), configured for WeChat Pay v3 (or v2) against the fake: fresh merchant
and platform keys in a scratch directory, notify URLs pointing back at itself. The web page
``/demo`` (``demo.page``) is served by the same app. With ``keep_serving`` both stay up after the
story until Ctrl-C, for a browser.

The demo operator ``demo`` (role owner) is created with a fresh password, printed with how to log
in to the operators' API; after the story the demo logs in with it over HTTP.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Literal, TextIO

import aiohttp
from aiohttp import web
from tortoise.backends.base.executor import EXECUTOR_CACHE

from demo import page
from demo.parts import StoryReport
from demo.story import Story
from runtime.config import (
    AuthSettings,
    DatabaseSettings,
    RedisSettings,
    ServerSettings,
    Settings,
    WechatPaySettings,
    WechatSettings,
)
from server.app import create_app
from server.database import opened
from services.clock import utcnow
from services.operators.accounts import add_operator
from services.operators.roles import Role
from web.options import ApiOptions
from wechat_fake.server import create_fake_wechat, demo_state
from wechat_fake.state import FakeWeChatState

HOST = "127.0.0.1"
DEMO_OPERATOR = "demo"


async def demo_operator(db_url: str) -> str:
    """The demo operator (owner) on ``db_url``; its new password."""
    password = secrets.token_urlsafe(12)
    async with opened(db_url, must_exist=True):
        await add_operator(DEMO_OPERATOR, Role.OWNER, password, by="demo", now=utcnow())
    return password


def print_addresses(out: TextIO, api_url: str, wechat_url: str, password: str) -> None:
    print(f"本服务（小程序接口）: {api_url}/api/openapi.json", file=out)
    print(f"浏览器实时查看:       {api_url}/demo", file=out)
    print(f"假微信（含微信支付）: {wechat_url}", file=out)
    print_login(out, api_url, password)
    print(file=out, flush=True)


def print_login(out: TextIO, api_url: str, password: str) -> None:
    body = f'{{"name": "{DEMO_OPERATOR}", "password": "{password}"}}'
    print(f"运营后台（浏览器）:   {api_url}/admin/", file=out)
    print(f"运营后台账号:         {DEMO_OPERATOR} / {password}（所有者）", file=out)
    print(
        f"运营后台登录（API）:  curl -c cookies.txt -H 'Content-Type: application/json' "
        f"-d '{body}' {api_url}/api/admin/session",
        file=out,
    )
    print(
        "  之后带上 cookie（-b cookies.txt），修改类请求再加 X-CSRF-Token: <返回的 csrf_token>；"
        "make demo 在演示结束后保持运行（Ctrl-C 退出）；直接运行 queue-rebate demo 时加 --keep-serving",
        file=out,
    )


async def check_login(http: aiohttp.ClientSession, api_url: str, password: str, out: TextIO) -> int:
    """Log the demo operator in over HTTP, as the console will; the HTTP status."""
    body = {"name": DEMO_OPERATOR, "password": password}
    async with http.post(f"{api_url}/api/admin/session", json=body) as response:
        who = await response.json()
    if response.status == 200:
        print(f"\n运营后台登录成功：{who['name']}（{who['role_name']}）", file=out)
    else:
        print(f"\n运营后台登录失败：{response.status} {who.get('message')}", file=out)
    return response.status


def demo_settings(
    db_url: str,
    api_url: str,
    port: int,
    wx: FakeWeChatState,
    wechat_url: str,
    keys_dir: Path,
    api_version: Literal["v2", "v3"],
) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db_url),
        redis=RedisSettings(url=""),
        server=ServerSettings(host=HOST, port=port),
        wechat=WechatSettings(appid=wx.appid, app_secret=wx.secret, api_base_url=wechat_url),
        wechat_pay=WechatPaySettings(
            api_version=api_version,
            mchid=wx.mch_id,
            api_key=wx.api_key,
            apiv3_key=wx.apiv3_key.decode("ascii"),
            private_key_path=str(keys_dir / "merchant_key.pem"),
            cert_serial_no=wx.merchant_serial,
            platform_cert_path=str(keys_dir / "platform_public.pem"),
            platform_public_key_id=wx.platform_serial,
            api_base_url=wechat_url,
            notify_url=f"{api_url}/api/pay/notify/{api_version}",
        ),
        auth=AuthSettings(
            admin_token_secret=secrets.token_urlsafe(32),
            member_token_secret=secrets.token_urlsafe(32),
        ),
    )


def listening_socket(port: int) -> socket.socket:
    """A bound socket, so the server's own URL is known before the app is built."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    return sock


async def start(app: web.Application, sock: socket.socket | None = None) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, HOST, 0)
    )
    await site.start()
    return runner


async def run_live_demo(
    out: TextIO,
    *,
    db_url: str,
    pause: float = 0.4,
    keep_serving: bool = False,
    port: int = 0,
    api_version: Literal["v2", "v3"] = "v3",
) -> StoryReport:
    """Tell the story on ``db_url`` (migrated and empty); the report says what happened."""
    password = await demo_operator(db_url)
    with tempfile.TemporaryDirectory(prefix="qr-demo-wechat-") as scratch:
        keys_dir = Path(scratch)
        wx = demo_state(keys_dir)
        fake = await start(create_fake_wechat(wx))
        sock = listening_socket(port)
        try:
            wechat_url = f"http://{HOST}:{fake.addresses[0][1]}"
            api_url = f"http://{HOST}:{sock.getsockname()[1]}"
            settings = demo_settings(
                db_url, api_url, sock.getsockname()[1], wx, wechat_url, keys_dir, api_version
            )
            options = ApiOptions(refund_notify_url=f"{api_url}/api/pay/notify/{api_version}/refund")
            EXECUTOR_CACHE.clear()  # statements compiled for another database must not leak
            app = create_app(settings, options=options, extra_routes=page.routes.specs)
            app[page.STORY] = []
            app[page.FAKE_WECHAT] = wx
            server = await start(app, sock)
        except BaseException:
            sock.close()
            await fake.cleanup()
            raise
        try:
            print_addresses(out, api_url, wechat_url, password)
            async with aiohttp.ClientSession() as http:
                story = Story(
                    out,
                    pause=pause,
                    http=http,
                    api_url=api_url,
                    app=app,
                    wechat=wx,
                    lines=app[page.STORY],
                    operator_password=password,
                )
                report = await story.run()
                report.operator_login = await check_login(http, api_url, password, out)
                async with http.get(f"{api_url}/demo") as shown:
                    shown.raise_for_status()
                    report.page = await shown.text()
            if keep_serving:
                print(
                    f"\n演示结束，服务继续运行（Ctrl-C 退出）：运营后台 {api_url}/admin/"
                    f"（{DEMO_OPERATOR} / {password}），演示页 {api_url}/demo",
                    file=out,
                    flush=True,
                )
                await asyncio.Event().wait()
            return report
        finally:
            await server.cleanup()
            await fake.cleanup()
