"""Pay v3: our request signature, and every way a notification is refused."""

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from tests.wechat.wxtest_constants import APIV3_KEY, APPID, MCHID, MERCHANT_SERIAL, PLATFORM_SERIAL
from wechat import pay_v3
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
from wechat_fake.notify import (
    build_v3_notification,
    signed_v3_headers,
    v3_refund,
    v3_transaction,
)


def transaction(**overrides):
    fields = {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": "Q202611250001",
        "total": 16800,
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "transaction_id": "4200000000202611250000000001",
    }
    fields.update(overrides)
    return v3_transaction(**fields)


@pytest.fixture
def notify(platform_key):
    def build(
        plain=None,
        *,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        apiv3_key=APIV3_KEY,
        timestamp=None,
    ):
        return build_v3_notification(
            platform_key=platform_key,
            platform_serial=PLATFORM_SERIAL,
            apiv3_key=apiv3_key,
            event_type=event_type,
            original_type=original_type,
            plain_resource=plain if plain is not None else transaction(),
            timestamp=timestamp,
        )

    return build


def rpk(key):
    return key.public_key()


# --- our requests ---------------------------------------------------------------------------


def test_authorization_header_signs_method_url_time_nonce_body(merchant_v3, merchant_key):
    body = '{"a":1}'
    header = pay_v3.build_authorization(
        merchant_v3, "post", "/v3/pay/transactions/jsapi", body, timestamp=1554208460, nonce="N1"
    )
    schema, _, params = header.partition(" ")
    assert schema == "WECHATPAY2-SHA256-RSA2048"
    fields = dict(part.split("=", 1) for part in params.split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    assert fields["mchid"] == MCHID
    assert fields["serial_no"] == MERCHANT_SERIAL
    assert (fields["timestamp"], fields["nonce_str"]) == ("1554208460", "N1")
    message = b'POST\n/v3/pay/transactions/jsapi\n1554208460\nN1\n{"a":1}\n'
    rpk(merchant_key).verify(
        base64.b64decode(fields["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_jsapi_params_sign_the_four_lines(merchant_v3, merchant_key):
    params = pay_v3.jsapi_params(merchant_v3, "wx2014", timestamp=1414561699, nonce_str="5K82")
    assert params["package"] == "prepay_id=wx2014"
    assert params["signType"] == "RSA"
    message = f"{APPID}\n1414561699\n5K82\nprepay_id=wx2014\n".encode()
    rpk(merchant_key).verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_prepay_body_carries_amount_in_fen_and_payer(merchant_v3):
    body = pay_v3.build_jsapi_prepay_body(
        merchant_v3,
        description="Mall-168",
        out_trade_no="Q1",
        notify_url="https://mall.example/pay/v3/notify",
        total_fen=16800,
        openid="o1",
        time_expire=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    )
    assert body["amount"] == {"total": 16800, "currency": "CNY"}
    assert body["payer"] == {"openid": "o1"}
    assert body["time_expire"] == "2026-11-25T12:00:00+00:00"
    assert "attach" not in body


def test_apiv3_key_must_be_32_bytes(merchant_key):
    with pytest.raises(ValueError):
        pay_v3.MerchantV3(APPID, MCHID, MERCHANT_SERIAL, merchant_key, b"short")


def test_keys_load_from_pem_and_from_a_platform_certificate(platform_key):
    private_pem = platform_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = rpk(platform_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rpk(platform_key))
        .serial_number(0x5157F09E)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(platform_key, hashes.SHA256())
    )
    expected = rpk(platform_key).public_numbers()
    assert pay_v3.load_private_key(private_pem).public_key().public_numbers() == expected
    assert pay_v3.load_public_key(public_pem).public_numbers() == expected
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    assert pay_v3.load_public_key(cert_pem).public_numbers() == expected


# --- payment notifications ------------------------------------------------------------------


def test_valid_payment_notification_is_accepted(notify, merchant_v3, platform_keys):
    headers, body = notify()
    notice = pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)
    assert notice.out_trade_no == "Q202611250001"
    assert notice.transaction_id == "4200000000202611250000000001"
    assert (notice.total_fen, notice.payer_total_fen) == (16800, 16800)
    assert notice.openid == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert notice.paid_at is not None


def test_header_names_are_case_insensitive(notify, merchant_v3, platform_keys):
    headers, body = notify()
    lower = {k.lower(): v for k, v in headers.items()}
    pay_v3.verify_payment_notification(lower, body, merchant_v3, platform_keys)


def test_one_changed_byte_of_body_breaks_the_signature(notify, merchant_v3, platform_keys):
    headers, body = notify()
    tampered = body.replace(b'"summary": ""', b'"summary": "x"')
    assert len(tampered) == len(body) + 1 and tampered != body
    with pytest.raises(BadSignature) as info:
        pay_v3.verify_payment_notification(headers, tampered, merchant_v3, platform_keys)
    assert info.value.reason == "bad_signature"


def test_flipped_byte_in_the_ciphertext_breaks_the_signature(notify, merchant_v3, platform_keys):
    headers, body = notify()
    i = body.index(b'"ciphertext": "') + 20
    tampered = body[:i] + (b"A" if body[i : i + 1] != b"A" else b"B") + body[i + 1 :]
    with pytest.raises(BadSignature):
        pay_v3.verify_payment_notification(headers, tampered, merchant_v3, platform_keys)


def test_wechat_signature_probe_is_rejected(notify, merchant_v3, platform_keys):
    headers, body = notify()
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(BadSignature):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)


def test_signature_by_another_key_is_rejected(notify, merchant_v3, merchant_key):
    headers, body = notify()
    keys = {PLATFORM_SERIAL: rpk(merchant_key)}
    with pytest.raises(BadSignature):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, keys)


