"""APIv2 refunds authenticate by TLS client certificate: the gateway loads it from settings."""

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from wechat.gateway import PayConfigError, refund_tls


def _write_cert(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "1900000109")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "apiclient_cert.pem", tmp_path / "apiclient_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_refund_tls_loads_the_merchant_certificate(tmp_path):
    cert, key = _write_cert(tmp_path)
    assert isinstance(refund_tls(cert, key), ssl.SSLContext)


def test_refund_tls_is_absent_without_a_certificate():
    assert refund_tls("", "") is None


def test_refund_tls_names_the_setting_when_the_file_is_unusable(tmp_path):
    with pytest.raises(PayConfigError, match="v2_cert_path"):
        refund_tls(str(tmp_path / "missing.pem"), "")
