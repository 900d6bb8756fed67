"""The fake WeChat Pay endpoints, v2 (XML, API-key signatures) and v3 (JSON, RSA).

They check what the real ones check that matters to us: v2 requests must carry a valid sign
(verified with wechatpy's implementation, not ours); v3 requests must carry an Authorization
header whose signature verifies against our merchant public key, with the right mchid, serial
and a fresh timestamp. v3 answers are signed with the fake platform key, as WeChat's are.
Orders live in ``FakeWeChatState.orders``; ``mark_paid`` plays the member paying.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from wechat.pay_results import CHINA_TZ
from wechat.pay_v3 import AUTH_SCHEMA
from wechat.xmlsafe import XmlRejected, build_xml, parse_flat_xml
from wechat_fake.notify import signed_v2_xml, signed_v3_headers, v3_transaction, wechat_v2_sign
from wechat_fake.state import STATE_KEY, FakeOrder, FakeRefund, FakeWeChatState, SecondPayment

_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _new_prepay_id() -> str:
    return "wx" + datetime.now(CHINA_TZ).strftime("%d%H%M%S") + secrets.token_hex(12)


def _new_refund_id() -> str:
    return "5030" + str(time.time_ns()).rjust(25, "0")[-25:]


def _open_order(state: FakeWeChatState, api: str, **fields: Any) -> FakeOrder | str:
    """Create the order, or return the existing one for an identical retry; a string is the
    reason a conflicting request is refused."""
    existing = state.orders.get(fields["out_trade_no"])
    if existing is None:
        order = FakeOrder(api=api, prepay_id=_new_prepay_id(), **fields)
        state.orders[order.out_trade_no] = order
        return order
    if existing.trade_state != "NOTPAY":
        return "ORDERPAID"
    if existing.total != fields["total"] or existing.api != api:
        return "INVALID_REQUEST"
    return existing


def _take_refund(state: FakeWeChatState, **fields: Any) -> FakeRefund | str:
    """A refund of the payment named by ``transaction_id`` (an order's, or a second payment's)
    or else by ``out_trade_no``; a known ``out_refund_no`` is the same refund again."""
    existing = state.refunds.get(fields["out_refund_no"])
    if existing is not None:
        return existing
    second = state.second_payments.get(fields["transaction_id"])
    if second is not None:
        return _refund_second_payment(state, second, fields)
    order = state.orders.get(fields["out_trade_no"])
    if fields["transaction_id"]:
        paid = [o for o in state.orders.values() if o.transaction_id == fields["transaction_id"]]
        order = paid[0] if paid else None
    if order is None:
        return "ORDERNOTEXIST"
    if order.trade_state not in ("SUCCESS", "REFUND"):
        return "TRADE_STATE_ERROR"
    if fields["total"] != order.total or not 0 < fields["refund"] <= order.total - order.refunded:
        return "INVALID_REQUEST"
    refund = _new_refund(state, fields, order.out_trade_no, order.transaction_id)
    order.refunded += refund.refund
    if order.refunded == order.total:
        order.trade_state = "REFUND"
    return refund


def _refund_second_payment(
    state: FakeWeChatState, payment: SecondPayment, fields: dict[str, Any]
) -> FakeRefund | str:
    if (
        fields["total"] != payment.total
        or not 0 < fields["refund"] <= payment.total - payment.refunded
    ):
        return "INVALID_REQUEST"
    refund = _new_refund(state, fields, payment.out_trade_no, payment.transaction_id)
    payment.refunded += refund.refund
    return refund


def _new_refund(
    state: FakeWeChatState, fields: dict[str, Any], out_trade_no: str, transaction_id: str
) -> FakeRefund:
    refund = FakeRefund(
        out_refund_no=fields["out_refund_no"],
        out_trade_no=out_trade_no,
        refund_id=_new_refund_id(),
        refund=fields["refund"],
        notify_url=fields["notify_url"],
        transaction_id=transaction_id,
    )
    state.refunds[refund.out_refund_no] = refund
    return refund


# --- v2 -------------------------------------------------------------------------------------


def _v2_fail(message: str) -> web.Response:
    return web.Response(
        text=build_xml({"return_code": "FAIL", "return_msg": message}), content_type="text/xml"
    )


class _V2Request:
    """A parsed v2 request, or ``refusal`` when it must be answered with return_code FAIL."""

    def __init__(self, state: FakeWeChatState, body: bytes) -> None:
        self.fields: dict[str, str] = {}
        self.sign_type = "MD5"
        self.refusal: web.Response | None = None
        try:
            self.fields = parse_flat_xml(body)
        except XmlRejected:
            self.refusal = _v2_fail("XML格式错误")
            return
        received = self.fields.pop("sign", "")
        self.sign_type = self.fields.get("sign_type", "MD5")
        if received != wechat_v2_sign(self.fields, state.api_key, self.sign_type):
            self.refusal = _v2_fail("签名错误")
        elif self.fields.get("appid") != state.appid or self.fields.get("mch_id") != state.mch_id:
            self.refusal = _v2_fail("appid和mch_id不匹配")

    def answer(self, state: FakeWeChatState, result: dict[str, str]) -> web.Response:
        fields = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": state.appid,
            "mch_id": state.mch_id,
            "nonce_str": secrets.token_hex(16),
            "result_code": "SUCCESS",
            **result,
        }
        xml = signed_v2_xml(fields, state.api_key, self.sign_type, declare_sign_type=False)
        return web.Response(body=xml, content_type="text/xml")

    def business_error(self, state: FakeWeChatState, err_code: str) -> web.Response:
        return self.answer(
            state, {"result_code": "FAIL", "err_code": err_code, "err_code_des": err_code}
        )


async def v2_unifiedorder(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    req = _V2Request(state, await request.read())
    if req.refusal:
        return req.refusal
    f = req.fields
    missing = [
        k for k in ("body", "out_trade_no", "total_fee", "notify_url", "openid") if not f.get(k)
    ]
    if missing or f.get("trade_type") != "JSAPI" or not f["total_fee"].isdigit():
        return _v2_fail(f"缺少参数 {','.join(missing) or 'trade_type/total_fee'}")
    order = _open_order(
        state,
        "v2",
        out_trade_no=f["out_trade_no"],
        total=int(f["total_fee"]),
        openid=f["openid"],
        notify_url=f["notify_url"],
        description=f["body"],
        attach=f.get("attach", ""),
    )
    if isinstance(order, str):
        return req.business_error(state, order)
    return req.answer(state, {"trade_type": "JSAPI", "prepay_id": order.prepay_id})


async def v2_orderquery(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    req = _V2Request(state, await request.read())
    if req.refusal:
        return req.refusal
    order = state.orders.get(req.fields.get("out_trade_no", ""))
    if order is None:
        return req.business_error(state, "ORDERNOTEXIST")
    result = {"out_trade_no": order.out_trade_no, "trade_state": order.trade_state}
    if order.transaction_id and order.paid_at:
        result.update(
            transaction_id=order.transaction_id,
            openid=order.openid,
            total_fee=str(order.total),
            cash_fee=str(order.total),
            trade_type="JSAPI",
            time_end=order.paid_at.strftime("%Y%m%d%H%M%S"),
        )
    return req.answer(state, result)


async def v2_refund(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    req = _V2Request(state, await request.read())
    if req.refusal:
        return req.refusal
    f = req.fields
    if not (f.get("total_fee", "").isdigit() and f.get("refund_fee", "").isdigit()):
        return _v2_fail("缺少参数 total_fee/refund_fee")
    if state.refuse_refunds:
        return req.business_error(state, state.refuse_refunds)
    refund = _take_refund(
        state,
        out_trade_no=f.get("out_trade_no", ""),
        transaction_id=f.get("transaction_id", ""),
        out_refund_no=f.get("out_refund_no", ""),
        total=int(f["total_fee"]),
        refund=int(f["refund_fee"]),
        notify_url=f.get("notify_url", ""),
    )
    if isinstance(refund, str):
        return req.business_error(state, refund)
    order = state.orders[refund.out_trade_no]
    return req.answer(
        state,
        {
            "transaction_id": refund.transaction_id,
            "out_trade_no": order.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_fee": str(refund.refund),
            "total_fee": str(order.total),
            "cash_fee": str(order.total),
        },
    )


# --- v3 -------------------------------------------------------------------------------------


def _v3_answer(state: FakeWeChatState, status: int, data: dict[str, Any]) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    headers = signed_v3_headers(body, state.platform_private_key, state.platform_serial)
    return web.Response(status=status, body=body, headers=headers, content_type="application/json")


def _v3_error(state: FakeWeChatState, status: int, code: str, message: str) -> web.Response:
    return _v3_answer(state, status, {"code": code, "message": message})


def _authorization_error(state: FakeWeChatState, request: web.Request, body: bytes) -> str:
    """Why WeChat would refuse this request's signature, or ``""`` when it verifies."""
    schema, _, rest = request.headers.get("Authorization", "").partition(" ")
    if schema != AUTH_SCHEMA:
        return "Authorization schema"
    params = dict(_AUTH_PARAM.findall(rest))
    if {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - params.keys():
        return "Authorization parameters"
    if params["mchid"] != state.mch_id:
        return "mchid"
    if params["serial_no"] != state.merchant_serial:
        return "serial_no"
    if (
        not params["timestamp"].isdigit()
        or abs(time.time() - int(params["timestamp"])) > state.max_skew
    ):
        return "timestamp"
    message = (
        (
            f"{request.method}\n{request.raw_path}\n{params['timestamp']}\n{params['nonce_str']}\n"
        ).encode()
        + body
        + b"\n"
    )
    try:
        signature = base64.b64decode(params["signature"], validate=True)
        state.merchant_public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return "signature"
    return ""


@web.middleware
async def v3_authorization(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every /v3/ request must be signed by the merchant."""
    if request.path.startswith("/v3/"):
        state = request.app[STATE_KEY]
        error = _authorization_error(state, request, await request.read())
        if error:
            return _v3_error(state, 401, "SIGN_ERROR", f"签名错误: {error}")
    response: web.StreamResponse = await handler(request)
    return response


async def _v3_json(request: web.Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def v3_jsapi(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _v3_json(request)
    if data is None:
        return _v3_error(state, 400, "PARAM_ERROR", "body is not JSON")
    if data.get("appid") != state.appid or data.get("mchid") != state.mch_id:
        return _v3_error(state, 400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    total = (data.get("amount") or {}).get("total")
    openid = (data.get("payer") or {}).get("openid")
    required = (data.get("description"), data.get("out_trade_no"), data.get("notify_url"), openid)
    if not isinstance(total, int) or total <= 0 or not all(required):
        return _v3_error(state, 400, "PARAM_ERROR", "参数错误")
    order = _open_order(
        state,
        "v3",
        out_trade_no=data["out_trade_no"],
        total=total,
        openid=openid,
        notify_url=data["notify_url"],
        description=data["description"],
        attach=data.get("attach", ""),
    )
    if isinstance(order, str):
        return _v3_error(state, 400, order, "订单状态或参数与原订单不符")
    return _v3_answer(state, 200, {"prepay_id": order.prepay_id})


async def v3_query(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.query.get("mchid") != state.mch_id:
        return _v3_error(state, 400, "PARAM_ERROR", "mchid")
    order = state.orders.get(request.match_info["out_trade_no"])
    if order is None:
        return _v3_error(state, 404, "ORDER_NOT_EXIST", "订单不存在")
    tx = v3_transaction(
        appid=state.appid,
        mchid=state.mch_id,
        out_trade_no=order.out_trade_no,
        total=order.total,
        openid=order.openid,
        transaction_id=order.transaction_id or None,
        trade_state=order.trade_state,
        success_time=order.paid_at.isoformat() if order.paid_at else None,
        attach=order.attach,
    )
    return _v3_answer(state, 200, tx)


async def v3_refund(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = await _v3_json(request)
    amount = (data or {}).get("amount") or {}
    if data is None or not isinstance(amount.get("refund"), int) or not data.get("out_refund_no"):
        return _v3_error(state, 400, "PARAM_ERROR", "参数错误")
    if state.refuse_refunds:
        return _v3_error(state, 403, state.refuse_refunds, "退款被拒绝")
    refund = _take_refund(
        state,
        out_trade_no=data.get("out_trade_no", ""),
        transaction_id=data.get("transaction_id", ""),
        out_refund_no=data["out_refund_no"],
        total=amount.get("total"),
        refund=amount["refund"],
        notify_url=data.get("notify_url", ""),
    )
    if refund == "ORDERNOTEXIST":
        return _v3_error(state, 404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if isinstance(refund, str):
        return _v3_error(state, 400, refund, "退款请求与订单不符")
    order = state.orders[refund.out_trade_no]
    return _v3_answer(
        state,
        200,
        {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": refund.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": datetime.now(CHINA_TZ).isoformat(timespec="seconds"),
            "status": "PROCESSING",
            "funds_account": "AVAILABLE",
            "amount": {
                "total": order.total,
                "refund": refund.refund,
                "payer_total": order.total,
                "payer_refund": refund.refund,
                "settlement_total": order.total,
                "settlement_refund": refund.refund,
                "discount_refund": 0,
                "currency": "CNY",
            },
        },
    )


ROUTES = [
    web.post("/pay/unifiedorder", v2_unifiedorder),
    web.post("/pay/orderquery", v2_orderquery),
    web.post("/secapi/pay/refund", v2_refund),
    web.post("/v3/pay/transactions/jsapi", v3_jsapi),
    web.get("/v3/pay/transactions/out-trade-no/{out_trade_no}", v3_query),
    web.post("/v3/refund/domestic/refunds", v3_refund),
]
