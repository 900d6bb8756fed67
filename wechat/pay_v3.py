"""WeChat Pay API v3: request signing, signed-message verification, resource decryption, and
the JSON of the calls we make. Only ``cryptography``; no released wechatpy speaks v3.

- Our requests: RSA-SHA256 (PKCS#1 v1.5) with the merchant key over
  ``"METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n"``, sent as
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
  timestamp="..",serial_no=".."``.
- WeChat's answers and notifications: RSA-SHA256 over ``"{timestamp}\\n{nonce}\\n{body}\\n"``
  with the platform key named by ``Wechatpay-Serial`` (a platform certificate serial, or a
  ``PUB_KEY_ID_...`` in public-key mode: the map of keys we hold decides). An unknown serial,
  a bad signature or a timestamp outside the allowed skew is refused. WeChat deliberately
  sends some probes with wrong signatures (``WECHATPAY/SIGNTEST/...``): they fail here too.
- ``resource``: AEAD_AES_256_GCM with the 32-byte APIv3 key, its ``nonce`` and
  ``associated_data``; the 16-byte tag ends the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wechat.errors import (
    BadSignature,
    BadTag,
    MalformedBody,
    MissingHeaders,
    NotificationRejected,
    OversizeBody,
    PaymentNotSuccessful,
    StaleTimestamp,
    UnknownSerial,
    WrongMerchant,
)
from wechat.pay_results import (
    OrderStatus,
    PaymentNotice,
    RefundNotice,
    RefundReceipt,
    parse_v3_time,
)

__all__ = [
    "AUTH_SCHEMA",
    "DEFAULT_MAX_SKEW",
    "MerchantV3",
    "Notification",
    "NotificationRejected",
    "PlatformKeys",
    "build_authorization",
    "build_jsapi_prepay_body",
    "build_refund_body",
    "decrypt_resource",
    "fail_reply",
    "jsapi_params",
    "load_private_key",
    "load_public_key",
    "open_notification",
    "parse_certificates",
    "parse_order",
    "parse_prepay_response",
    "parse_refund",
    "sign_message",
    "verify_payment_notification",
    "verify_refund_notification",
    "verify_signed_message",
]

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
DEFAULT_MAX_SKEW = 300  # seconds; WeChat's own guidance is five minutes
MAX_NOTIFICATION_BYTES = 64 * 1024
PlatformKeys = Mapping[str, RSAPublicKey]


@dataclass(frozen=True)
class MerchantV3:
    """A v3 merchant account: the key and serial of our API certificate, and the APIv3 key."""

    appid: str
    mchid: str
    serial_no: str
    private_key: RSAPrivateKey = field(repr=False)
    apiv3_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.apiv3_key) != 32:
            raise ValueError("the APIv3 key is 32 bytes")


def load_private_key(pem: bytes) -> RSAPrivateKey:
    """The merchant key from ``apiclient_key.pem``."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: bytes) -> RSAPublicKey:
    """A platform public key, from a ``PUBLIC KEY`` PEM or a platform ``CERTIFICATE`` PEM."""
    key = (
        x509.load_pem_x509_certificate(pem).public_key()
        if b"CERTIFICATE" in pem
        else serialization.load_pem_public_key(pem)
    )
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def sign_message(private_key: RSAPrivateKey, message: bytes | str) -> str:
    """Base64 of RSA-SHA256 (PKCS#1 v1.5) over ``message``."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    signature = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _verify_rsa(public_key: RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def build_authorization(
    merchant: MerchantV3,
    method: str,
    url: str,
    body: bytes | str = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header of a request. ``url`` is the path with its query string
    exactly as sent (``/v3/pay/transactions/jsapi``); ``body`` is empty for GET."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    message = f"{method.upper()}\n{url}\n{ts}\n{nonce}\n".encode() + raw + b"\n"
    signature = sign_message(merchant.private_key, message)
    return (
        f'{AUTH_SCHEMA} mchid="{merchant.mchid}",nonce_str="{nonce}",'
        f'signature="{signature}",timestamp="{ts}",serial_no="{merchant.serial_no}"'
    )


def verify_signed_message(
    headers: Mapping[str, str],
    body: bytes,
    platform_keys: PlatformKeys,
    *,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> None:
    """Check the Wechatpay-* headers of a notification or an API answer against ``body``.
    Raises MissingHeaders, UnknownSerial, BadSignature or StaleTimestamp."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = lower["wechatpay-timestamp"]
        nonce = lower["wechatpay-nonce"]
        signature = lower["wechatpay-signature"]
        serial = lower["wechatpay-serial"]
    except KeyError as exc:
        raise MissingHeaders(f"{exc.args[0]} absent") from None
    public_key = platform_keys.get(serial)
    if public_key is None:
        raise UnknownSerial(serial)
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    if not _verify_rsa(public_key, message, signature):
        raise BadSignature(f"serial {serial}")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise MalformedBody(f"Wechatpay-Timestamp={timestamp!r}") from None
    skew = abs((time.time() if now is None else now) - sent_at)
    if skew > max_skew:
        raise StaleTimestamp(f"{int(skew)}s off, {max_skew}s allowed")


