"""Keys and merchant accounts shared by the WeChat protocol tests.

RSA keys are generated once per session: merchant (our API certificate key) and platform
(WeChat's signing key). Nothing here is a real credential.
"""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.wechat.wxtest_constants import (
    API_KEY,
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    PLATFORM_SERIAL,
)
from wechat.pay_v2 import MerchantV2
from wechat.pay_v3 import MerchantV3


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
