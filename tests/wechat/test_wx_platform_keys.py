"""WeChat Pay's verification keys from ``[wechat_pay] platform_cert_path``: one file may hold
several (platform certificates by serial, the WeChat Pay public key by its ID), so a rotation
or the move from 平台证书 to 微信支付公钥 needs no restart at the moment WeChat switches."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from wechat import pay_v3
from wechat.gateway import PayConfigError, load_platform_keys


def certificate(key: rsa.RSAPrivateKey, serial: int) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def public_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signed_headers(key: rsa.RSAPrivateKey, serial: str, body: bytes) -> dict[str, str]:
    timestamp, nonce = str(int(datetime.now(UTC).timestamp())), "n0nce"
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": pay_v3.sign_message(key, message),
        "Wechatpay-Serial": serial,
    }


def test_one_file_holds_old_and_new_certificates_and_the_public_key(tmp_path):
    old, new, pub = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "abc")
    path = tmp_path / "platform.pem"
    path.write_bytes(certificate(old, 0x1A2B) + certificate(new, 0x3C4D) + public_key(pub))
    keys = load_platform_keys(str(path), "PUB_KEY_ID_0001")
    assert set(keys) == {"1A2B", "3C4D", "PUB_KEY_ID_0001"}
    body = b'{"id": "x"}'
    for signer, serial in ((old, "1A2B"), (new, "3C4D"), (pub, "PUB_KEY_ID_0001")):
        pay_v3.verify_signed_message(signed_headers(signer, serial, body), body, keys)
    with pytest.raises(pay_v3.BadSignature):  # each key only under its own name
        pay_v3.verify_signed_message(signed_headers(old, "3C4D", body), body, keys)


def test_a_single_public_key_or_certificate_loads_as_before(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "pub.pem").write_bytes(public_key(key))
    (tmp_path / "cert.pem").write_bytes(certificate(key, 0xABC))
    assert set(load_platform_keys(str(tmp_path / "pub.pem"), "PUB_KEY_ID_9")) == {"PUB_KEY_ID_9"}
    assert set(load_platform_keys(str(tmp_path / "cert.pem"), "")) == {"ABC"}
    with pytest.raises(PayConfigError, match="platform_public_key_id is required"):
        load_platform_keys(str(tmp_path / "pub.pem"), "")
    (tmp_path / "two.pem").write_bytes(public_key(key) + public_key(key))
    with pytest.raises(PayConfigError, match="more than one public key"):
        load_platform_keys(str(tmp_path / "two.pem"), "PUB_KEY_ID_9")
