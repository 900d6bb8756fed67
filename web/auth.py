"""Bearer tokens: signed, expiring, and of one kind each (member or admin).

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
``v1|<kind>|<subject>|<expires unix seconds>``; the signature is HMAC-SHA256 over the encoded
payload, keyed per kind: ``HMAC(secret_of_kind, "queue-rebate token key " + kind)``. A member
token can never pass for an admin token: the kinds are signed with different secrets *and*
the kind is inside the signed payload, so even one shared secret would not make them
interchangeable. Comparison is constant-time (``hmac.compare_digest``). No JWT library: there
is no algorithm header to confuse and nothing to configure.

An empty secret in the settings gets a random one for the life of the process (logged as a
warning): tokens then die with the process and do not work across ``serve`` processes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from web.errors import ApiError

log = logging.getLogger(__name__)

VERSION = "v1"
MAX_TOKEN_CHARS = 512


class TokenKind(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


@dataclass(frozen=True)
class Claims:
    kind: TokenKind
    subject: str
    expires_at: int


class InvalidToken(Exception):
    """Why a token was refused: ``reason`` is ``malformed``, ``bad_signature``, ``wrong_kind``
    or ``expired`` (for logs; the client only learns it must log in again)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies both kinds of token. ``clock`` returns unix seconds (tests move it)."""

    def __init__(
        self,
        *,
        member_secret: str,
        admin_secret: str,
        member_ttl: int,
        admin_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = {
            TokenKind.MEMBER: self._derive(member_secret, TokenKind.MEMBER),
            TokenKind.ADMIN: self._derive(admin_secret, TokenKind.ADMIN),
        }
        self._ttl = {TokenKind.MEMBER: member_ttl, TokenKind.ADMIN: admin_ttl}
        self._clock = clock

    @staticmethod
    def _derive(secret: str, kind: TokenKind) -> bytes:
        if not secret:
            log.warning(
                "no %s token secret configured: using a random one for this process "
                "(tokens die with it and are not shared between processes)",
                kind,
            )
            secret = secrets.token_hex(32)
        label = f"queue-rebate token key {kind}".encode()
        return hmac.new(secret.encode("utf-8"), label, hashlib.sha256).digest()

    def issue(self, kind: TokenKind, subject: str, *, ttl: int | None = None) -> str:
        if "|" in subject:
            raise ValueError("a token subject cannot contain '|'")
        expires_at = int(self._clock()) + (ttl if ttl is not None else self._ttl[kind])
        payload = _b64(f"{VERSION}|{kind}|{subject}|{expires_at}".encode())
        return f"{payload}.{self._sign(kind, payload)}"

    def issue_member(self, member_id: int) -> str:
        return self.issue(TokenKind.MEMBER, str(member_id))

    def issue_admin(self, operator: str, *, ttl: int | None = None) -> str:
        return self.issue(TokenKind.ADMIN, operator, ttl=ttl)

    def _sign(self, kind: TokenKind, payload: str) -> str:
        return _b64(hmac.new(self._keys[kind], payload.encode("ascii"), hashlib.sha256).digest())

    def verify(self, token: str, kind: TokenKind) -> Claims:
        """The claims of a valid, unexpired token of ``kind``; else ``InvalidToken``."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise InvalidToken("malformed")
        payload, signature = token.split(".")
        try:
            payload.encode("ascii")
            signature.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidToken("malformed") from None
        expected = self._sign(kind, payload)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
            raise InvalidToken("bad_signature")
        try:
            version, token_kind, subject, expires = _unb64(payload).decode("utf-8").split("|")
            expires_at = int(expires)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidToken("malformed") from None
        if version != VERSION or token_kind != kind:
            raise InvalidToken("wrong_kind")
        if expires_at <= self._clock():
            raise InvalidToken("expired")
        return Claims(TokenKind(token_kind), subject, expires_at)


# --- request side -----------------------------------------------------------------------------

MEMBER_ID = web.RequestKey("member_id", int)
OPERATOR = web.RequestKey("operator", str)

_UNAUTHENTICATED = "请先登录"
_EXPIRED = "登录已过期，请重新登录"
_INVALID = "登录状态无效，请重新登录"


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", _UNAUTHENTICATED, headers=_challenge())
    return token.strip()


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="queue-rebate"'}


def authenticate(request: web.Request, signer: TokenSigner, kind: TokenKind) -> Claims:
    """The verified claims of the request's bearer token of ``kind``; 401 otherwise (403 for a
    valid token of the other kind on an admin route)."""
    token = _bearer(request)
    try:
        return signer.verify(token, kind)
    except InvalidToken as exc:
        log.info("refused %s token: %s", kind, exc.reason)
        if exc.reason == "expired":
            raise ApiError(401, "token_expired", _EXPIRED, headers=_challenge()) from None
        if kind == TokenKind.ADMIN and _is_valid_other_kind(signer, token):
            raise ApiError(403, "forbidden", "需要管理员权限") from None
        raise ApiError(401, "invalid_token", _INVALID, headers=_challenge()) from None


def _is_valid_other_kind(signer: TokenSigner, token: str) -> bool:
    try:
        signer.verify(token, TokenKind.MEMBER)
    except InvalidToken:
        return False
    return True


def member_id_of(claims: Claims) -> int:
    try:
        return int(claims.subject)
    except ValueError:
        raise ApiError(401, "invalid_token", _INVALID, headers=_challenge()) from None
