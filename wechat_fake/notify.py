"""Notifications exactly as WeChat Pay builds them, for the fake WeChat and for tests.

This is WeChat's side of the wire, written independently of ours where that is possible: v2
bodies are signed and serialised with wechatpy's own helpers (``calculate_signature``,
``dict_to_xml``), so our signer in ``pay_v2`` is checked against a second implementation.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpy.pay.utils import (  # type: ignore[import-untyped]
    calculate_signature,
    calculate_signature_hmac,
    dict_to_xml,
)

from wechat.pay_results import CHINA_TZ
from wechat.pay_v2 import refund_key
from wechat.pay_v3 import sign_message


def wechat_v2_sign(fields: Mapping[str, str], api_key: str, sign_type: str = "MD5") -> str:
    """WeChat's v2 signature, computed by wechatpy (an implementation independent of ours)."""
    if sign_type == "HMAC-SHA256":
        return str(calculate_signature_hmac(dict(fields), api_key))
    return str(calculate_signature(dict(fields), api_key))


def signed_v2_xml(
    fields: Mapping[str, str],
    api_key: str,
    sign_type: str = "MD5",
    *,
    declare_sign_type: bool = True,
) -> bytes:
    """A signed v2 document as WeChat sends it. Notifications declare a non-MD5
    ``sign_type``; API answers do not (they are signed as the request was)."""
    body = {k: v for k, v in fields.items() if v != ""}
    if sign_type != "MD5" and declare_sign_type:
        body["sign_type"] = sign_type
    return str(dict_to_xml(body, wechat_v2_sign(body, api_key, sign_type))).encode("utf-8")


def now_v2() -> str:
    return datetime.now(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def new_transaction_id() -> str:
    return "4200" + "".join(secrets.choice("0123456789") for _ in range(24))


def build_v2_payment_notification(
    *,
    api_key: str,
    appid: str,
    mch_id: str,
    out_trade_no: str,
    total_fee: int,
    openid: str,
    transaction_id: str | None = None,
    result_code: str = "SUCCESS",
    sign_type: str = "MD5",
    time_end: str | None = None,
    attach: str = "",
) -> bytes:
    """The body of a v2 payment notification (支付结果通知)."""
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": secrets.token_hex(16),
        "result_code": result_code,
        "openid": openid,
        "is_subscribe": "N",
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
        "total_fee": str(total_fee),
        "fee_type": "CNY",
        "cash_fee": str(total_fee),
        "transaction_id": transaction_id or new_transaction_id(),
        "out_trade_no": out_trade_no,
        "attach": attach,
        "time_end": time_end or now_v2(),
    }
    if result_code != "SUCCESS":
        fields.update(err_code="SYSTEMERROR", err_code_des="payment failed")
    return signed_v2_xml(fields, api_key, sign_type)


def encrypt_refund_req_info(fields: Mapping[str, str], api_key: str) -> str:
    """WeChat's ``req_info``: ``<root>`` XML, PKCS#7, AES-256-ECB keyed by md5hex(API key)."""
    plaintext = str(dict_to_xml(dict(fields))).replace("<xml>", "<root>", 1)
    plaintext = plaintext[: plaintext.rfind("</xml>")] + "</root>"
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(refund_key(api_key)), modes.ECB()).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def build_v2_refund_notification(
    *,
    api_key: str,
    appid: str,
    mch_id: str,
    out_trade_no: str,
    out_refund_no: str,
    refund_id: str,
    total_fee: int,
    refund_fee: int,
    transaction_id: str = "",
    refund_status: str = "SUCCESS",
) -> bytes:
    """The body of a v2 refund notification (退款结果通知): unsigned, details in ``req_info``."""
    info = {
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
        "refund_id": refund_id,
        "out_refund_no": out_refund_no,
        "total_fee": str(total_fee),
        "refund_fee": str(refund_fee),
        "settlement_refund_fee": str(refund_fee),
        "refund_status": refund_status,
        "success_time": datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        "refund_recv_accout": "支付用户零钱",
        "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
        "refund_request_source": "API",
    }
    outer = {
        "return_code": "SUCCESS",
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": secrets.token_hex(16),
        "req_info": encrypt_refund_req_info(info, api_key),
    }
    return str(dict_to_xml(outer)).encode("utf-8")