def _decrypt(resource: Mapping[str, Any], apiv3_key: bytes) -> bytes:
    """AEAD_AES_256_GCM with the APIv3 key, its ``nonce`` and ``associated_data``; BadTag when
    the tag does not match (wrong key, altered ciphertext, nonce or AAD)."""
    algorithm = resource.get("algorithm")
    if algorithm != "AEAD_AES_256_GCM":
        raise MalformedBody(f"resource algorithm {algorithm!r}")
    try:
        ciphertext = base64.b64decode(resource["ciphertext"], validate=True)
        nonce = str(resource["nonce"]).encode("utf-8")
        aad = str(resource.get("associated_data") or "").encode("utf-8")
    except (KeyError, TypeError, binascii.Error, ValueError) as exc:
        raise MalformedBody(f"resource: {exc!r}") from None
    try:
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise BadTag("AES-GCM tag mismatch") from None
    except ValueError as exc:  # e.g. an empty nonce
        raise MalformedBody(f"resource: {exc}") from None


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes) -> dict[str, Any]:
    """Decrypt a notification ``resource`` into its JSON object (``_decrypt``)."""
    plaintext = _decrypt(resource, apiv3_key)
    try:
        data = json.loads(plaintext)
    except ValueError:
        raise MalformedBody("decrypted resource is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("decrypted resource is not an object")
    return data


def parse_certificates(data: Mapping[str, Any], apiv3_key: bytes) -> dict[str, RSAPublicKey]:
    """``{serial_no: key}`` of a ``/v3/certificates`` answer: each ``encrypt_certificate`` is
    decrypted like a notification's resource (AEAD_AES_256_GCM, the APIv3 key) into a PEM
    certificate whose own serial must be the announced ``serial_no``."""
    entries = data.get("data")
    if not isinstance(entries, list):
        raise MalformedBody("certificates: data is not a list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("encrypt_certificate"), dict):
            raise MalformedBody("certificates: an entry has no encrypt_certificate")
        pem = _decrypt(entry["encrypt_certificate"], apiv3_key)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise MalformedBody("certificates: not a PEM certificate") from None
        serial = format(certificate.serial_number, "X")
        if serial != str(entry.get("serial_no", "")).upper():
            raise MalformedBody(
                f"certificates: serial {serial} announced as {entry.get('serial_no')}"
            )
        key = certificate.public_key()
        if not isinstance(key, RSAPublicKey):
            raise MalformedBody(f"certificates: {serial} has no RSA key")
        keys[serial] = key
    return keys


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted v3 notification."""

    id: str
    event_type: str
    summary: str
    create_time: str
    resource: dict[str, Any]


def open_notification(
    headers: Mapping[str, str],
    body: bytes,
    platform_keys: PlatformKeys,
    apiv3_key: bytes,
    *,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    max_bytes: int = MAX_NOTIFICATION_BYTES,
) -> Notification:
    """Size cap, signature, freshness, then decryption of ``resource``."""
    if len(body) > max_bytes:
        raise OversizeBody(f"{len(body)} bytes > {max_bytes}")
    verify_signed_message(headers, body, platform_keys, now=now, max_skew=max_skew)
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if not isinstance(resource, dict):
            raise TypeError("resource is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedBody(f"envelope: {exc!r}") from None
    return Notification(
        id=str(envelope.get("id", "")),
        event_type=str(envelope.get("event_type", "")),
        summary=str(envelope.get("summary", "")),
        create_time=str(envelope.get("create_time", "")),
        resource=decrypt_resource(resource, apiv3_key),
    )


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedBody(f"{key}={value!r} is not an amount in fen")
    return value


def _time(value: Any) -> datetime | None:
    try:
        return parse_v3_time(value)
    except (TypeError, ValueError):
        raise MalformedBody(f"time {value!r}") from None


def verify_payment_notification(
    headers: Mapping[str, str],
    body: bytes,
    merchant: MerchantV3,
    platform_keys: PlatformKeys,
    *,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    max_bytes: int = MAX_NOTIFICATION_BYTES,
) -> PaymentNotice:
    """Accept a v3 payment notification only if it verifies, decrypts, is addressed to our
    appid and mchid, and reports TRANSACTION.SUCCESS with trade_state SUCCESS."""
    notification = open_notification(
        headers,
        body,
        platform_keys,
        merchant.apiv3_key,
        now=now,
        max_skew=max_skew,
        max_bytes=max_bytes,
    )
    tx = notification.resource
    if tx.get("appid") != merchant.appid or tx.get("mchid") != merchant.mchid:
        raise WrongMerchant(f"appid={tx.get('appid')} mchid={tx.get('mchid')}")
    if notification.event_type != "TRANSACTION.SUCCESS" or tx.get("trade_state") != "SUCCESS":
        raise PaymentNotSuccessful(f"{notification.event_type} {tx.get('trade_state')}")
    amount = tx.get("amount") or {}
    payer = tx.get("payer") or {}
    for key in ("out_trade_no", "transaction_id"):
        if not tx.get(key):
            raise MalformedBody(f"{key} missing")
    total = _int(amount, "total")
    return PaymentNotice(
        appid=tx["appid"],
        mchid=tx["mchid"],
        out_trade_no=tx["out_trade_no"],
        transaction_id=tx["transaction_id"],
        total_fen=total,
        payer_total_fen=_int(amount, "payer_total") if "payer_total" in amount else total,
        openid=str(payer.get("openid", "")),
        paid_at=_time(tx.get("success_time")),
        trade_type=str(tx.get("trade_type", "")),
        attach=str(tx.get("attach", "")),
        raw=tx,
    )


def verify_refund_notification(
    headers: Mapping[str, str],
    body: bytes,
    merchant: MerchantV3,
    platform_keys: PlatformKeys,
    *,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    max_bytes: int = MAX_NOTIFICATION_BYTES,
) -> RefundNotice:
    """A verified, decrypted v3 refund notification (REFUND.SUCCESS, REFUND.ABNORMAL or
    REFUND.CLOSED: every outcome is returned, the caller decides)."""
    notification = open_notification(
        headers,
        body,
        platform_keys,
        merchant.apiv3_key,
        now=now,
        max_skew=max_skew,
        max_bytes=max_bytes,
    )
    refund = notification.resource
    if refund.get("mchid") != merchant.mchid:
        raise WrongMerchant(f"mchid={refund.get('mchid')}")
    for key in ("out_trade_no", "out_refund_no", "refund_id", "refund_status"):
        if not refund.get(key):
            raise MalformedBody(f"{key} missing")
    amount = refund.get("amount") or {}
    return RefundNotice(
        mchid=refund["mchid"],
        out_trade_no=refund["out_trade_no"],
        transaction_id=str(refund.get("transaction_id", "")),
        out_refund_no=refund["out_refund_no"],
        refund_id=refund["refund_id"],
        status=refund["refund_status"],
        total_fen=_int(amount, "total"),
        refund_fen=_int(amount, "refund"),
        succeeded_at=_time(refund.get("success_time")),
        raw=refund,
    )


def fail_reply(message: str) -> dict[str, str]:
    """JSON body to send with a 4xx/5xx when refusing a notification (WeChat retries)."""
    return {"code": "FAIL", "message": message}


# --- requests we send and their answers -----------------------------------------------------


def build_jsapi_prepay_body(
    merchant: MerchantV3,
    *,
    description: str,
    out_trade_no: str,
    notify_url: str,
    total_fen: int,
    openid: str,
    attach: str | None = None,
    time_expire: datetime | None = None,
) -> dict[str, Any]:
    """Body of POST /v3/pay/transactions/jsapi."""
    body: dict[str, Any] = {
        "appid": merchant.appid,
        "mchid": merchant.mchid,
        "description": description,
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "amount": {"total": total_fen, "currency": "CNY"},
        "payer": {"openid": openid},
    }
    if attach is not None:
        body["attach"] = attach
    if time_expire is not None:
        body["time_expire"] = time_expire.isoformat(timespec="seconds")
    return body


def parse_prepay_response(data: Mapping[str, Any]) -> str:
    """The ``prepay_id`` of a (verified) prepay answer."""
    prepay_id = data.get("prepay_id")
    if not isinstance(prepay_id, str) or not prepay_id:
        raise ValueError("prepay answer has no prepay_id")
    return prepay_id


def parse_order(data: Mapping[str, Any]) -> OrderStatus:
    """A (verified) answer of GET /v3/pay/transactions/out-trade-no/{out_trade_no}."""
    amount = data.get("amount") or {}
    total = amount.get("total")
    return OrderStatus(
        out_trade_no=str(data.get("out_trade_no", "")),
        trade_state=str(data.get("trade_state", "")),
        transaction_id=str(data.get("transaction_id", "")),
        total_fen=total if isinstance(total, int) else None,
        openid=str((data.get("payer") or {}).get("openid", "")),
        paid_at=parse_v3_time(data.get("success_time")),
        raw=dict(data),
    )


def build_refund_body(
    *,
    out_trade_no: str,
    out_refund_no: str,
    total_fen: int,
    refund_fen: int,
    reason: str | None = None,
    notify_url: str | None = None,
    transaction_id: str | None = None,
) -> dict[str, Any]:
    """Body of POST /v3/refund/domestic/refunds. With ``transaction_id`` the refund names that
    payment (微信支付订单号) instead of ``out_trade_no``: WeChat takes one or the other."""
    paid = {"transaction_id": transaction_id} if transaction_id else {"out_trade_no": out_trade_no}
    body: dict[str, Any] = {
        **paid,
        "out_refund_no": out_refund_no,
        "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
    }
    if reason is not None:
        body["reason"] = reason
    if notify_url is not None:
        body["notify_url"] = notify_url
    return body


def parse_refund(data: Mapping[str, Any]) -> RefundReceipt:
    """A (verified) refund answer. ``status``: SUCCESS, CLOSED, PROCESSING or ABNORMAL."""
    amount = data.get("amount") or {}
    refund = amount.get("refund")
    return RefundReceipt(
        out_refund_no=str(data.get("out_refund_no", "")),
        refund_id=str(data.get("refund_id", "")),
        status=str(data.get("status", "")),
        refund_fen=refund if isinstance(refund, int) else 0,
        raw=dict(data),
    )


def jsapi_params(
    merchant: MerchantV3,
    prepay_id: str,
    *,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> dict[str, str]:
    """The object for ``wx.requestPayment`` (v3): paySign is RSA-SHA256 with the merchant key
    over ``"appId\\ntimeStamp\\nnonceStr\\npackage\\n"``; signType is ``RSA``."""
    params = {
        "appId": merchant.appid,
        "timeStamp": str(timestamp if timestamp is not None else int(time.time())),
        "nonceStr": nonce_str or secrets.token_hex(16),
        "package": f"prepay_id={prepay_id}",
        "signType": "RSA",
    }
    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    params["paySign"] = sign_message(merchant.private_key, message)
    return params
