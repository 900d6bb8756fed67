"""Operators' logins and roles over HTTP (issue 21 item 1): every admin route declares a
permission and each role is refused (403) or let through accordingly; the session cookie, its
CSRF token, its expiry and logout; the lockout after failed logins and the per-address limit;
disabled operators, revoked tokens (in this process and, by PostgreSQL NOTIFY, from another);
legacy admin tokens; and the operator's name on what they change."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher

from models import AuditLog, Operator, OperatorSession, Withdrawal
from runtime.config import Settings
from server.app import route_specs
from services.clock import utcnow
from services.operators import accounts, tokens
from services.operators.cache import OPERATORS, token_key
from services.operators.passwords import HASHER
from services.operators.roles import ANY, Role, allows
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_wallet import with_cash, withdraw
from web.keys import TOKENS
from web.operator_auth import CSRF_HEADER
from web.registry import RouteSpec

PASSWORD = "correct horse battery"
AUTH_CODES = {"unauthenticated", "invalid_token", "token_expired", "forbidden", "permission_denied"}


async def operator(name: str, role: str, password: str = PASSWORD) -> None:
    await accounts.add_operator(name, Role(role), password, by="test", now=utcnow())


async def token_for(api: Api, name: str) -> tuple[str, str]:
    """(token id, signed token) of a new API token of ``name``."""
    row = await tokens.issue(name, ttl=timedelta(hours=1), label="", by="test", now=utcnow())
    return row.id, str(api.app[TOKENS].issue_admin(tokens.subject_of(row.id)))


async def log_in(
    api: Api, name: str, password: str = PASSWORD, *, ip: str = "10.0.0.1"
) -> tuple[int, Any]:
    response = await api.client.post(
        "/api/admin/session",
        json={"name": name, "password": password},
        headers={"X-Forwarded-For": ip},
    )
    return response.status, await response.json()


async def signed_in(api: Api, name: str) -> str:
    """Log ``name`` in (the client keeps the cookie); their CSRF token."""
    status, who = await log_in(api, name)
    assert status == 200, who
    return str(who["csrf_token"])


def auth(**values: Any) -> Callable[[Settings], Settings]:
    return lambda s: dataclasses.replace(s, auth=dataclasses.replace(s.auth, **values))


async def refusal(response: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    assert (response.status, body["code"]) == (status, code), body
    return body


def admin_specs() -> list[RouteSpec]:
    return [spec for spec in route_specs() if spec.auth == "admin"]


def concrete(path: str) -> str:
    """A route's path with every parameter filled by a value naming nothing."""
    for name, value in {
        "id": "999999",
        "line_id": "1",
        "rank": "1",
        "name": "nope",
        "kind": "postings",
    }.items():
        path = path.replace("{" + name + "}", value)
    return path


# --- permissions ---------------------------------------------------------------------------


def test_every_admin_route_declares_a_permission() -> None:
    specs = admin_specs()
    assert len(specs) > 40
    assert all(spec.permission is not None for spec in specs)
    assert {spec.permission for spec in specs} >= {"view", "money", "operations", "members.view"}

    async def handler(request: Any) -> Any:
        raise AssertionError

    try:
        RouteSpec("GET", "/api/admin/x", handler, "x", {}, auth="admin")
    except ValueError as exc:
        assert "declares its permission" in str(exc)
    else:
        raise AssertionError("an admin route without a permission was accepted")


async def test_each_role_is_refused_exactly_where_its_permissions_end(api: Api) -> None:
    for role in Role:
        await operator(f"op-{role.value}", role.value)
        _, token = await token_for(api, f"op-{role.value}")
        for spec in admin_specs():
            body = {} if spec.body is not None else None
            response = await api.client.request(
                spec.method, concrete(spec.path), json=body, headers=bearer(token)
            )
            json_reply = response.content_type == "application/json"
            answer = await response.json() if json_reply else {}
            where = f"{role.value} {spec.method} {spec.path}: {response.status} {answer}"
            assert spec.permission is not None
            if allows(role.value, spec.permission):
                assert response.status not in (401, 403) and answer.get("code") not in AUTH_CODES, (
                    where
                )
            else:
                assert (response.status, answer["code"]) == (403, "permission_denied"), where
                assert "没有" in answer["message"] and "权限" in answer["message"], where
    # a role's denial holds for a session as for a token
    await operator("sue", "support")
    csrf = await signed_in(api, "sue")
    response = await api.client.put("/api/admin/settings", json={}, headers={CSRF_HEADER: csrf})
    await refusal(response, 403, "permission_denied")
    assert (await api.client.get("/api/admin/settings")).status == 200


