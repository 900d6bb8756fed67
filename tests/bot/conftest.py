"""Fixtures of the chat bot's tests: the fake WeChat (mini-program and official account, each a
real local aiohttp server), real Redis under a key prefix per test (deleted afterwards), a
clock the tests move, and the notifier built the way ``queue-rebate notifier`` builds it.

Set ``QR_TEST_REDIS`` to use another Redis (default: redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from redis.asyncio import Redis

from bot.notifier import Notifier, build_notifier
from models import Member, OfficialAccountFollower
from runtime.bot_settings import (
    BotSettings,
    Names,
    NotifierSettings,
    OfficialAccountSettings,
    Template,
    WeComSettings,
)
from runtime.config import Settings, WechatSettings
from runtime.ratelimit import Limit
from services.members.accounts import new_member
from services.members.consents import grant_consent
from tests.bot.bottest_fakes import WECOM_KEY, OfficialAccountFake, create_official_account_fake
from wechat_fake.server import create_fake_wechat
from wechat_fake.state import FakeWeChatState

REDIS_URL = os.environ.get("QR_TEST_REDIS", "redis://127.0.0.1:6379/0")
MINI_APPID = "wxbotmini00000001"
MINI_SECRET = "bot-mini-secret"
OA_APPID = "wxbotoa0000000001"
OA_SECRET = "bot-oa-secret"
OA_TOKEN = "bot-oa-token"
OA_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Beijing

MEMBER_KINDS = (
    "entry_joined",
    "lottery_available",
    "lottery_drawn",
    "payout_received",
    "entry_completed",
    "entry_converted",
    "entry_refunded",
    "entry_cleared",
    "entry_exchanged",
    "commission_earned",
    "commission_released",
    "dividend_received",
    "withdrawal_result",
    "merchant_application_decided",
    "statement_closed",
    "statement_paid",
    "statement_confirm_needed",
)
PAYOUT_FIELDS = {"amount1": "amount", "thing2": "progress", "thing3": "name"}


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture(scope="session")
def rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _fake_state(appid: str, secret: str, key: RSAPrivateKey) -> FakeWeChatState:
    return FakeWeChatState(
        appid=appid,
        secret=secret,
        mch_id="1900000109",
        api_key="0123456789abcdef0123456789abcdef",
        apiv3_key=b"abcdef0123456789abcdef0123456789",
        merchant_public_key=key.public_key(),
        merchant_serial="SERIAL",
        platform_private_key=key,
        platform_serial="PUB_KEY_ID_BOT",
    )


@pytest.fixture
def mini_wx(rsa_key: RSAPrivateKey) -> FakeWeChatState:
    """The mini-program's WeChat: subscribe messages land in ``sent_messages``."""
    return _fake_state(MINI_APPID, MINI_SECRET, rsa_key)


@pytest.fixture
def oa_wx(rsa_key: RSAPrivateKey) -> FakeWeChatState:
    return _fake_state(OA_APPID, OA_SECRET, rsa_key)


@pytest.fixture
def oa_fake() -> OfficialAccountFake:
    return OfficialAccountFake()


async def _serve(app: Any) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def mini_url(mini_wx: FakeWeChatState) -> AsyncIterator[str]:
    async for url in _serve(create_fake_wechat(mini_wx)):
        yield url


@pytest.fixture
async def oa_url(oa_wx: FakeWeChatState, oa_fake: OfficialAccountFake) -> AsyncIterator[str]:
    """The official account's API and the WeCom webhook, on one fake origin."""
    async for url in _serve(create_official_account_fake(oa_wx, oa_fake)):
        yield url


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    """A Redis client and a key prefix of this test's own."""
    prefix = f"bottest:{uuid.uuid4().hex[:12]}:"
    client = Redis.from_url(REDIS_URL)
    try:
        yield client, prefix
    finally:
        left = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if left:
            await client.delete(*left)
        await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot_config(oa_url: str, redis: tuple[Redis, str]) -> BotSettings:
    """Every member kind has a subscribe template (``T_<kind>``; payouts map their own
    keywords); the official account sends payouts as a template message, the rest as text."""
    templates = {kind: Template(f"T_{kind}", page="pages/queue/index") for kind in MEMBER_KINDS}
    templates["payout_received"] = Template("T_payout_received", PAYOUT_FIELDS, "pages/queue/index")
    return BotSettings(
        names=Names(plugin="共享链", exchange="兑换", miniprogram="好物商城"),
        subscribe_templates=templates,
        official_account=OfficialAccountSettings(
            appid=OA_APPID,
            app_secret=OA_SECRET,
            token=OA_TOKEN,
            encoding_aes_key=OA_AES_KEY,
            api_base_url=oa_url,
            templates={"payout_received": Template("OA_PAYOUT", {"keyword1": "amount"}, "pages/q")},
        ),
        wecom=WeComSettings(base_url=oa_url, key=WECOM_KEY),
        notifier=NotifierSettings(batch=20, claim=5, timeout=5, rates={"wecom": Limit(100, 1)}),
        redis_prefix=redis[1],
    )


@pytest.fixture
def app_settings(mini_url: str) -> Settings:
    return Settings(
        wechat=WechatSettings(appid=MINI_APPID, app_secret=MINI_SECRET, api_base_url=mini_url)
    )


MakeNotifier = Callable[..., Notifier]


@pytest.fixture
def make_notifier(
    app_settings: Settings,
    bot_config: BotSettings,
    http: aiohttp.ClientSession,
    redis: tuple[Redis, str],
    clock: Clock,
) -> MakeNotifier:
    """``make_notifier(**notifier_settings_changes, bot=...)``: a notifier like the CLI's."""

    def build(*, bot: BotSettings | None = None, **changes: Any) -> Notifier:
        config = bot or bot_config
        if changes:
            config = dataclasses.replace(
                config, notifier=dataclasses.replace(config.notifier, **changes)
            )
        return build_notifier(app_settings, http, redis[0], bot=config, clock=clock)

    return build


async def member(n: int, *, consents: dict[str, int] | None = None, follows: bool = True) -> Member:
    """Member ``n``: mini-program openid ``o-mini-n``, unionid ``u-n``, official-account
    openid ``o-oa-n`` (following unless told otherwise), and the consents given."""
    m = await new_member(f"o-mini-{n}", unionid=f"u-{n}", nickname=f"会员{n}")
    await OfficialAccountFollower.create(
        openid=f"o-oa-{n}", unionid=f"u-{n}", following=follows, checked_at=T0, updated_at=T0
    )
    for template_id, count in (consents or {}).items():
        await grant_consent(m.id, template_id, count, now=T0)
    return m
