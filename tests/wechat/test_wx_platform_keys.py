"""``wechat.platform_keys``: every configured platform key in one live set, re-read on demand,
and ``pay_v3.parse_certificates`` for what ``/v3/certificates`` answers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from wechat import pay_v3
from wechat.errors import BadTag, MalformedBody
from wechat.platform_keys import KeyFile, PlatformKeyError, PlatformKeySet
from wechat_fake.certificates import certificate_entry, platform_certificate

APIV3_KEY = b"abcdef0123456789abcdef0123456789"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_files_and_a_directory_make_one_set(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(platform_certificate(new_key(), 0xABC))
    keys_dir = tmp_path / "dir"
    keys_dir.mkdir()
    (keys_dir / "PUB_KEY_ID_2.pem").write_bytes(public_pem(new_key()))
    (keys_dir / "next-cert.pem").write_bytes(platform_certificate(new_key(), 0xDEF))
    keys = PlatformKeySet((KeyFile(str(tmp_path / "cert.pem")),), str(keys_dir))
    assert sorted(keys) == ["ABC", "DEF", "PUB_KEY_ID_2"]
    assert keys.certificate_mode


def test_a_public_key_without_its_id_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "pub.pem").write_bytes(public_pem(new_key()))
    with pytest.raises(PlatformKeyError, match=r"pub.pem is a public key: give its PUB_KEY_ID_"):
        PlatformKeySet((KeyFile(str(tmp_path / "pub.pem")),))


def test_reload_swaps_the_files_keeps_downloads_and_survives_a_broken_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "dir"
    keys_dir.mkdir()
    (keys_dir / "PUB_KEY_ID_1.pem").write_bytes(public_pem(new_key()))
    keys = PlatformKeySet((), str(keys_dir))
    assert keys.add_downloaded({"5157": new_key().public_key()}) == ["5157"]
    (keys_dir / "PUB_KEY_ID_1.pem").unlink()
    (keys_dir / "PUB_KEY_ID_2.pem").write_bytes(public_pem(new_key()))
    assert keys.reload() == ["5157", "PUB_KEY_ID_2"]
    (keys_dir / "PUB_KEY_ID_3.pem").write_text("garbage", encoding="utf-8")
    with pytest.raises(PlatformKeyError, match=r"PUB_KEY_ID_3\.pem is not a usable key"):
        keys.reload()
    assert sorted(keys) == ["5157", "PUB_KEY_ID_2"]  # what was in use stays


def test_certificates_are_decrypted_and_must_carry_their_announced_serial() -> None:
    key = new_key()
    entry = certificate_entry(platform_certificate(key, 0x1234), APIV3_KEY)
    found = pay_v3.parse_certificates({"data": [entry]}, APIV3_KEY)
    assert list(found) == ["1234"]
    assert found["1234"].public_numbers() == key.public_key().public_numbers()
    with pytest.raises(MalformedBody, match="announced as 9999"):
        pay_v3.parse_certificates({"data": [{**entry, "serial_no": "9999"}]}, APIV3_KEY)


def test_a_certificate_under_another_apiv3_key_is_refused() -> None:
    entry = certificate_entry(platform_certificate(new_key(), 0x1234), b"x" * 32)
    with pytest.raises(BadTag):
        pay_v3.parse_certificates({"data": [entry]}, APIV3_KEY)
    tampered = json.loads(json.dumps(entry))
    ciphertext = bytearray(base64.b64decode(tampered["encrypt_certificate"]["ciphertext"]))
    ciphertext[0] ^= 1
    tampered["encrypt_certificate"]["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    with pytest.raises(BadTag):
        pay_v3.parse_certificates({"data": [tampered]}, b"x" * 32)
