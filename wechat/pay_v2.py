"""WeChat Pay API v2: signing, verification, notifications, and the XML of the calls we make.

Signing rule (pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3): take every parameter
with a non-empty value except ``sign``, sort by name (ASCII), join as ``k=v`` with ``&``,
append ``&key=<API key>``, then MD5 or HMAC-SHA256 (keyed with the API key) as upper-case hex.
Verification picks the algorithm from ``sign_type`` when present, else from the length of the
sign (32 hex digits MD5, 64 HMAC-SHA256), and compares in constant time.

We do not use wechatpy's ``calculate_signature`` here: it logs the string to sign, API key
included, at DEBUG; its notification check is MD5-only with a plain ``==``; and its refund
decryption parses the decrypted XML without defusedxml and without checking the padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wechat.errors import (
    BadCiphertext,
    BadSignature,
    ForbiddenXml,
    MalformedBody,
    NotificationRejected,
    OversizeBody,
    PaymentNotSuccessful,
    PayV2Error,
    ResponseSignatureInvalid,
    ReturnCodeFail,
    WeChatUnreachable,
    WrongMerchant,
)
from wechat.pay_results import (
    OrderStatus,
    PaymentNotice,
    RefundNotice,
    RefundReceipt,
    parse_v2_time,
)
from wechat.xmlsafe import (
    MAX_XML_BYTES,
    XmlForbidden,
    XmlRejected,
    XmlTooLarge,
    build_xml,
    parse_flat_xml,
)

__all__ = [
    "HMAC_SHA256",
    "MD5",
    "MerchantV2",
    "NotificationRejected",
    "build_orderquery_request",
    "build_refund_request",
    "build_signed_xml",
    "build_unifiedorder_request",
    "decrypt_refund_req_info",
    "fail_reply",
    "jsapi_params",
    "parse_orderquery_response",
    "parse_refund_response",
    "parse_signed_response",
    "parse_unifiedorder_response",
    "sign",
    "success_reply",
    "verify_payment_notification",
    "verify_refund_notification",
    "verify_sign",
]

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"
_REFUND_STATUS = {"SUCCESS": "SUCCESS", "REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}


@dataclass(frozen=True)
class MerchantV2:
    """A v2 merchant account. ``sign_type`` is what our requests use."""

    appid: str
    mch_id: str
    api_key: str = field(repr=False)
    sign_type: str = MD5


def new_nonce() -> str:
    return secrets.token_hex(16)


# --- signing --------------------------------------------------------------------------------


def _string_to_sign(params: Mapping[str, object], api_key: str) -> bytes:
    pairs = [
        f"{k}={params[k]}"
        for k in sorted(params)
        if k != "sign" and params[k] is not None and str(params[k]) != ""
    ]
    pairs.append(f"key={api_key}")
    return "&".join(pairs).encode("utf-8")


def sign(params: Mapping[str, object], api_key: str, sign_type: str = MD5) -> str:
    """The v2 signature of ``params`` (``sign`` itself and empty values are left out)."""
    message = _string_to_sign(params, api_key)
    if sign_type == MD5:
        return hashlib.md5(message).hexdigest().upper()
    if sign_type == HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unsupported sign_type {sign_type!r}")


def verify_sign(params: Mapping[str, str], api_key: str) -> bool:
    """True when ``params["sign"]`` is their valid signature, in constant time."""
    received = params.get("sign", "")
    sign_type = params.get("sign_type") or {32: MD5, 64: HMAC_SHA256}.get(len(received))
    if sign_type not in (MD5, HMAC_SHA256):
        return False
    expected = sign(params, api_key, sign_type)
    return hmac.compare_digest(expected.encode("ascii"), received.upper().encode("utf-8"))


def build_signed_xml(fields: Mapping[str, str | int | None], api_key: str, sign_type: str) -> str:
    """A request body: drops ``None`` values, declares ``sign_type`` unless MD5, signs."""
    clean: dict[str, str | int] = {k: v for k, v in fields.items() if v is not None}
    if sign_type != MD5:
        clean["sign_type"] = sign_type
    clean["sign"] = sign(clean, api_key, sign_type)
    return build_xml(clean)


def _merchant_request(
    merchant: MerchantV2, nonce_str: str | None, fields: Mapping[str, str | int | None]
) -> str:
    """A signed request body carrying the merchant's appid, mch_id and a nonce."""
    return build_signed_xml(
        {
            "appid": merchant.appid,
            "mch_id": merchant.mch_id,
            "nonce_str": nonce_str or new_nonce(),
            **fields,
        },
        merchant.api_key,
        merchant.sign_type,
    )