def test_unknown_serial_is_rejected(notify, merchant_v3, platform_keys):
    headers, body = notify()
    headers["Wechatpay-Serial"] = "PUB_KEY_ID_UNKNOWN"
    with pytest.raises(UnknownSerial) as info:
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)
    assert info.value.reason == "unknown_serial"


def test_wrong_aes_tag_is_rejected(notify, merchant_v3, platform_keys):
    """Correctly signed by WeChat's key, but encrypted under another APIv3 key."""
    headers, body = notify(apiv3_key=b"f" * 32)
    with pytest.raises(BadTag) as info:
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)
    assert info.value.reason == "bad_tag"


def test_altered_associated_data_fails_the_tag(platform_key, merchant_v3, platform_keys):
    _, body = build_v3_notification(
        platform_key=platform_key,
        platform_serial=PLATFORM_SERIAL,
        apiv3_key=APIV3_KEY,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        plain_resource=transaction(),
    )
    envelope = json.loads(body)
    envelope["resource"]["associated_data"] = "refund"
    body = json.dumps(envelope).encode()
    headers = signed_v3_headers(body, platform_key, PLATFORM_SERIAL)
    with pytest.raises(BadTag):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)


@pytest.mark.parametrize("offset", [-301, 301])
def test_stale_or_future_timestamp_is_rejected(notify, merchant_v3, platform_keys, offset):
    headers, body = notify(timestamp=int(time.time()) + offset)
    with pytest.raises(StaleTimestamp) as info:
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)
    assert info.value.reason == "stale_timestamp"


def test_allowed_skew_is_configurable(notify, merchant_v3, platform_keys):
    headers, body = notify(timestamp=int(time.time()) - 600)
    pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys, max_skew=900)
    with pytest.raises(StaleTimestamp):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys, max_skew=60)


@pytest.mark.parametrize(
    "header",
    ["Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"],
)
def test_missing_header_is_rejected(notify, merchant_v3, platform_keys, header):
    headers, body = notify()
    del headers[header]
    with pytest.raises(MissingHeaders):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)


def test_oversize_body_is_rejected_before_any_crypto(merchant_v3, platform_keys):
    with pytest.raises(OversizeBody):
        pay_v3.verify_payment_notification({}, b"{" * 70_000, merchant_v3, platform_keys)


def test_non_success_trade_is_rejected_as_authentic(notify, merchant_v3, platform_keys):
    headers, body = notify(transaction(trade_state="PAYERROR"))
    with pytest.raises(PaymentNotSuccessful) as info:
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)
    assert info.value.authentic


def test_notification_for_another_merchant_is_rejected(notify, merchant_v3, platform_keys):
    headers, body = notify(transaction(mchid="1900000999"))
    with pytest.raises(WrongMerchant):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)


def test_signed_body_that_is_not_a_notification_is_malformed(
    platform_key, merchant_v3, platform_keys
):
    body = b'{"id": "x"}'
    headers = signed_v3_headers(body, platform_key, PLATFORM_SERIAL)
    with pytest.raises(MalformedBody):
        pay_v3.verify_payment_notification(headers, body, merchant_v3, platform_keys)


def test_every_rejection_shares_one_base_with_a_distinct_reason():
    reasons = {cls.reason for cls in NotificationRejected.__subclasses__()}
    assert len(reasons) == len(NotificationRejected.__subclasses__())


# --- refund notifications -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["SUCCESS", "CLOSED", "ABNORMAL"])
def test_refund_notification_is_decrypted(notify, merchant_v3, platform_keys, status):
    plain = v3_refund(
        mchid=MCHID,
        out_trade_no="Q202611250001",
        out_refund_no="R202611250001",
        refund_id="50000000000000000000000000001",
        total=16800,
        refund=8400,
        refund_status=status,
    )
    headers, body = notify(plain, event_type=f"REFUND.{status}", original_type="refund")
    notice = pay_v3.verify_refund_notification(headers, body, merchant_v3, platform_keys)
    assert (notice.status, notice.refund_fen, notice.total_fen) == (status, 8400, 16800)
    assert notice.out_refund_no == "R202611250001"
    assert (notice.succeeded_at is not None) == (status == "SUCCESS")


def test_refund_notification_under_wrong_key_is_rejected(notify, merchant_v3, platform_keys):
    plain = v3_refund(
        mchid=MCHID,
        out_trade_no="Q1",
        out_refund_no="R1",
        refund_id="5001",
        total=100,
        refund=100,
    )
    headers, body = notify(plain, original_type="refund", apiv3_key=b"e" * 32)
    with pytest.raises(BadTag):
        pay_v3.verify_refund_notification(headers, body, merchant_v3, platform_keys)
