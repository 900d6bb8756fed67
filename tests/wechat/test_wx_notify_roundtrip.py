"""Notifications end to end: the fake WeChat POSTs them over HTTP to a tiny merchant app
that verifies and decrypts them with ``pay_v2`` / ``pay_v3`` and answers as WeChat expects."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.wechat.wxtest_constants import API_KEY, APPID, MCHID
from wechat import pay_v2, pay_v3
from wechat.errors import NotificationRejected
from wechat.pay_v3 import MerchantV3
from wechat.xmlsafe import parse_flat_xml
from wechat_fake.server import (
    FakeWeChatState,
    deliver_payment,
    send_v2_payment_notification,
    send_v2_refund_notification,
    send_v3_payment_notification,
    send_v3_refund_notification,
)

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@dataclass
class Inbox:
    notices: list = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)


def merchant_app(inbox: Inbox, merchant_v3: MerchantV3, platform_keys) -> web.Application:
    """The shape the real HTTP layer will have: verify, hand over, answer; or log and FAIL."""

    async def v2_payment(request: web.Request) -> web.Response:
        try:
            notice = pay_v2.verify_payment_notification(await request.read(), API_KEY, APPID, MCHID)
        except NotificationRejected as exc:
            inbox.rejections.append(exc.reason)
            return web.Response(text=pay_v2.fail_reply(exc.reason), content_type="text/xml")
        inbox.notices.append(notice)
        return web.Response(text=pay_v2.success_reply(), content_type="text/xml")

    async def v2_refund(request: web.Request) -> web.Response:
        try:
            notice = pay_v2.verify_refund_notification(await request.read(), API_KEY, APPID, MCHID)
        except NotificationRejected as exc:
            inbox.rejections.append(exc.reason)
            return web.Response(text=pay_v2.fail_reply(exc.reason), content_type="text/xml")
        inbox.notices.append(notice)
        return web.Response(text=pay_v2.success_reply(), content_type="text/xml")

    def v3_handler(verify):
        async def handle(request: web.Request) -> web.Response:
            try:
                notice = verify(request.headers, await request.read(), merchant_v3, platform_keys)
            except NotificationRejected as exc:
                inbox.rejections.append(exc.reason)
                return web.json_response(pay_v3.fail_reply(exc.reason), status=400)
            inbox.notices.append(notice)
            return web.Response(status=204)

        return handle

    app = web.Application()
    app.router.add_post("/pay/v2/notify", v2_payment)
    app.router.add_post("/refund/v2/notify", v2_refund)
    app.router.add_post("/pay/v3/notify", v3_handler(pay_v3.verify_payment_notification))
    app.router.add_post("/refund/v3/notify", v3_handler(pay_v3.verify_refund_notification))
    return app


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def merchant_url(inbox, merchant_v3, platform_keys) -> AsyncIterator[str]:
    server = TestServer(merchant_app(inbox, merchant_v3, platform_keys), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
async def test_v2_payment_notification_round_trip(fake_state, merchant_url, inbox, sign_type):
    delivery = await send_v2_payment_notification(
        fake_state,
        merchant_url + "/pay/v2/notify",
        out_trade_no="Q1",
        total_fee=16800,
        openid=OPENID,
        sign_type=sign_type,
    )
    assert parse_flat_xml(delivery.body)["return_code"] == "SUCCESS"
    [notice] = inbox.notices
    assert (notice.out_trade_no, notice.total_fen, notice.openid) == ("Q1", 16800, OPENID)
    assert fake_state.deliveries == [delivery]


async def test_v2_failed_payment_is_answered_fail(fake_state, merchant_url, inbox):
    delivery = await send_v2_payment_notification(
        fake_state,
        merchant_url + "/pay/v2/notify",
        out_trade_no="Q1",
        total_fee=16800,
        openid=OPENID,
        result_code="FAIL",
    )
    assert parse_flat_xml(delivery.body) == {"return_code": "FAIL", "return_msg": "result_fail"}
    assert inbox.rejections == ["result_fail"]


async def test_v2_refund_notification_round_trip(fake_state, merchant_url, inbox):
    delivery = await send_v2_refund_notification(
        fake_state,
        merchant_url + "/refund/v2/notify",
        out_trade_no="Q1",
        out_refund_no="R1",
        refund_id="5001",
        total_fee=16800,
        refund_fee=16800,
    )
    assert parse_flat_xml(delivery.body)["return_code"] == "SUCCESS"
    [notice] = inbox.notices
    assert (notice.out_refund_no, notice.refund_fen, notice.status) == ("R1", 16800, "SUCCESS")


async def test_v3_payment_notification_round_trip(fake_state, merchant_url, inbox):
    delivery = await send_v3_payment_notification(
        fake_state, merchant_url + "/pay/v3/notify", out_trade_no="Q1", total=16800, openid=OPENID
    )
    assert delivery.status == 204
    [notice] = inbox.notices
    assert (notice.out_trade_no, notice.total_fen, notice.openid) == ("Q1", 16800, OPENID)
    assert notice.transaction_id.startswith("4200")


async def test_v3_refund_notification_round_trip(fake_state, merchant_url, inbox):
    delivery = await send_v3_refund_notification(
        fake_state,
        merchant_url + "/refund/v3/notify",
        out_trade_no="Q1",
        out_refund_no="R1",
        refund_id="5001",
        total=16800,
        refund=8400,
        refund_status="ABNORMAL",
    )
    assert delivery.status == 204
    [notice] = inbox.notices
    assert (notice.status, notice.refund_fen) == ("ABNORMAL", 8400)


async def test_v3_notification_from_an_impostor_is_answered_4xx(
    fake_state, merchant_url, inbox, merchant_key
):
    """Same accounts, but signed by a key that is not WeChat's platform key."""
    impostor = FakeWeChatState(**{**fake_state.__dict__, "platform_private_key": merchant_key})
    delivery = await send_v3_payment_notification(
        impostor, merchant_url + "/pay/v3/notify", out_trade_no="Q1", total=16800, openid=OPENID
    )
    assert delivery.status == 400
    assert json.loads(delivery.body) == {"code": "FAIL", "message": "bad_signature"}
    assert inbox.notices == []


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_order_paid_through_the_fake_reaches_the_merchant(
    api, fake_state, merchant_url, inbox, pay2, pay3
):
    """Prepay through the client, the member pays, the notification arrives and verifies."""
    notify_url = f"{merchant_url}/pay/{api}/notify"
    if api == "v2":
        await pay2.unified_order(
            body="Mall-168",
            out_trade_no="Q1",
            total_fee=16800,
            openid=OPENID,
            notify_url=notify_url,
            spbill_create_ip="127.0.0.1",
        )
    else:
        await pay3.jsapi_prepay(
            description="Mall-168",
            out_trade_no="Q1",
            notify_url=notify_url,
            total_fen=16800,
            openid=OPENID,
        )
    await deliver_payment(fake_state, "Q1")
    [notice] = inbox.notices
    assert notice.transaction_id == fake_state.orders["Q1"].transaction_id
    assert notice.total_fen == 16800
