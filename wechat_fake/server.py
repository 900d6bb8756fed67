"""A fake WeChat speaking the published wire format, for tests and the demo.

``create_fake_wechat(state)`` is an aiohttp application serving, on one origin, both
api.weixin.qq.com (code2session, token, stable_token, getwxacodeunlimit, subscribe send)
and api.mch.weixin.qq.com (pay v2 and v3, in ``wechat_fake.pay``). Every request is recorded
in ``state.calls``. The ``send_*`` helpers deliver signed notifications to a merchant URL the
way WeChat Pay does and record the merchant's answer in ``state.deliveries``.

Standalone, for the demo: ``python -m wechat_fake.server --port 8900 --keys-dir var/fake-wechat``
generates merchant and platform keys, writes what the app needs into the keys directory,
accepts any login code, and exposes ``POST /__fake__/orders/{out_trade_no}/pay`` to play a
member paying (the payment notification goes to the order's notify_url).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import signal
import struct
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wechat_fake import notify as fake_notify
from wechat_fake.certificates import ROUTES as CERTIFICATE_ROUTES
from wechat_fake.pay import ROUTES as PAY_ROUTES
from wechat_fake.pay import v3_authorization
from wechat_fake.state import STATE_KEY, CodeGrant, Delivery, FakeWeChatState, RecordedCall
from wechat_fake.transfer import add_transfer_routes

__all__ = [
    "FakeWeChatState",
    "create_fake_wechat",
    "deliver_payment",
    "deliver_refund",
    "send_v2_payment_notification",
    "send_v2_refund_notification",
    "send_v3_payment_notification",
    "send_v3_refund_notification",
    "tiny_png",
]


def tiny_png(size: int = 21) -> bytes:
    """A real, valid PNG (8-bit greyscale, a checkerboard of ``size``² pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + bytes(0 if (x + y) % 2 else 255 for x in range(size)) for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _errcode(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


def _credentials_error(state: FakeWeChatState, appid: Any, secret: Any) -> web.Response | None:
    if appid != state.appid:
        return _errcode(40013, "invalid appid")
    if secret != state.secret:
        return _errcode(40125, "invalid appsecret")
    return None


def _token_error(state: FakeWeChatState, request: web.Request) -> web.Response | None:
    if request.query.get("access_token") not in state.access_tokens:
        return _errcode(40001, "invalid credential, access_token is invalid or not latest")
    return None


@web.middleware
async def _record(request: web.Request, handler: Any) -> web.StreamResponse:
    request.app[STATE_KEY].calls.append(
        RecordedCall(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=await request.read(),
        )
    )
    response: web.StreamResponse = await handler(request)
    return response


async def code2session(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    q = request.query
    refused = _credentials_error(state, q.get("appid"), q.get("secret"))
    if refused:
        return refused
    code = q.get("js_code", "")
    if code in state.code_errcodes:
        return _errcode(state.code_errcodes[code], "simulated error")
    if code in state.used_codes:
        return _errcode(40163, "code been used")
    grant = state.codes.get(code)
    if grant is None and state.accept_any_code and code:
        # A stable openid per code, so the demo's members are reproducible.
        openid = "oFAKE" + hashlib.sha256(code.encode()).hexdigest()[:23]
        grant = CodeGrant(openid, secrets.token_urlsafe(16))
    if grant is None or q.get("grant_type") != "authorization_code":
        return _errcode(40029, "invalid code")
    state.used_codes.add(code)
    answer = {"openid": grant.openid, "session_key": grant.session_key}
    if grant.unionid:
        answer["unionid"] = grant.unionid
    return web.json_response(answer)


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    q = request.query
    refused = _credentials_error(state, q.get("appid"), q.get("secret"))
    if refused:
        return refused
    if q.get("grant_type") != "client_credential":
        return _errcode(40002, "invalid grant_type")
    return web.json_response(
        {"access_token": state.issue_access_token(), "expires_in": state.token_expires_in}
    )


async def stable_token(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        data = json.loads(await request.read())
    except ValueError:
        return _errcode(47001, "data format error")
    refused = _credentials_error(state, data.get("appid"), data.get("secret"))
    if refused:
        return refused
    if state.stable_token is None or data.get("force_refresh"):
        state.stable_token = state.issue_access_token()
    return web.json_response(
        {"access_token": state.stable_token, "expires_in": state.token_expires_in}
    )


async def getwxacodeunlimit(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    refused = _token_error(state, request)
    if refused:
        return refused
    if state.wxacode_errcode is not None:
        return _errcode(state.wxacode_errcode, "simulated error")
    try:
        data = json.loads(await request.read())
    except ValueError:
        return _errcode(47001, "data format error")
    scene = data.get("scene")
    if not isinstance(scene, str) or not 0 < len(scene) <= 32:
        return _errcode(40169, "invalid length for scene, or the data is not json string")
    return web.Response(body=tiny_png(), content_type="image/png")


async def subscribe_send(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    refused = _token_error(state, request)
    if refused:
        return refused
    try:
        data = json.loads(await request.read())
    except ValueError:
        return _errcode(47001, "data format error")
    errcode = state.subscribe_errcodes.get(data.get("touser", ""))
    if errcode == 43101:
        return _errcode(43101, "user refuse to accept the msg")
    if errcode is not None:
        return _errcode(errcode, "simulated error")
    if not data.get("touser") or not data.get("template_id"):
        return _errcode(47003, "argument invalid!")
    state.sent_messages.append(data)
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(state.sent_messages)})


# --- notifications WeChat Pay sends ---------------------------------------------------------


async def _post(
    state: FakeWeChatState,
    url: str,
    kind: str,
    body: bytes,
    headers: dict[str, str],
    session: aiohttp.ClientSession | None,
) -> Delivery:
    async def send(client: aiohttp.ClientSession) -> Delivery:
        async with client.post(url, data=body, headers=headers) as response:
            return Delivery(url, kind, response.status, await response.read())

    if session is not None:
        delivery = await send(session)
    else:
        async with aiohttp.ClientSession() as own:
            delivery = await send(own)
    state.deliveries.append(delivery)
    return delivery


async def _post_v3(
    state: FakeWeChatState,
    url: str,
    event_type: str,
    original_type: str,
    plain: dict[str, Any],
    session: aiohttp.ClientSession | None,
) -> Delivery:
    headers, body = fake_notify.build_v3_notification(
        platform_key=state.platform_private_key,
        platform_serial=state.platform_serial,
        apiv3_key=state.apiv3_key,
        event_type=event_type,
        original_type=original_type,
        plain_resource=plain,
        summary="支付成功" if original_type == "transaction" else "退款状态变更",
    )
    kind = "v3.payment" if original_type == "transaction" else "v3.refund"
    return await _post(state, url, kind, body, headers, session)


async def send_v2_payment_notification(
    state: FakeWeChatState,
    url: str,
    *,
    out_trade_no: str,
    total_fee: int,
    openid: str,
    transaction_id: str | None = None,
    result_code: str = "SUCCESS",
    sign_type: str = "MD5",
    session: aiohttp.ClientSession | None = None,
) -> Delivery:
    """POST a signed v2 payment notification (XML) to ``url``."""
    body = fake_notify.build_v2_payment_notification(
        api_key=state.api_key,
        appid=state.appid,
        mch_id=state.mch_id,
        out_trade_no=out_trade_no,
        total_fee=total_fee,
        openid=openid,
        transaction_id=transaction_id,
        result_code=result_code,
        sign_type=sign_type,
    )
    return await _post(state, url, "v2.payment", body, {"Content-Type": "text/xml"}, session)


async def send_v2_refund_notification(
    state: FakeWeChatState,
    url: str,
    *,
    out_trade_no: str,
    out_refund_no: str,
    refund_id: str,
    total_fee: int,
    refund_fee: int,
    refund_status: str = "SUCCESS",
    transaction_id: str = "",
    session: aiohttp.ClientSession | None = None,
) -> Delivery:
    """POST a v2 refund notification, details AES-256-ECB encrypted in ``req_info``."""
    body = fake_notify.build_v2_refund_notification(
        api_key=state.api_key,
        appid=state.appid,
        mch_id=state.mch_id,
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        refund_id=refund_id,
        total_fee=total_fee,
        refund_fee=refund_fee,
        refund_status=refund_status,
        transaction_id=transaction_id,
    )
    return await _post(state, url, "v2.refund", body, {"Content-Type": "text/xml"}, session)


async def send_v3_payment_notification(
    state: FakeWeChatState,
    url: str,
    *,
    out_trade_no: str,
    total: int,
    openid: str,
    transaction_id: str | None = None,
    trade_state: str = "SUCCESS",
    session: aiohttp.ClientSession | None = None,
) -> Delivery:
    """POST a signed v3 TRANSACTION.SUCCESS notification with an AES-GCM ``resource``."""
    plain = fake_notify.v3_transaction(
        appid=state.appid,
        mchid=state.mch_id,
        out_trade_no=out_trade_no,
        total=total,
        openid=openid,
        transaction_id=transaction_id,
        trade_state=trade_state,
    )
    return await _post_v3(state, url, "TRANSACTION.SUCCESS", "transaction", plain, session)


async def send_v3_refund_notification(
    state: FakeWeChatState,
    url: str,
    *,
    out_trade_no: str,
    out_refund_no: str,
    refund_id: str,
    total: int,
    refund: int,
    refund_status: str = "SUCCESS",
    transaction_id: str = "",
    session: aiohttp.ClientSession | None = None,
) -> Delivery:
    """POST a signed v3 REFUND.<status> notification with an AES-GCM ``resource``."""
    plain = fake_notify.v3_refund(
        mchid=state.mch_id,
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        refund_id=refund_id,
        total=total,
        refund=refund,
        refund_status=refund_status,
        transaction_id=transaction_id,
    )
    return await _post_v3(state, url, f"REFUND.{refund_status}", "refund", plain, session)


async def deliver_payment(
    state: FakeWeChatState, out_trade_no: str, *, session: aiohttp.ClientSession | None = None
) -> Delivery:
    """The member pays: mark the order paid and notify its notify_url in its API version."""
    order = state.mark_paid(out_trade_no)
    if order.api == "v2":
        return await send_v2_payment_notification(
            state,
            order.notify_url,
            out_trade_no=order.out_trade_no,
            total_fee=order.total,
            openid=order.openid,
            transaction_id=order.transaction_id,
            session=session,
        )
    return await send_v3_payment_notification(
        state,
        order.notify_url,
        out_trade_no=order.out_trade_no,
        total=order.total,
        openid=order.openid,
        transaction_id=order.transaction_id,
        session=session,
    )


async def deliver_refund(
    state: FakeWeChatState,
    out_refund_no: str,
    url: str,
    *,
    api: str = "v3",
    refund_status: str = "SUCCESS",
    session: aiohttp.ClientSession | None = None,
) -> Delivery:
    """WeChat Pay finished a refund it took: notify ``url`` (in ``api``) of its outcome."""
    refund = state.refunds[out_refund_no]
    second = state.second_payments.get(refund.transaction_id)
    total = second.total if second is not None else state.orders[refund.out_trade_no].total
    fields: dict[str, Any] = {
        "out_trade_no": refund.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund_status,
        "transaction_id": refund.transaction_id,
        "session": session,
    }
    if api == "v2":
        return await send_v2_refund_notification(
            state, url, total_fee=total, refund_fee=refund.refund, **fields
        )
    return await send_v3_refund_notification(
        state, url, total=total, refund=refund.refund, **fields
    )


async def _control_pay(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    out_trade_no = request.match_info["out_trade_no"]
    if out_trade_no not in state.orders:
        raise web.HTTPNotFound(text="no such order")
    delivery = await deliver_payment(state, out_trade_no)
    return web.json_response(
        {"status": delivery.status, "answer": delivery.body.decode("utf-8", "replace")}
    )


async def _control_calls(request: web.Request) -> web.Response:
    calls = request.app[STATE_KEY].calls
    return web.json_response([{"method": c.method, "path": c.path} for c in calls])


def create_fake_wechat(state: FakeWeChatState) -> web.Application:
    """The fake WeChat (API and Pay on one origin), backed by ``state``."""
    app = web.Application(middlewares=[_record, v3_authorization])
    app[STATE_KEY] = state
    app.add_routes(
        [
            web.get("/sns/jscode2session", code2session),
            web.get("/cgi-bin/token", token),
            web.post("/cgi-bin/stable_token", stable_token),
            web.post("/wxa/getwxacodeunlimit", getwxacodeunlimit),
            web.post("/cgi-bin/message/subscribe/send", subscribe_send),
            *PAY_ROUTES,
            *CERTIFICATE_ROUTES,
            web.post("/__fake__/orders/{out_trade_no}/pay", _control_pay),
            web.get("/__fake__/calls", _control_calls),
        ]
    )
    add_transfer_routes(app)  # 商家转账
    return app


# --- standalone -----------------------------------------------------------------------------


def demo_state(keys_dir: Path) -> FakeWeChatState:
    """Fresh keys and test accounts; writes merchant_key.pem, platform_public.pem and
    fake-wechat.json (appid, secret, mch_id, API keys, serials) into ``keys_dir``."""
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state = FakeWeChatState(
        appid="wxfake0000000demo",
        secret="fake-app-secret",
        mch_id="1900000109",
        api_key=secrets.token_hex(16),
        apiv3_key=secrets.token_hex(16).encode("ascii"),
        merchant_public_key=merchant.public_key(),
        merchant_serial=secrets.token_hex(20).upper(),
        platform_private_key=platform,
        platform_serial="PUB_KEY_ID_FAKE" + secrets.token_hex(8).upper(),
        accept_any_code=True,
    )
    keys_dir.mkdir(parents=True, exist_ok=True)
    (keys_dir / "merchant_key.pem").write_bytes(
        merchant.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (keys_dir / "platform_public.pem").write_bytes(
        platform.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = {
        "appid": state.appid,
        "secret": state.secret,
        "mch_id": state.mch_id,
        "api_key": state.api_key,
        "apiv3_key": state.apiv3_key.decode("ascii"),
        "merchant_serial": state.merchant_serial,
        "platform_serial": state.platform_serial,
    }
    (keys_dir / "fake-wechat.json").write_text(json.dumps(settings, indent=2))
    return state


async def _serve(host: str, port: int, keys_dir: Path) -> None:
    runner = web.AppRunner(create_fake_wechat(demo_state(keys_dir)))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    # Stop on SIGINT or SIGTERM, handled here rather than left to asyncio.run: a process started
    # as a shell's background job inherits SIGINT ignored, and Python then installs no handler.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(
        f"fake WeChat listening on http://{host}:{port} (keys and accounts in {keys_dir})",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m wechat_fake.server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--keys-dir", type=Path, default=Path("var/fake-wechat"))
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port, args.keys_dir))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