async def test_without_an_operator_or_with_a_member_token_admin_routes_refuse(api: Api) -> None:
    await refusal(await api.client.get("/api/admin/settings"), 401, "unauthenticated")
    member = await api.member_token()
    response = await api.client.get("/api/admin/settings", headers=bearer(member))
    await refusal(response, 403, "forbidden")
    await refusal(
        await api.client.get("/api/admin/session", cookies={"qr_admin_session": "forged"}),
        401,
        "unauthenticated",
    )


# --- sessions ------------------------------------------------------------------------------


async def test_a_login_sets_a_strict_http_only_cookie_and_says_who_is_signed_in(
    api: Api,
) -> None:
    await operator("olga", "operations")
    response = await api.client.post(
        "/api/admin/session", json={"name": "olga", "password": PASSWORD}
    )
    assert response.status == 200, await response.text()
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("qr_admin_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # auto, and this request came over plain HTTP
    assert await OperatorSession.all().count() == 1
    assert (await OperatorSession.get()).id not in cookie  # the table keeps the secret's hash
    who = await (await api.client.get("/api/admin/session")).json()
    assert (who["name"], who["role"], who["role_name"], who["via"]) == (
        "olga",
        "operations",
        "运营",
        "session",
    )
    assert who["permissions"] == {
        "view": True,
        "members.view": True,
        "money": False,
        "operations": True,
        "operators": False,
    }
    assert who["csrf_token"] == (await response.json())["csrf_token"]


async def test_the_cookie_is_secure_when_configured(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres", edit_settings=auth(cookie_secure="true"))
    await operator("olga", "operations")
    response = await api.client.post(
        "/api/admin/session", json={"name": "olga", "password": PASSWORD}
    )
    assert "Secure" in response.headers["Set-Cookie"]


async def test_changes_made_with_the_cookie_need_the_sessions_csrf_token(api: Api) -> None:
    await operator("olga", "operations")
    csrf = await signed_in(api, "olga")
    path, body = "/api/admin/distribution-settings", {"statement_days": 3}
    await refusal(await api.client.patch(path, json=body), 403, "csrf_failed")
    wrong = await api.client.patch(path, json=body, headers={CSRF_HEADER: csrf[:-1] + "x"})
    refused = await refusal(wrong, 403, "csrf_failed")
    assert refused["message"] == "安全校验失败，请刷新页面后重试"
    assert await AuditLog.filter(section="distribution").count() == 0
    assert (await api.client.patch(path, json=body, headers={CSRF_HEADER: csrf})).status == 200
    # a bearer token is exempt, even with the cookie present
    _, token = await token_for(api, "olga")
    assert (await api.client.patch(path, json=body, headers=bearer(token))).status == 200


async def test_logout_ends_the_session(api: Api) -> None:
    await operator("olga", "operations")
    csrf = await signed_in(api, "olga")
    await refusal(await api.client.delete("/api/admin/session"), 403, "csrf_failed")
    response = await api.client.delete("/api/admin/session", headers={CSRF_HEADER: csrf})
    assert response.status == 204
    assert await OperatorSession.all().count() == 0
    await refusal(await api.client.get("/api/admin/session"), 401, "unauthenticated")


async def test_an_idle_or_old_session_has_expired(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres", edit_settings=auth(session_idle_minutes=5))
    await operator("olga", "operations")
    await signed_in(api, "olga")
    now = utcnow()
    await OperatorSession.all().update(last_seen_at=now - timedelta(minutes=4))
    assert (await api.client.get("/api/admin/session")).status == 200  # and seen now
    assert (await OperatorSession.get()).last_seen_at > now - timedelta(minutes=1)
    await OperatorSession.all().update(last_seen_at=now - timedelta(minutes=6))
    await refusal(await api.client.get("/api/admin/session"), 401, "session_expired")
    assert await OperatorSession.all().count() == 0

    await signed_in(api, "olga")  # absolute: 12 hours after the login, however active
    await OperatorSession.all().update(created_at=now - timedelta(hours=12, seconds=1))
    body = await refusal(await api.client.get("/api/admin/session"), 401, "session_expired")
    assert body["message"] == "登录已过期，请重新登录"


async def test_a_session_survives_a_restart(make_api: Callable[..., Any]) -> None:
    first = await make_api("postgres")
    await operator("olga", "operations")
    csrf = await signed_in(first, "olga")
    cookie = first.client.session.cookie_jar.filter_cookies(first.client.make_url("/"))
    second = await make_api("postgres")  # another process on the same database
    response = await second.client.get(
        "/api/admin/session", cookies={"qr_admin_session": cookie["qr_admin_session"].value}
    )
    assert (response.status, (await response.json())["csrf_token"]) == (200, csrf)


# --- logins refused ------------------------------------------------------------------------


async def test_failed_logins_lock_the_account(api: Api) -> None:
    await operator("olga", "operations")
    for _ in range(4):
        status, body = await log_in(api, "olga", "wrong password")
        assert (status, body["code"], body["message"]) == (
            401,
            "invalid_credentials",
            "账号或密码错误",
        )
    status, body = await log_in(api, "nobody", PASSWORD)  # an unknown name: the same answer
    assert (status, body["code"]) == (401, "invalid_credentials")
    response = await api.client.post(
        "/api/admin/session", json={"name": "olga", "password": "wrong again"}
    )
    body = await refusal(response, 429, "account_locked")
    assert body["message"] == "登录失败次数过多，账号已锁定，请在 15 分钟后重试"
    assert 890 <= int(response.headers["Retry-After"]) <= 900
    status, body = await log_in(api, "olga")  # the right password changes nothing now
    assert (status, body["code"]) == (429, "account_locked")
    assert await OperatorSession.all().count() == 0
    await Operator.filter(name="olga").update(locked_until=utcnow() - timedelta(seconds=1))
    status, _ = await log_in(api, "olga")
    assert status == 200
    assert (await Operator.get(name="olga")).failed_logins == 0


async def test_one_address_may_try_so_many_logins(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres", edit_settings=auth(login_attempts_per_address=2))
    await operator("olga", "operations")
    for _ in range(2):
        assert (await log_in(api, "olga", "wrong password", ip="10.0.0.7"))[0] == 401
    status, body = await log_in(api, "olga", ip="10.0.0.7")
    assert (status, body["code"]) == (429, "rate_limited")
    assert (await log_in(api, "olga", ip="10.0.0.8"))[0] == 200


async def test_a_login_is_json_only(api: Api) -> None:
    await operator("olga", "operations")
    response = await api.client.post(
        "/api/admin/session",
        data='{"name": "olga", "password": "correct horse battery"}',
        headers={"Content-Type": "text/plain"},
    )
    await refusal(response, 415, "unsupported_media_type")


async def test_a_disabled_operator_cannot_log_in_nor_use_sessions_or_tokens(api: Api) -> None:
    await operator("olga", "operations")
    await signed_in(api, "olga")
    _, token = await token_for(api, "olga")
    assert (await api.client.get("/api/admin/settings", headers=bearer(token))).status == 200
    await accounts.set_disabled("olga", True, by="test", now=utcnow())
    await refusal(await api.client.get("/api/admin/session"), 401, "unauthenticated")
    response = await api.client.get("/api/admin/settings", headers=bearer(token))
    body = await refusal(response, 403, "operator_disabled")
    assert body["message"] == "该运营账号已停用，请联系管理员"
    status, body = await log_in(api, "olga")
    assert (status, body["code"]) == (403, "operator_disabled")


async def test_a_login_rehashes_a_password_hashed_with_older_parameters(api: Api) -> None:
    await operator("olga", "operations")
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await Operator.filter(name="olga").update(password_hash=old)
    assert (await log_in(api, "olga"))[0] == 200
    new = (await Operator.get(name="olga")).password_hash
    assert new != old and not HASHER.check_needs_rehash(new)
    assert HASHER.verify(new, PASSWORD)


# --- tokens --------------------------------------------------------------------------------


async def test_a_revoked_token_is_refused_at_its_next_request(api: Api) -> None:
    await operator("olga", "finance")
    token_id, token = await token_for(api, "olga")
    who = await (await api.client.get("/api/admin/session", headers=bearer(token))).json()
    assert (who["name"], who["role"], who["via"], who["csrf_token"]) == (
        "olga",
        "finance",
        "token",
        None,
    )
    await tokens.revoke(token_id, by="test", now=utcnow())
    response = await api.client.get("/api/admin/withdrawals", headers=bearer(token))
    await refusal(response, 401, "token_revoked")
    _, other = await token_for(api, "olga")  # her other tokens still work
    assert (await api.client.get("/api/admin/withdrawals", headers=bearer(other))).status == 200


async def test_a_revocation_by_another_process_reaches_this_ones_cache(api: Api) -> None:
    await operator("olga", "finance")
    token_id, token = await token_for(api, "olga")
    assert (await api.client.get("/api/admin/withdrawals", headers=bearer(token))).status == 200
    assert token_key(token_id) in OPERATORS  # this process remembers the grant
    conn = await asyncpg.connect(api.db_url.replace("postgres://", "postgresql://", 1))
    try:  # what `queue-rebate operator token revoke` does from another process
        async with conn.transaction():
            await conn.execute(
                "UPDATE operator_token SET revoked_at = now() WHERE id = $1", token_id
            )
            await conn.execute("SELECT pg_notify('qr_operators', $1)", token_key(token_id))
    finally:
        await conn.close()
    for _ in range(500):
        if token_key(token_id) not in OPERATORS:
            break
        await asyncio.sleep(0.01)
    response = await api.client.get("/api/admin/withdrawals", headers=bearer(token))
    await refusal(response, 401, "token_revoked")


async def test_on_sqlite_a_revocation_by_the_command_line_is_seen_at_once(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("sqlite", redis=False)
    await operator("olga", "finance")
    token_id, token = await token_for(api, "olga")
    assert (await api.client.get("/api/admin/withdrawals", headers=bearer(token))).status == 200
    with sqlite3.connect(api.db_url.removeprefix("sqlite://")) as db:  # another process
        db.execute("UPDATE operator_token SET revoked_at = '2026-12-01' WHERE id = ?", (token_id,))
    response = await api.client.get("/api/admin/withdrawals", headers=bearer(token))
    await refusal(response, 401, "token_revoked")


async def test_legacy_admin_tokens_are_the_owner_unless_turned_off(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    who = await (
        await api.client.get("/api/admin/session", headers=bearer(api.admin_token()))
    ).json()
    assert (who["name"], who["role"], who["via"]) == ("ops@test", "owner", "legacy")
    strict = await make_api("postgres", edit_settings=auth(legacy_admin_tokens=False))
    response = await strict.client.get("/api/admin/settings", headers=bearer(strict.admin_token()))
    await refusal(response, 401, "invalid_token")
    await operator("olga", "owner")
    _, token = await token_for(strict, "olga")
    assert (await strict.client.get("/api/admin/settings", headers=bearer(token))).status == 200


# --- who did it ----------------------------------------------------------------------------


async def test_the_operators_name_is_on_what_they_decide(api: Api) -> None:
    await operator("fiona", "finance")
    _, member_token = await with_cash(api)
    status, asked = await withdraw(api, member_token, 3000)
    assert status == 201, asked
    withdrawal_id = asked["withdrawal"]["id"]
    csrf = await signed_in(api, "fiona")
    response = await api.client.post(
        f"/api/admin/withdrawals/{withdrawal_id}/reject",
        json={"reason": "资料不全"},
        headers={CSRF_HEADER: csrf},
    )
    assert response.status == 200, await response.text()
    assert (await Withdrawal.get(id=withdrawal_id)).decided_by == "fiona"
    logged = await (await api.client.get("/api/admin/audit?operator=fiona")).json()
    assert [row["section"] for row in logged["items"]] == ["withdrawal_decision"]


def test_any_is_allowed_to_every_role() -> None:
    assert all(allows(role.value, ANY) for role in Role)
