"""The WeChat Pay platform keys this merchant accepts, as one live set.

WeChat Pay signs its answers and notifications with a platform key named by the
``Wechatpay-Serial`` header: a platform certificate's serial (平台证书) or a WeChat Pay public
key's ``PUB_KEY_ID_…`` (微信支付公钥). Several are valid at once during a certificate rotation
or the move from certificates to the public key, so the set holds every configured one:

- ``[wechat_pay] platform_cert_path`` (+ ``platform_public_key_id``), each entry of
  ``platform_keys`` (``{ path, id }``), and every ``*.pem`` in ``platform_keys_dir`` (a
  certificate is named by its own serial, a public key by its file name ``PUB_KEY_ID_….pem``);
- certificates downloaded from ``/v3/certificates`` (``wechat.certificates``), in memory.

``PlatformKeySet`` is a read-only mapping shared by every client that verifies (payments,
商家转账, the notification views); ``reload()`` (SIGHUP) re-reads the files and swaps the
whole mapping at once, keeping the downloaded certificates; a file that no longer loads leaves
the previous set in place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from wechat.pay_v3 import load_public_key

log = logging.getLogger(__name__)

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"


class PlatformKeyError(ValueError):
    """A configured platform key file is missing or unusable (the message names it)."""


@dataclass(frozen=True)
class KeyFile:
    path: str
    id: str = ""  # a public key's PUB_KEY_ID_…; empty: a certificate, named by its serial
    key: str = "platform_keys"  # the setting that names it, for messages


def certificate_serial(certificate: x509.Certificate) -> str:
    """A certificate's serial as WeChat Pay writes it: upper-case hex."""
    return format(certificate.serial_number, "X")


def load_key_file(entry: KeyFile) -> tuple[str, RSAPublicKey, bool]:
    """``(serial or id, key, is a certificate)`` of one PEM file."""
    try:
        pem = Path(entry.path).read_bytes()
    except OSError as exc:
        raise PlatformKeyError(f"{entry.key}: cannot read {entry.path}: {exc.strerror}") from None
    try:
        key = load_public_key(pem)
        if entry.id:
            return entry.id, key, False
        if b"CERTIFICATE" not in pem:
            raise PlatformKeyError(
                f"{entry.key}: {entry.path} is a public key: give its {PUBLIC_KEY_ID_PREFIX}… id"
            )
        return certificate_serial(x509.load_pem_x509_certificate(pem)), key, True
    except ValueError as exc:
        if isinstance(exc, PlatformKeyError):
            raise
        raise PlatformKeyError(f"{entry.key}: {entry.path} is not a usable key: {exc}") from None


def dir_entries(directory: str) -> list[KeyFile]:
    """Every ``*.pem`` of ``directory``: a ``PUB_KEY_ID_….pem`` is that public key, any other
    a certificate."""
    if not Path(directory).is_dir():
        raise PlatformKeyError(f"platform_keys_dir: {directory} is not a directory")
    try:
        paths = sorted(Path(directory).glob("*.pem"))
    except OSError as exc:
        raise PlatformKeyError(f"platform_keys_dir: cannot read {directory}: {exc}") from None
    return [
        KeyFile(
            str(p),
            p.stem if p.stem.startswith(PUBLIC_KEY_ID_PREFIX) else "",
            key="platform_keys_dir",
        )
        for p in paths
    ]


class PlatformKeySet(Mapping[str, RSAPublicKey]):
    """Serial / public key id → platform key, from files (re-read by ``reload``) and downloads."""

    def __init__(self, files: tuple[KeyFile, ...], directory: str = "") -> None:
        self._files = files
        self._directory = directory
        self._downloaded: dict[str, RSAPublicKey] = {}
        self._from_files, self._certificates = self._read()
        self._keys = dict(self._from_files)
        if not self._keys:
            raise PlatformKeyError("no WeChat Pay platform key is configured")

    @property
    def certificate_mode(self) -> bool:
        """Whether any configured key is a platform certificate (then ``/v3/certificates`` is
        worth downloading: WeChat Pay announces the next certificate there)."""
        return self._certificates

    def _read(self) -> tuple[dict[str, RSAPublicKey], bool]:
        entries = list(self._files)
        if self._directory:
            entries += dir_entries(self._directory)
        keys: dict[str, RSAPublicKey] = {}
        certificates = False
        for entry in entries:
            name, key, is_certificate = load_key_file(entry)
            keys[name] = key
            certificates = certificates or is_certificate
        return keys, certificates

    def reload(self) -> list[str]:
        """Re-read every file and replace the set at once (downloads kept). Returns the names;
        raises ``PlatformKeyError`` and keeps the current set when a file does not load."""
        from_files, certificates = self._read()
        self._from_files, self._certificates = from_files, certificates
        self._keys = {**self._downloaded, **from_files}
        log.info("WeChat Pay platform keys: %s", ", ".join(sorted(self._keys)))
        return sorted(self._keys)

    def add_downloaded(self, keys: Mapping[str, RSAPublicKey]) -> list[str]:
        """Add downloaded certificates' keys; returns the serials new to the set."""
        new = sorted(set(keys) - set(self._keys))
        self._downloaded.update(keys)
        self._keys = {**self._downloaded, **self._from_files}
        if new:
            log.info("WeChat Pay platform certificates downloaded: %s", ", ".join(new))
        return new

    def __getitem__(self, serial: str) -> RSAPublicKey:
        return self._keys[serial]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._keys))

    def __len__(self) -> int:
        return len(self._keys)
