"""The fake's ``GET /v3/certificates`` (下载平台证书): every platform certificate the fake
announces (``FakeWeChatState.platform_certificates``), each encrypted with the APIv3 key
(AEAD_AES_256_GCM, associated data ``certificate``), the answer signed like every v3 answer.
``platform_certificate`` makes such a certificate for a test."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from wechat_fake.notify import signed_v3_headers
from wechat_fake.state import STATE_KEY

ASSOCIATED_DATA = "certificate"


def platform_certificate(key: RSAPrivateKey, serial: int, *, days: int = 1825) -> bytes:
    """A self-signed PEM certificate of ``key`` with ``serial`` (WeChat names it in hex)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (fake)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_entry(pem: bytes, apiv3_key: bytes) -> dict[str, object]:
    certificate = x509.load_pem_x509_certificate(pem)
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), pem, ASSOCIATED_DATA.encode())
    return {
        "serial_no": format(certificate.serial_number, "X"),
        "effective_time": certificate.not_valid_before_utc.isoformat(),
        "expire_time": certificate.not_valid_after_utc.isoformat(),
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": ASSOCIATED_DATA,
            "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        },
    }


async def v3_certificates(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    data = {
        "data": [certificate_entry(pem, state.apiv3_key) for pem in state.platform_certificates]
    }
    body = json.dumps(data).encode("utf-8")
    headers = signed_v3_headers(body, state.platform_private_key, state.platform_serial)
    return web.Response(body=body, headers=headers, content_type="application/json")


ROUTES = [web.get("/v3/certificates", v3_certificates)]