# --- replies to notifications ---------------------------------------------------------------


def success_reply() -> str:
    """What WeChat expects after we accepted a notification; it then stops retrying."""
    return build_xml({"return_code": "SUCCESS", "return_msg": "OK"})


def fail_reply(msg: str) -> str:
    """Refuse a notification; WeChat retries it later."""
    return build_xml({"return_code": "FAIL", "return_msg": msg})


# --- notifications --------------------------------------------------------------------------


def _parse_untrusted(data: bytes | str, *, root: str = "xml", max_bytes: int) -> dict[str, str]:
    try:
        return parse_flat_xml(data, root=root, max_bytes=max_bytes)
    except XmlTooLarge as exc:
        raise OversizeBody(str(exc)) from exc
    except XmlForbidden as exc:
        raise ForbiddenXml(str(exc)) from exc
    except XmlRejected as exc:
        raise MalformedBody(str(exc)) from exc


def _fen(fields: Mapping[str, str], key: str, default: int | None = None) -> int:
    value = fields.get(key, "")
    if value == "" and default is not None:
        return default
    try:
        return int(value)
    except ValueError:
        raise MalformedBody(f"{key}={value!r} is not an amount in fen") from None


def _check_recipient(fields: Mapping[str, str], expected_appid: str, expected_mchid: str) -> None:
    if fields.get("appid") != expected_appid or fields.get("mch_id") != expected_mchid:
        raise WrongMerchant(f"appid={fields.get('appid')} mch_id={fields.get('mch_id')}")


def verify_payment_notification(
    xml_bytes: bytes,
    api_key: str,
    expected_appid: str,
    expected_mchid: str,
    *,
    max_bytes: int = MAX_XML_BYTES,
) -> PaymentNotice:
    """Accept a v2 payment notification only if it is well-formed, signed with our API key,
    addressed to our appid and mch_id, and both ``return_code`` and ``result_code`` are
    SUCCESS. Anything else raises a ``NotificationRejected`` subclass."""
    fields = _parse_untrusted(xml_bytes, max_bytes=max_bytes)
    if fields.get("return_code") != "SUCCESS":
        raise ReturnCodeFail(fields.get("return_msg", ""))
    if not verify_sign(fields, api_key):
        raise BadSignature("v2 sign does not match")
    _check_recipient(fields, expected_appid, expected_mchid)
    if fields.get("result_code") != "SUCCESS":
        raise PaymentNotSuccessful(f"{fields.get('err_code', '')} {fields.get('err_code_des', '')}")
    for key in ("out_trade_no", "transaction_id", "openid"):
        if not fields.get(key):
            raise MalformedBody(f"{key} missing")
    total = _fen(fields, "total_fee")
    try:
        paid_at = parse_v2_time(fields.get("time_end", ""))
    except ValueError:
        raise MalformedBody(f"time_end={fields.get('time_end')!r}") from None
    return PaymentNotice(
        appid=fields["appid"],
        mchid=fields["mch_id"],
        out_trade_no=fields["out_trade_no"],
        transaction_id=fields["transaction_id"],
        total_fen=total,
        payer_total_fen=_fen(fields, "cash_fee", default=total),
        openid=fields["openid"],
        paid_at=paid_at,
        trade_type=fields.get("trade_type", ""),
        attach=fields.get("attach", ""),
        raw=dict(fields),
    )


def refund_key(api_key: str) -> bytes:
    """AES-256 key of ``req_info``: the lower-case hex MD5 of the API key, as ASCII bytes."""
    return hashlib.md5(api_key.encode("utf-8")).hexdigest().encode("ascii")


