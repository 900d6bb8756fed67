"""Tokens: signed, expiring, one kind each. Every way a token is refused has its own test."""

from __future__ import annotations

import base64

import pytest

from tests.api.conftest import Api, bearer
from web.auth import InvalidToken, TokenKind, TokenSigner
from web.keys import TOKENS

ADMIN_REFUND = "/api/admin/orders/1/lines/1/refund"


def signer(now: float = 1_000_000.0) -> TokenSigner:
    return TokenSigner(
        member_secret="m-secret",
        admin_secret="a-secret",
        member_ttl=60,
        admin_ttl=60,
        clock=lambda: now,
    )


def test_a_member_token_round_trips() -> None:
    token = signer().issue_member(42)
    claims = signer().verify(token, TokenKind.MEMBER)
    assert (claims.kind, claims.subject, claims.expires_at) == (TokenKind.MEMBER, "42", 1_000_060)


def test_a_token_expires_at_its_ttl() -> None:
    token = signer().issue_member(42)
    assert signer(1_000_059.0).verify(token, TokenKind.MEMBER).subject == "42"
    with pytest.raises(InvalidToken, match="expired"):
        signer(1_000_060.0).verify(token, TokenKind.MEMBER)


def test_a_member_token_never_passes_for_an_admin_token_even_with_one_shared_secret() -> None:
    shared = TokenSigner(member_secret="same", admin_secret="same", member_ttl=60, admin_ttl=60)
    with pytest.raises(InvalidToken):
        shared.verify(shared.issue_member(1), TokenKind.ADMIN)
    with pytest.raises(InvalidToken):
        shared.verify(shared.issue_admin("ops"), TokenKind.MEMBER)


def test_changing_one_character_of_the_payload_breaks_the_signature() -> None:
    token = signer().issue_member(42)
    payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b"|42|", b"|43|")).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="bad_signature"):
        signer().verify(f"{forged}.{signature}", TokenKind.MEMBER)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "é.é", "x" * 600, "..", "YQ.YQ"])
def test_garbage_is_refused_without_raising_anything_else(token: str) -> None:
    with pytest.raises(InvalidToken):
        signer().verify(token, TokenKind.MEMBER)


# --- over HTTP ---------------------------------------------------------------------------------


async def test_no_token_is_a_401(api: Api) -> None:
    response = await api.client.get("/api/me")
    assert response.status == 401
    body = await response.json()
    assert (body["code"], body["message"]) == ("unauthenticated", "请先登录")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_bad_token_is_a_401(api: Api) -> None:
    token = await api.member_token()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, "not-a-token", "Basic abc"):
        response = await api.client.get("/api/me", headers=bearer(bad))
        assert response.status == 401
        assert (await response.json())["code"] == "invalid_token"


async def test_a_token_signed_with_another_secret_is_a_401(api: Api) -> None:
    other = TokenSigner(member_secret="other", admin_secret="x", member_ttl=60, admin_ttl=60)
    response = await api.client.get("/api/me", headers=bearer(other.issue_member(1)))
    assert response.status == 401


async def test_an_expired_token_is_a_401_that_says_so(api: Api) -> None:
    member_id = (await api.login())["member"]["id"]
    expired = api.app[TOKENS].issue(TokenKind.MEMBER, str(member_id), ttl=-1)
    response = await api.client.get("/api/me", headers=bearer(expired))
    assert response.status == 401
    body = await response.json()
    assert body["code"] == "token_expired"
    assert "过期" in body["message"]


async def test_a_member_token_on_an_admin_route_is_a_403(api: Api) -> None:
    token = await api.member_token()
    response = await api.client.post(ADMIN_REFUND, headers=bearer(token))
    assert response.status == 403
    body = await response.json()
    assert body["code"] == "forbidden"
    assert body["message"] == "需要管理员权限"


async def test_an_admin_token_is_not_a_member_token(api: Api) -> None:
    response = await api.client.get("/api/me", headers=bearer(api.admin_token()))
    assert response.status == 401


async def test_an_admin_token_passes_the_admin_route(api: Api) -> None:
    response = await api.client.post(ADMIN_REFUND, headers=bearer(api.admin_token()))
    assert response.status == 404  # authenticated; the order does not exist
    assert (await response.json())["code"] == "not_found"


async def test_a_token_of_a_member_that_no_longer_exists_is_a_401(api: Api) -> None:
    ghost = api.app[TOKENS].issue_member(987654)
    response = await api.client.get("/api/me", headers=bearer(ghost))
    assert response.status == 401
