"""The one 商家转账 client of the merchant account, built with the WeChat gateway from
``[wechat_pay]``: with v3 payments it shares their credentials, with v2 it uses the v3 key files
when they are configured; none without a merchant account or without those files, and then a
withdrawal approval is refused (503) and changes nothing."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from models import Withdrawal
from runtime.config import Settings
from server.wechat_clients import wechat_clients
from tests.api.conftest import APPID, Api, bearer
from tests.api.test_api_member_entries import snapshot
from tests.api.test_api_member_wallet import with_cash
from wechat.gateway import PayConfigError
from wechat.transfer import SceneInfo, TransferScene
from wechat_fake.transfer import TRANSFER_KEY

DB = "sqlite://:memory:"  # never opened: building the clients touches no database
SCENE = TransferScene("1000", (SceneInfo("活动名称", "测试"),))


def pay_settings(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(
        settings, wechat_pay=dataclasses.replace(settings.wechat_pay, **changes)
    )


@pytest.mark.parametrize("version", ["v3", "v2"])
async def test_transfers_are_apiv3_whatever_the_payments_use(
    make_settings: Callable[..., Settings], fake_wechat: TestServer, version: str
) -> None:
    async with wechat_clients(make_settings(DB, api_version=version)) as gateway:
        assert gateway.pay is not None and gateway.pay.api_version == version
        assert gateway.transfers is not None
        bill = await gateway.transfers.transfer(
            out_bill_no="T1", openid="oPayee", amount_fen=100, remark="测试", scene=SCENE
        )
    assert bill.succeeded  # signed with the v3 merchant key, verified with the platform key
    [sent] = fake_wechat.app[TRANSFER_KEY].created()
    assert (sent.appid, sent.scene_id, sent.report_infos) == (
        APPID,
        "1000",
        (("活动名称", "测试"),),
    )


async def test_no_transfers_without_a_merchant_or_v3_key_files(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    async with wechat_clients(make_settings(DB, pay=False)) as gateway:
        assert (gateway.pay, gateway.transfers) == (None, None)
    v2 = pay_settings(make_settings(DB, api_version="v2"), platform_cert_path="")
    with caplog.at_level(logging.WARNING, logger="wechat.gateway"):
        async with wechat_clients(v2) as gateway:
            assert gateway.pay is not None and gateway.transfers is None
    assert "商家转账" in caplog.text and "platform_cert_path" in caplog.text


async def test_a_configured_key_file_that_cannot_be_read_is_a_configuration_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.pem")
    v2 = pay_settings(make_settings(DB, api_version="v2"), platform_cert_path=missing)
    with pytest.raises(PayConfigError, match="platform_cert_path"):
        async with wechat_clients(v2):
            pass


async def test_approving_a_withdrawal_without_transfers_is_refused_and_changes_nothing(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("postgres", pay=False)
    _, token = await with_cash(api)
    response = await api.client.post(
        "/api/wallet/withdrawals", json={"amount_fen": 1000}, headers=bearer(token)
    )
    withdrawal_id = (await response.json())["withdrawal"]["id"]
    before = await snapshot()
    response = await api.client.post(
        f"/api/admin/withdrawals/{withdrawal_id}/approve", headers=bearer(api.admin_token())
    )
    assert response.status == 503
    assert (await response.json())["code"] == "transfer_unavailable"
    assert await snapshot() == before
    assert (await Withdrawal.get(id=withdrawal_id)).status == "requested"