# --- v3 -------------------------------------------------------------------------------------


def encrypt_resource(
    plain: Mapping[str, Any], apiv3_key: bytes, *, original_type: str, associated_data: str
) -> dict[str, str]:
    """A v3 ``resource``: the JSON plaintext under AEAD_AES_256_GCM with the APIv3 key."""
    nonce = secrets.token_hex(6)  # WeChat uses 12 printable characters
    ciphertext = AESGCM(apiv3_key).encrypt(
        nonce.encode("ascii"),
        json.dumps(plain, ensure_ascii=False).encode("utf-8"),
        associated_data.encode("utf-8"),
    )
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def signed_v3_headers(
    body: bytes,
    platform_key: RSAPrivateKey,
    platform_serial: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers WeChat puts on a v3 notification or answer, signing
    ``"{timestamp}\\n{nonce}\\n{body}\\n"`` with the platform private key."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    message = f"{ts}\n{nonce}\n".encode("ascii") + body + b"\n"
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign_message(platform_key, message),
        "Wechatpay-Serial": platform_serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def build_v3_notification(
    *,
    platform_key: RSAPrivateKey,
    platform_serial: str,
    apiv3_key: bytes,
    event_type: str,
    original_type: str,
    plain_resource: Mapping[str, Any],
    summary: str = "",
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a v3 notification. ``original_type`` is ``transaction`` or
    ``refund``; WeChat uses the same word as ``associated_data``."""
    body = json.dumps(
        {
            "id": secrets.token_hex(16),
            "create_time": datetime.now(CHINA_TZ).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": encrypt_resource(
                plain_resource,
                apiv3_key,
                original_type=original_type,
                associated_data=original_type,
            ),
        },
        ensure_ascii=False,
    ).encode("utf-8")
    headers = signed_v3_headers(body, platform_key, platform_serial, timestamp=timestamp)
    headers["Content-Type"] = "application/json"
    return headers, body


def v3_transaction(
    *,
    appid: str,
    mchid: str,
    out_trade_no: str,
    total: int,
    openid: str,
    transaction_id: str | None = None,
    trade_state: str = "SUCCESS",
    success_time: str | None = None,
    attach: str = "",
) -> dict[str, Any]:
    """A v3 transaction object: the plaintext of TRANSACTION.SUCCESS and the query answer."""
    tx: dict[str, Any] = {
        "appid": appid,
        "mchid": mchid,
        "out_trade_no": out_trade_no,
        "trade_type": "JSAPI",
        "trade_state": trade_state,
        "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付"}.get(trade_state, ""),
        "attach": attach,
        "payer": {"openid": openid},
        "amount": {"total": total, "currency": "CNY"},
    }
    if trade_state in ("SUCCESS", "REFUND"):
        tx.update(
            transaction_id=transaction_id or new_transaction_id(),
            bank_type="OTHERS",
            success_time=success_time or datetime.now(CHINA_TZ).isoformat(timespec="seconds"),
        )
        tx["amount"].update(payer_total=total, payer_currency="CNY")
    return tx


def v3_refund(
    *,
    mchid: str,
    out_trade_no: str,
    out_refund_no: str,
    refund_id: str,
    total: int,
    refund: int,
    refund_status: str = "SUCCESS",
    transaction_id: str = "",
) -> dict[str, Any]:
    """A v3 refund notification plaintext."""
    data: dict[str, Any] = {
        "mchid": mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "out_refund_no": out_refund_no,
        "refund_id": refund_id,
        "refund_status": refund_status,
        "user_received_account": "支付用户零钱",
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
    }
    if refund_status == "SUCCESS":
        data["success_time"] = datetime.now(CHINA_TZ).isoformat(timespec="seconds")
    return data
