"""A fake WeChat with 商家转账, and a transfer client pointed at it."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

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
from wechat.pay_v3 import MerchantV3
from wechat.transfer import MerchantTransferClient
from wechat_fake.server import FakeWeChatState, create_fake_wechat
from wechat_fake.transfer import TRANSFER_KEY, FakeTransferState

CLIENT_TIMEOUT = 0.5


@pytest.fixture(scope="session")
def keys() -> tuple[RSAPrivateKey, RSAPrivateKey]:
    """(merchant, platform) RSA keys, made once."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@dataclass
class FakeTransfers:
    wechat: FakeWeChatState
    bills: FakeTransferState
    client: MerchantTransferClient
    url: str
    http: aiohttp.ClientSession


@pytest.fixture
async def transfers(keys) -> AsyncIterator[FakeTransfers]:
    merchant_key, platform_key = keys
    state = FakeWeChatState(
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
    bills = FakeTransferState(delay_seconds=CLIENT_TIMEOUT * 3)
    app = create_fake_wechat(state)
    app[TRANSFER_KEY] = bills  # the fake serves 商家转账 already; give it this test's bills
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    merchant = MerchantV3(
        appid=APPID,
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=merchant_key,
        apiv3_key=APIV3_KEY,
    )
    try:
        async with aiohttp.ClientSession() as http:
            client = MerchantTransferClient(
                http,
                merchant,
                state.platform_keys,
                pay_api_base_url=url,
                timeout=CLIENT_TIMEOUT,
            )
            yield FakeTransfers(state, bills, client, url, http)
    finally:
        await server.close()
