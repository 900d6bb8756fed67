"""Keys and merchant accounts shared by the WeChat protocol tests.

RSA keys are generated once per session: merchant (our API certificate key) and platform
(WeChat's signing key). Nothing here is a real credential.
"""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.wechat.wxtest_constants import (
    API_KEY,
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    PLATFORM_SERIAL,
    SECRET,
)
from wechat.client import MiniProgramClient, PayV2Client, PayV3Client
from wechat.pay_v2 import MerchantV2
from wechat.pay_v3 import MerchantV3
from wechat_fake.server import FakeWeChatState, create_fake_wechat


@pytest.fixture(scope="session")
def merchant_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def platform_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def merchant_v2() -> MerchantV2:
    return MerchantV2(appid=APPID, mch_id=MCHID, api_key=API_KEY)


@pytest.fixture
def merchant_v3(merchant_key) -> MerchantV3:
    return MerchantV3(
        appid=APPID,
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=merchant_key,
        apiv3_key=APIV3_KEY,
    )


@pytest.fixture
def platform_keys(platform_key):
    return {PLATFORM_SERIAL: platform_key.public_key()}


@pytest.fixture
def fake_state(merchant_key, platform_key) -> FakeWeChatState:
    return FakeWeChatState(
        appid=APPID,
        secret=SECRET,
        mch_id=MCHID,
        api_key=API_KEY,
        apiv3_key=APIV3_KEY,
        merchant_public_key=merchant_key.public_key(),
        merchant_serial=MERCHANT_SERIAL,
        platform_private_key=platform_key,
        platform_serial=PLATFORM_SERIAL,
    )


@pytest.fixture
async def fake_url(fake_state) -> AsyncIterator[str]:
    """Base URL of a fake WeChat on 127.0.0.1, serving both the API and Pay hosts."""
    server = TestServer(create_fake_wechat(fake_state), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def mini(http, fake_url) -> MiniProgramClient:
    return MiniProgramClient(http, appid=APPID, secret=SECRET, api_base_url=fake_url, timeout=5)


@pytest.fixture
def pay2(http, fake_url, merchant_v2) -> PayV2Client:
    return PayV2Client(http, merchant_v2, pay_api_base_url=fake_url, timeout=5)


@pytest.fixture
def pay3(http, fake_url, merchant_v3, fake_state) -> PayV3Client:
    return PayV3Client(
        http, merchant_v3, fake_state.platform_keys, pay_api_base_url=fake_url, timeout=5
    )
