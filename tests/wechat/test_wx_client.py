"""The async client against the fake WeChat: every endpoint and every mapped error code."""

import asyncio
import json
import logging
import socket
import struct
import zlib
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.wechat.wxtest_constants import APIV3_KEY, APPID, MCHID, MERCHANT_SERIAL, SECRET
from wechat import pay_v2
from wechat.client import MiniProgramClient, PayV2Client, PayV3Client
from wechat.errors import (
    AccessTokenInvalid,
    HighRiskUser,
    InvalidCode,
    PayV2Error,
    PayV3Error,
    RateLimited,
    ResponseSignatureInvalid,
    SubscriptionExhausted,
    WeChatApiError,
    WeChatBusy,
    WeChatUnreachable,
)
from wechat.pay_v2 import MerchantV2
from wechat.pay_v3 import MerchantV3
from wechat.xmlsafe import parse_flat_xml
from wechat_fake.notify import signed_v2_xml

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@asynccontextmanager
async def stub_server(method: str, path: str, answer, delay: float = 0.0):
    """A one-route server on 127.0.0.1 answering ``answer()``; yields its base URL."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return answer()

    app = web.Application()
    app.router.add_route(method, path, handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def assert_valid_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        chunks[kind] = payload
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (width + 1)
    assert b"IEND" in chunks
    return width, height


# --- code2session ---------------------------------------------------------------------------


async def test_code2session_returns_openid_unionid_and_session_key(mini, fake_state):
    fake_state.register_code("c1", OPENID, unionid="u1", session_key="SECRET-SESSION-KEY")
    login = await mini.code2session("c1")
    assert (login.openid, login.unionid, login.session_key) == (OPENID, "u1", "SECRET-SESSION-KEY")
    assert "SECRET-SESSION-KEY" not in repr(login)
    call = fake_state.calls_to("/sns/jscode2session")[0]
    assert call.query == {
        "appid": APPID,
        "secret": SECRET,
        "js_code": "c1",
        "grant_type": "authorization_code",
    }


async def test_code2session_never_logs_the_session_key_or_secret(mini, fake_state, caplog):
    fake_state.register_code("c1", OPENID, session_key="SECRET-SESSION-KEY")
    fake_state.code_errcodes["c2"] = 45011
    with caplog.at_level(logging.DEBUG):
        await mini.code2session("c1")
        with pytest.raises(RateLimited):
            await mini.code2session("c2")
    # aiohttp.access is the fake WeChat's own server log: WeChat's side, not ours.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "wechat call GET /sns/jscode2session" in ours
    assert "SECRET-SESSION-KEY" not in ours
    assert SECRET not in ours


async def test_unknown_code_is_invalid(mini):
    with pytest.raises(InvalidCode) as info:
        await mini.code2session("never-issued")
    assert info.value.errcode == 40029


async def test_a_code_works_once(mini, fake_state):
    fake_state.register_code("c1", OPENID)
    await mini.code2session("c1")
    with pytest.raises(InvalidCode) as info:
        await mini.code2session("c1")
    assert info.value.errcode == 40163


@pytest.mark.parametrize(
    ("errcode", "exception"),
    [(40029, InvalidCode), (45011, RateLimited), (40226, HighRiskUser), (-1, WeChatBusy)],
)
async def test_code2session_errcodes_map_to_their_exceptions(mini, fake_state, errcode, exception):
    fake_state.code_errcodes["c"] = errcode
    with pytest.raises(exception) as info:
        await mini.code2session("c")
    assert info.value.errcode == errcode


async def test_wrong_secret_is_a_plain_api_error(http, fake_url):
    client = MiniProgramClient(http, appid=APPID, secret="wrong", api_base_url=fake_url)
    with pytest.raises(WeChatApiError) as info:
        await client.code2session("c")
    assert type(info.value) is WeChatApiError
    assert info.value.errcode == 40125


# --- access token ---------------------------------------------------------------------------


async def test_fetch_access_token(mini, fake_state):
    token = await mini.fetch_access_token()
    assert token.token in fake_state.access_tokens
    assert token.expires_in == 7200
    assert token.token not in repr(token)


async def test_stable_token_stays_the_same_until_forced(mini):
    first = await mini.fetch_stable_access_token()
    assert (await mini.fetch_stable_access_token()).token == first.token
    assert (await mini.fetch_stable_access_token(force_refresh=True)).token != first.token


# --- getwxacodeunlimit ----------------------------------------------------------------------


async def test_unlimited_wxacode_is_a_png(mini, fake_state):
    token = await mini.fetch_access_token()
    png = await mini.get_unlimited_wxacode(token.token, scene="ref=42", page="pages/index/index")
    assert assert_valid_png(png) == (21, 21)
    body = fake_state.calls_to("/wxa/getwxacodeunlimit")[0].body
    assert b'"scene": "ref=42"' in body


async def test_wxacode_with_a_bad_token_raises_access_token_invalid(mini):
    with pytest.raises(AccessTokenInvalid) as info:
        await mini.get_unlimited_wxacode("expired", scene="ref=42")
    assert info.value.errcode == 40001


async def test_wxacode_json_error_body_is_detected(mini, fake_state):
    token = await mini.fetch_access_token()
    fake_state.wxacode_errcode = 45009
    with pytest.raises(WeChatApiError) as info:
        await mini.get_unlimited_wxacode(token.token, scene="ref=42")
    assert info.value.errcode == 45009


async def test_wxacode_scene_over_32_characters_is_refused(mini):
    token = await mini.fetch_access_token()
    with pytest.raises(WeChatApiError) as info:
        await mini.get_unlimited_wxacode(token.token, scene="x" * 33)
    assert info.value.errcode == 40169


# --- subscribe messages ---------------------------------------------------------------------


async def test_subscribe_message_is_sent_in_wechat_format(mini, fake_state):
    token = await mini.fetch_access_token()
    msgid = await mini.send_subscribe_message(
        token.token,
        openid=OPENID,
        template_id="TPL1",
        data={"thing1": "Queue reward", "amount2": "109.20"},
        page="pages/queue/index",
    )
    assert msgid == 1
    assert fake_state.sent_messages == [
        {
            "touser": OPENID,
            "template_id": "TPL1",
            "data": {"thing1": {"value": "Queue reward"}, "amount2": {"value": "109.20"}},
            "lang": "zh_CN",
            "page": "pages/queue/index",
        }
    ]


@pytest.mark.parametrize(
    ("errcode", "exception"),
    [(43101, SubscriptionExhausted), (-1, WeChatBusy), (47003, WeChatApiError)],
)
async def test_subscribe_errcodes_map_to_their_exceptions(mini, fake_state, errcode, exception):
    token = await mini.fetch_access_token()
    fake_state.subscribe_errcodes[OPENID] = errcode
    with pytest.raises(exception) as info:
        await mini.send_subscribe_message(token.token, openid=OPENID, template_id="T", data={})
    assert info.value.errcode == errcode
    assert fake_state.sent_messages == []


async def test_subscribe_with_a_bad_token_raises_access_token_invalid(mini):
    with pytest.raises(AccessTokenInvalid):
        await mini.send_subscribe_message("expired", openid=OPENID, template_id="T", data={})


# --- transport ------------------------------------------------------------------------------


async def test_closed_port_is_unreachable(http):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = MiniProgramClient(
        http, appid=APPID, secret=SECRET, api_base_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(WeChatUnreachable):
        await client.fetch_access_token()


async def test_slow_answer_times_out_as_unreachable(http):
    async with stub_server("GET", "/cgi-bin/token", web.json_response, delay=2) as url:
        client = MiniProgramClient(http, appid=APPID, secret=SECRET, api_base_url=url, timeout=0.2)
        with pytest.raises(WeChatUnreachable):
            await client.fetch_access_token()


async def test_non_json_answer_is_unreachable(http):
    def bad_gateway():
        return web.Response(status=502, text="<html>")

    async with stub_server("GET", "/cgi-bin/token", bad_gateway) as url:
        client = MiniProgramClient(http, appid=APPID, secret=SECRET, api_base_url=url)
        with pytest.raises(WeChatUnreachable):
            await client.fetch_access_token()


async def test_oversize_answer_is_refused(http):
    def huge_image():
        return web.Response(body=b"\xff" * (4 * 1024 * 1024 + 1), content_type="image/jpeg")

    async with stub_server("POST", "/wxa/getwxacodeunlimit", huge_image) as url:
        client = MiniProgramClient(http, appid=APPID, secret=SECRET, api_base_url=url)
        with pytest.raises(WeChatUnreachable, match="larger than"):
            await client.get_unlimited_wxacode("token", scene="ref=42")


# --- pay v2 ---------------------------------------------------------------------------------


async def unified_order(pay2: PayV2Client, out_trade_no="Q1", total_fee=16800) -> str:
    return await pay2.unified_order(
        body="Mall-168",
        out_trade_no=out_trade_no,
        total_fee=total_fee,
        openid=OPENID,
        notify_url="https://mall.example/pay/v2/notify",
        spbill_create_ip="127.0.0.1",
    )


async def test_v2_unified_order_returns_prepay_id(pay2, fake_state, merchant_v2):
    prepay_id = await unified_order(pay2)
    assert prepay_id == fake_state.orders["Q1"].prepay_id
    params = pay_v2.jsapi_params(merchant_v2, prepay_id)
    assert params["package"] == f"prepay_id={prepay_id}"


async def test_v2_unified_order_retry_returns_the_same_prepay_id(pay2):
    assert await unified_order(pay2) == await unified_order(pay2)


async def test_v2_unified_order_with_hmac_sha256(http, fake_url):
    merchant = MerchantV2(APPID, MCHID, "192006250b4c09247ec02edce69f6a2d", "HMAC-SHA256")
    client = PayV2Client(http, merchant, pay_api_base_url=fake_url)
    assert (await unified_order(client)).startswith("wx")


async def test_v2_wrong_api_key_is_refused_by_wechat(http, fake_url):
    merchant = MerchantV2(APPID, MCHID, "not-our-key")
    client = PayV2Client(http, merchant, pay_api_base_url=fake_url)
    with pytest.raises(PayV2Error) as info:
        await unified_order(client)
    assert info.value.return_code == "FAIL"
    assert info.value.return_msg == "签名错误"


async def test_v2_paid_order_cannot_be_ordered_again(pay2, fake_state):
    await unified_order(pay2)
    fake_state.mark_paid("Q1")
    with pytest.raises(PayV2Error) as info:
        await unified_order(pay2)
    assert info.value.err_code == "ORDERPAID"


async def test_v2_query_order_before_and_after_payment(pay2, fake_state):
    await unified_order(pay2)
    before = await pay2.query_order("Q1")
    assert (before.trade_state, before.is_paid) == ("NOTPAY", False)
    order = fake_state.mark_paid("Q1")
    after = await pay2.query_order("Q1")
    assert after.is_paid
    assert (after.transaction_id, after.total_fen, after.openid) == (
        order.transaction_id,
        16800,
        OPENID,
    )
    assert after.paid_at == order.paid_at


async def test_v2_query_unknown_order(pay2):
    with pytest.raises(PayV2Error) as info:
        await pay2.query_order("nope")
    assert info.value.err_code == "ORDERNOTEXIST"


async def test_v2_refund(pay2, fake_state):
    await unified_order(pay2)
    fake_state.mark_paid("Q1")
    receipt = await pay2.refund(
        out_trade_no="Q1", out_refund_no="R1", total_fee=16800, refund_fee=8400
    )
    assert (receipt.out_refund_no, receipt.refund_fen, receipt.status) == ("R1", 8400, "PROCESSING")
    assert receipt.refund_id == fake_state.refunds["R1"].refund_id


async def test_v2_refund_of_a_second_payment_names_its_transaction(pay2, fake_state):
    await unified_order(pay2)
    fake_state.mark_paid("Q1")
    second = fake_state.pay_again("Q1")
    receipt = await pay2.refund(
        out_trade_no="Q1",
        out_refund_no="R2",
        total_fee=16800,
        refund_fee=16800,
        transaction_id=second.transaction_id,
    )
    assert receipt.refund_fen == 16800
    assert fake_state.refunds["R2"].transaction_id == second.transaction_id
    assert (second.refunded, fake_state.orders["Q1"].refunded) == (16800, 0)
    body = parse_flat_xml(fake_state.calls_to("/secapi/pay/refund")[0].body)
    assert body["transaction_id"] == second.transaction_id and "out_trade_no" not in body


@pytest.mark.parametrize(
    ("paid", "refund_fee", "err_code"),
    [(False, 100, "TRADE_STATE_ERROR"), (True, 16801, "INVALID_REQUEST")],
)
async def test_v2_refund_errors(pay2, fake_state, paid, refund_fee, err_code):
    await unified_order(pay2)
    if paid:
        fake_state.mark_paid("Q1")
    with pytest.raises(PayV2Error) as info:
        await pay2.refund(
            out_trade_no="Q1", out_refund_no="R1", total_fee=16800, refund_fee=refund_fee
        )
    assert info.value.err_code == err_code


async def test_v2_answer_signed_with_another_key_is_not_trusted(http):
    answer = signed_v2_xml(
        {"return_code": "SUCCESS", "result_code": "SUCCESS", "prepay_id": "wx1"}, "forged"
    )
    async with stub_server("POST", "/pay/unifiedorder", lambda: web.Response(body=answer)) as url:
        merchant = MerchantV2(APPID, MCHID, "192006250b4c09247ec02edce69f6a2d")
        client = PayV2Client(http, merchant, pay_api_base_url=url)
        with pytest.raises(ResponseSignatureInvalid):
            await unified_order(client)


# --- pay v3 ---------------------------------------------------------------------------------


async def prepay(pay3: PayV3Client, out_trade_no="Q1", total_fen=16800) -> str:
    return await pay3.jsapi_prepay(
        description="Mall-168",
        out_trade_no=out_trade_no,
        notify_url="https://mall.example/pay/v3/notify",
        total_fen=total_fen,
        openid=OPENID,
    )


async def test_v3_prepay_returns_prepay_id_and_is_idempotent(pay3, fake_state):
    prepay_id = await prepay(pay3)
    assert prepay_id == fake_state.orders["Q1"].prepay_id
    assert await prepay(pay3) == prepay_id
    call = fake_state.calls_to("/v3/pay/transactions/jsapi")[0]
    assert call.headers["Authorization"].startswith("WECHATPAY2-SHA256-RSA2048 ")


async def test_v3_changed_amount_for_the_same_order_is_refused(pay3):
    await prepay(pay3)
    with pytest.raises(PayV3Error) as info:
        await prepay(pay3, total_fen=1)
    assert (info.value.status, info.value.code) == (400, "INVALID_REQUEST")


async def test_v3_request_signed_by_another_key_is_refused(http, fake_url, fake_state):
    stranger = MerchantV3(
        APPID,
        MCHID,
        MERCHANT_SERIAL,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        APIV3_KEY,
    )
    client = PayV3Client(http, stranger, fake_state.platform_keys, pay_api_base_url=fake_url)
    with pytest.raises(PayV3Error) as info:
        await prepay(client)
    assert (info.value.status, info.value.code) == (401, "SIGN_ERROR")


async def test_v3_answer_from_an_unknown_platform_key_is_not_trusted(
    http, fake_url, merchant_v3, merchant_key
):
    wrong_keys = {"PUB_KEY_ID_SOMEONE_ELSE": merchant_key.public_key()}
    client = PayV3Client(http, merchant_v3, wrong_keys, pay_api_base_url=fake_url)
    with pytest.raises(ResponseSignatureInvalid, match="unknown_serial"):
        await prepay(client)


async def test_v3_answer_signed_by_the_wrong_key_is_not_trusted(
    http, fake_url, merchant_v3, merchant_key, fake_state
):
    wrong_keys = {fake_state.platform_serial: merchant_key.public_key()}
    client = PayV3Client(http, merchant_v3, wrong_keys, pay_api_base_url=fake_url)
    with pytest.raises(ResponseSignatureInvalid, match="bad_signature"):
        await prepay(client)


async def test_v3_query_order_before_and_after_payment(pay3, fake_state):
    await prepay(pay3)
    before = await pay3.query_order("Q1")
    assert (before.trade_state, before.transaction_id) == ("NOTPAY", "")
    order = fake_state.mark_paid("Q1")
    after = await pay3.query_order("Q1")
    assert after.is_paid
    assert (after.transaction_id, after.total_fen, after.openid) == (
        order.transaction_id,
        16800,
        OPENID,
    )
    assert after.paid_at == order.paid_at


async def test_v3_query_signs_an_escaped_order_number(pay3, fake_state):
    await prepay(pay3, out_trade_no="Q_1|2*3")
    assert (await pay3.query_order("Q_1|2*3")).trade_state == "NOTPAY"
    call = fake_state.calls_to("/v3/pay/transactions/out-trade-no/Q_1|2*3")[0]
    assert call.query == {"mchid": MCHID}


async def test_v3_query_unknown_order(pay3):
    with pytest.raises(PayV3Error) as info:
        await pay3.query_order("nope")
    assert (info.value.status, info.value.code) == (404, "ORDER_NOT_EXIST")


async def test_v3_refund(pay3, fake_state):
    await prepay(pay3)
    fake_state.mark_paid("Q1")
    receipt = await pay3.refund(
        out_trade_no="Q1", out_refund_no="R1", total_fen=16800, refund_fen=16800, reason="r"
    )
    assert (receipt.status, receipt.refund_fen) == ("PROCESSING", 16800)
    assert receipt.refund_id == fake_state.refunds["R1"].refund_id
    assert (await pay3.query_order("Q1")).trade_state == "REFUND"
    again = await pay3.refund(
        out_trade_no="Q1", out_refund_no="R1", total_fen=16800, refund_fen=16800
    )
    assert again.refund_id == receipt.refund_id


async def test_v3_refund_of_a_second_payment_names_its_transaction(pay3, fake_state):
    await prepay(pay3)
    first = fake_state.mark_paid("Q1").transaction_id
    second = fake_state.pay_again("Q1")
    receipt = await pay3.refund(
        out_trade_no="Q1",
        out_refund_no="R2",
        total_fen=16800,
        refund_fen=16800,
        reason=None,
        transaction_id=second.transaction_id,
    )
    assert receipt.raw["transaction_id"] == second.transaction_id != first
    body = json.loads(fake_state.calls_to("/v3/refund/domestic/refunds")[0].body)
    assert body["transaction_id"] == second.transaction_id and "out_trade_no" not in body
    assert (await pay3.query_order("Q1")).trade_state == "SUCCESS"  # the order's own stays paid


async def test_v3_refund_of_unknown_order(pay3):
    with pytest.raises(PayV3Error) as info:
        await pay3.refund(out_trade_no="nope", out_refund_no="R1", total_fen=1, refund_fen=1)
    assert (info.value.status, info.value.code) == (404, "RESOURCE_NOT_EXISTS")


async def test_v3_server_error_is_unreachable(http, merchant_v3, fake_state):
    def system_error():
        return web.json_response({"code": "SYSTEM_ERROR", "message": "busy"}, status=500)

    async with stub_server("POST", "/v3/pay/transactions/jsapi", system_error) as url:
        client = PayV3Client(http, merchant_v3, fake_state.platform_keys, pay_api_base_url=url)
        with pytest.raises(WeChatUnreachable):
            await prepay(client)
