"""Several WeChat Pay platform keys at once (issue 20 item 3): a notification signed by either
of two configured keys pays its order, an unknown serial is refused with WeChat's FAIL and
nothing changes; SIGHUP re-reads the key files (the handler ``server.process`` installs); in
certificate mode ``/v3/certificates`` is downloaded from the fake and its next certificate
accepted."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from models import Order, OrderStatus
from runtime.config import PlatformKey, Settings
from server import process
from tests.api.conftest import Api
from tests.api.test_api_notify import post_v3, snapshot, unpaid_order, v3_payment
from web.keys import WECHAT
from wechat_fake.certificates import platform_certificate

SECOND_ID = "PUB_KEY_ID_0114232806592025120600000000000002"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def with_pay(**changes: Any) -> Callable[[Settings], Settings]:
    def edit(settings: Settings) -> Settings:
        pay = dataclasses.replace(settings.wechat_pay, **changes)
        return dataclasses.replace(settings, wechat_pay=pay)

    return edit


def signed_by(api: Api, key: RSAPrivateKey, serial: str) -> None:
    """From now on the fake WeChat signs with ``key`` under ``serial`` (a rotation)."""
    api.wx.platform_private_key = key
    api.wx.platform_serial = serial


async def pays(api: Api, key: RSAPrivateKey | None = None, serial: str = "") -> bool:
    """An order made (its prepay answered by the fake's current key), then its payment
    notification signed by ``key`` under ``serial`` (default: the fake's current key)."""
    order = await unpaid_order(api)
    current = api.wx.platform_private_key, api.wx.platform_serial
    if key is not None:
        signed_by(api, key, serial)
    headers, body = v3_payment(api, order)
    signed_by(api, *current)
    response = await post_v3(api, headers, body)
    return response.status == 204 and (await Order.get(id=order.id)).status == OrderStatus.PAID


async def test_notifications_signed_by_either_of_two_keys_are_accepted(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    second = new_key()
    (tmp_path / "second.pem").write_bytes(public_pem(second))
    extra = (PlatformKey(path=str(tmp_path / "second.pem"), id=SECOND_ID),)
    api: Api = await make_api("postgres", edit_settings=with_pay(platform_keys=extra))
    assert await pays(api)  # the first key (platform_cert_path)
    assert await pays(api, second, SECOND_ID)  # the second, during the rotation


async def test_an_unknown_serial_is_refused_with_fail_and_changes_nothing(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    api: Api = await make_api("postgres")
    order = await unpaid_order(api)
    before = await snapshot()
    signed_by(api, new_key(), SECOND_ID)  # a key we were never given
    headers, body = v3_payment(api, order)
    response = await post_v3(api, headers, body)
    assert response.status == 401
    assert (await response.json())["code"] == "FAIL"
    assert await snapshot() == before


async def test_sighup_rereads_the_key_directory(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    keys_dir = tmp_path / "platform-keys"
    keys_dir.mkdir()
    api: Api = await make_api("postgres", edit_settings=with_pay(platform_keys_dir=str(keys_dir)))
    second = new_key()
    assert not await pays(api, second, SECOND_ID)  # not configured yet: refused
    (keys_dir / f"{SECOND_ID}.pem").write_bytes(public_pem(second))
    waiting = asyncio.create_task(process._until_stopped(api.app))  # installs the handlers
    await asyncio.sleep(0)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if SECOND_ID in api.app[WECHAT].platform_keys:
                break
            await asyncio.sleep(0.01)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        await waiting
    assert await pays(api, second, SECOND_ID)


async def test_a_broken_key_file_on_sighup_keeps_the_keys_in_use(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    keys_dir = tmp_path / "platform-keys"
    keys_dir.mkdir()
    api: Api = await make_api("postgres", edit_settings=with_pay(platform_keys_dir=str(keys_dir)))
    (keys_dir / f"{SECOND_ID}.pem").write_bytes(b"not a key")
    from server.app import reload_platform_keys

    reload_platform_keys(api.app)  # logged, not raised
    assert await pays(api)


async def test_certificate_mode_downloads_the_next_certificate_from_the_fake(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    current, following = new_key(), new_key()
    current_pem = platform_certificate(current, 0x5157F09EFDC096DE15EBE81A47057A72)
    following_pem = platform_certificate(following, 0x6A3C0F8E0E1C4F4BB1D5E0E2A1F3C9D2)
    (tmp_path / "wechatpay_current.pem").write_bytes(current_pem)
    api: Api = await make_api(
        "postgres",
        edit_settings=with_pay(
            platform_cert_path=str(tmp_path / "wechatpay_current.pem"),
            platform_public_key_id="",
            platform_cert_refresh_seconds=0,  # downloaded by hand below, not in the background
        ),
    )
    signed_by(api, current, "5157F09EFDC096DE15EBE81A47057A72")
    assert await pays(api)
    api.wx.platform_certificates = [current_pem, following_pem]
    gateway = api.app[WECHAT]
    assert await gateway.download_platform_certificates() == ["6A3C0F8E0E1C4F4BB1D5E0E2A1F3C9D2"]
    assert api.wx.calls_to("/v3/certificates")
    signed_by(api, following, "6A3C0F8E0E1C4F4BB1D5E0E2A1F3C9D2")  # WeChat Pay switches
    assert await pays(api)
    gateway.reload_platform_keys()  # a SIGHUP keeps what was downloaded
    assert await pays(api)


async def test_certificate_mode_downloads_at_start_in_the_background(
    make_api: Callable[..., Any], tmp_path: Path, wx: Any
) -> None:
    current, following = new_key(), new_key()
    current_pem = platform_certificate(current, 0x11)
    following_pem = platform_certificate(following, 0x22)
    (tmp_path / "current.pem").write_bytes(current_pem)
    wx.platform_private_key, wx.platform_serial = following, "22"  # signed by the new one
    wx.platform_certificates = [current_pem, following_pem]
    api: Api = await make_api(
        "postgres",
        edit_settings=with_pay(
            platform_cert_path=str(tmp_path / "current.pem"), platform_public_key_id=""
        ),
    )
    keys = api.app[WECHAT].platform_keys
    for _ in range(200):
        if "22" in keys:
            break
        await asyncio.sleep(0.01)
    assert sorted(keys) == ["11", "22"]
    assert await pays(api)