def decrypt_refund_req_info(
    req_info_b64: str, api_key: str, *, max_bytes: int = MAX_XML_BYTES
) -> dict[str, str]:
    """Decrypt a v2 refund notification's ``req_info`` (base64 of AES-256-ECB, PKCS#7) and
    parse the ``<root>`` document inside. Raises ``BadCiphertext`` if it does not decrypt."""
    try:
        ciphertext = base64.b64decode(req_info_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadCiphertext("req_info is not base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise BadCiphertext("req_info is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(refund_key(api_key)), modes.ECB()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise BadCiphertext("bad padding: wrong API key or corrupted req_info") from None
    return _parse_untrusted(plaintext, root="root", max_bytes=max_bytes)


def verify_refund_notification(
    xml_bytes: bytes,
    api_key: str,
    expected_appid: str,
    expected_mchid: str,
    *,
    max_bytes: int = MAX_XML_BYTES,
) -> RefundNotice:
    """A v2 refund notification carries no ``sign``: only decrypting ``req_info`` with our
    key authenticates it. Callers must still match ``out_refund_no`` and amounts against
    their own refund records before acting."""
    fields = _parse_untrusted(xml_bytes, max_bytes=max_bytes)
    if fields.get("return_code") != "SUCCESS":
        raise ReturnCodeFail(fields.get("return_msg", ""))
    _check_recipient(fields, expected_appid, expected_mchid)
    info = decrypt_refund_req_info(fields.get("req_info", ""), api_key, max_bytes=max_bytes)
    for key in ("out_trade_no", "out_refund_no", "refund_id", "refund_status"):
        if not info.get(key):
            raise MalformedBody(f"req_info.{key} missing")
    status = _REFUND_STATUS.get(info["refund_status"])
    if status is None:
        raise MalformedBody(f"refund_status={info['refund_status']!r}")
    success_time = info.get("success_time", "")
    try:
        # v2 writes success_time as "yyyy-MM-dd HH:mm:ss", Beijing time.
        succeeded_at = parse_v2_time("".join(ch for ch in success_time if ch.isdigit()))
    except ValueError:
        raise MalformedBody(f"success_time={success_time!r}") from None
    return RefundNotice(
        mchid=fields["mch_id"],
        out_trade_no=info["out_trade_no"],
        transaction_id=info.get("transaction_id", ""),
        out_refund_no=info["out_refund_no"],
        refund_id=info["refund_id"],
        status=status,
        total_fen=_fen(info, "total_fee"),
        refund_fen=_fen(info, "refund_fee"),
        succeeded_at=succeeded_at,
        raw={**fields, "req_info": info},
    )


# --- requests we send and their answers -----------------------------------------------------


def parse_signed_response(xml: bytes | str, api_key: str) -> dict[str, str]:
    """Check an API answer: ``return_code`` SUCCESS, a valid sign, ``result_code`` SUCCESS.
    Raises ``PayV2Error`` (with WeChat's codes), ``ResponseSignatureInvalid``, or
    ``WeChatUnreachable`` when the answer is not XML at all."""
    try:
        fields = parse_flat_xml(xml)
    except XmlRejected as exc:
        raise WeChatUnreachable(f"unreadable pay v2 answer: {exc}") from exc
    if fields.get("return_code") != "SUCCESS":
        raise PayV2Error(fields.get("return_code", ""), fields.get("return_msg", ""))
    if not verify_sign(fields, api_key):
        raise ResponseSignatureInvalid("pay v2 answer sign does not match")
    if fields.get("result_code") != "SUCCESS":
        raise PayV2Error(
            "SUCCESS",
            fields.get("return_msg", ""),
            fields.get("result_code", ""),
            fields.get("err_code", ""),
            fields.get("err_code_des", ""),
        )
    return fields


def build_unifiedorder_request(
    merchant: MerchantV2,
    *,
    body: str,
    out_trade_no: str,
    total_fee: int,
    openid: str,
    notify_url: str,
    spbill_create_ip: str,
    attach: str | None = None,
    time_expire: str | None = None,
    nonce_str: str | None = None,
) -> str:
    """POST /pay/unifiedorder body for a mini-program (JSAPI) payment of ``total_fee`` fen.
    ``time_expire`` is ``yyyyMMddHHmmss`` Beijing time."""
    return _merchant_request(
        merchant,
        nonce_str,
        {
            "body": body,
            "out_trade_no": out_trade_no,
            "total_fee": total_fee,
            "spbill_create_ip": spbill_create_ip,
            "notify_url": notify_url,
            "trade_type": "JSAPI",
            "openid": openid,
            "attach": attach,
            "time_expire": time_expire,
        },
    )


def parse_unifiedorder_response(xml: bytes | str, api_key: str) -> str:
    """The ``prepay_id`` of a verified unifiedorder answer."""
    fields = parse_signed_response(xml, api_key)
    if not fields.get("prepay_id"):
        raise WeChatUnreachable("unifiedorder answer has no prepay_id")
    return fields["prepay_id"]


def build_orderquery_request(
    merchant: MerchantV2, *, out_trade_no: str, nonce_str: str | None = None
) -> str:
    """POST /pay/orderquery body."""
    return _merchant_request(merchant, nonce_str, {"out_trade_no": out_trade_no})


def parse_orderquery_response(xml: bytes | str, api_key: str) -> OrderStatus:
    """A verified orderquery answer. An unknown order raises ``PayV2Error`` with
    ``err_code == "ORDERNOTEXIST"``."""
    fields = parse_signed_response(xml, api_key)
    total = fields.get("total_fee", "")
    return OrderStatus(
        out_trade_no=fields.get("out_trade_no", ""),
        trade_state=fields.get("trade_state", ""),
        transaction_id=fields.get("transaction_id", ""),
        total_fen=int(total) if total.isdigit() else None,
        openid=fields.get("openid", ""),
        paid_at=parse_v2_time(fields.get("time_end", "")),
        raw=dict(fields),
    )


def build_refund_request(
    merchant: MerchantV2,
    *,
    out_trade_no: str,
    out_refund_no: str,
    total_fee: int,
    refund_fee: int,
    refund_desc: str | None = None,
    notify_url: str | None = None,
    nonce_str: str | None = None,
    transaction_id: str | None = None,
) -> str:
    """POST /secapi/pay/refund body (that endpoint needs the merchant TLS certificate). With
    ``transaction_id`` the refund names that payment (微信订单号) instead of ``out_trade_no``:
    WeChat takes one or the other."""
    return _merchant_request(
        merchant,
        nonce_str,
        {
            "transaction_id": transaction_id,
            "out_trade_no": None if transaction_id else out_trade_no,
            "out_refund_no": out_refund_no,
            "total_fee": total_fee,
            "refund_fee": refund_fee,
            "refund_desc": refund_desc,
            "notify_url": notify_url,
        },
    )


def parse_refund_response(xml: bytes | str, api_key: str) -> RefundReceipt:
    """A verified refund answer: accepted, outcome by notification."""
    fields = parse_signed_response(xml, api_key)
    return RefundReceipt(
        out_refund_no=fields.get("out_refund_no", ""),
        refund_id=fields.get("refund_id", ""),
        status="PROCESSING",
        refund_fen=_fen(fields, "refund_fee", default=0),
        raw=dict(fields),
    )


# --- wx.requestPayment ----------------------------------------------------------------------


def jsapi_params(
    merchant: MerchantV2,
    prepay_id: str,
    *,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> dict[str, str]:
    """The object the mini-program passes to ``wx.requestPayment`` (v2): appId, timeStamp,
    nonceStr, package, signType and paySign, signed with the API key by the v2 rule."""
    params = {
        "appId": merchant.appid,
        "timeStamp": str(timestamp if timestamp is not None else int(time.time())),
        "nonceStr": nonce_str or new_nonce(),
        "package": f"prepay_id={prepay_id}",
        "signType": merchant.sign_type,
    }
    params["paySign"] = sign(params, merchant.api_key, merchant.sign_type)
    return params
