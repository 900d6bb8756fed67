"""Operators' login (运营后台登录): ``POST /api/admin/session`` with a name and password sets
the session cookie and answers the session's CSRF token; ``GET`` says who is signed in, with
their role and permissions; ``DELETE`` logs out. The cookie is ``HttpOnly``,
``SameSite=Strict`` (the console is served from the same site; a link from elsewhere opens it
signed out), ``Path=/``, without ``Max-Age`` (it ends with the browser; the server ends the
session first when idle or old: ``[auth] session_*``), and ``Secure`` per
``[auth] cookie_secure``. Sessions, lockout and CSRF: ``services.operators.sessions`` and
``web.operator_auth``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from runtime.ratelimit import Limit
from services.clock import utcnow
from services.operators import sessions
from services.operators.roles import ANY, ROLE_NAMES, Permission, Role, permissions_of
from web.common import client_ip
from web.errors import ApiError
from web.keys import LIMITER, SETTINGS
from web.operator_auth import IDENTITY, SESSION_COOKIE, Identity, cookie_secure
from web.ratelimit import enforce
from web.registry import BODY, Registry, Reply
from web.schemas import STRING, obj

log = logging.getLogger(__name__)

routes = Registry()

LOGIN_BODY = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 32, "description": "账号"},
        "password": {"type": "string", "minLength": 1, "maxLength": 256, "description": "密码"},
    },
    required=["name", "password"],
)
WHO = obj(
    {
        "name": STRING,
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "role_name": STRING,
        "permissions": obj({p.value: {"type": "boolean"} for p in Permission}),
        "via": {"type": "string", "enum": ["session", "token", "legacy"]},
        "csrf_token": {"type": "string", "nullable": True},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
    }
)


def who_json(identity: Identity, *, expires_at: datetime | None) -> dict[str, Any]:
    role = Role(identity.role)
    granted = permissions_of(role)
    return {
        "name": identity.name,
        "role": role.value,
        "role_name": ROLE_NAMES[role],
        "permissions": {p.value: p in granted for p in Permission},
        "via": identity.via,
        "csrf_token": identity.session.csrf_token if identity.session else None,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


@routes.post(
    "/api/admin/session",
    summary="运营：登录（账号 + 密码），设置会话 Cookie",
    description="Answers who signed in and the session's `csrf_token`: send it in "
    "`X-CSRF-Token` with every change made with the cookie. Wrong name or password: 401 "
    "`invalid_credentials`; after `[auth] login_max_failures` failures in the window the "
    "account is locked: 429 `account_locked` with Retry-After; a disabled account: 403 "
    "`operator_disabled`; too many attempts from one address: 429 `rate_limited`. The body "
    "must be `application/json` (415 otherwise).",
    tags=("admin",),
    body=LOGIN_BODY,
    rate_limited=True,
    body_example={"name": "demo", "password": "correct horse battery"},
    responses={
        200: Reply("已登录；Set-Cookie: qr_admin_session", WHO),
        401: Reply("账号或密码错误"),
        403: Reply("账号已停用"),
        415: Reply("请求内容必须是 application/json"),
        429: Reply("账号已锁定，或尝试过于频繁（见 Retry-After）"),
    },
)
async def log_in(request: web.Request) -> web.Response:
    if request.content_type != "application/json":  # no cross-site form can log anyone in
        raise ApiError(415, "unsupported_media_type", "请求内容必须是 application/json")
    auth = request.app[SETTINGS].auth
    window = auth.login_failure_window_minutes * 60
    address = client_ip(request)
    await enforce(
        request.app[LIMITER],
        "admin_login_ip",
        address,
        Limit(auth.login_attempts_per_address, window),
    )
    body, policy = request[BODY], sessions.Policy.of(auth)
    try:
        new = await sessions.log_in(
            body["name"], body["password"], address=address, now=utcnow(), policy=policy
        )
    except sessions.LoginRefused as exc:
        raise _refusal(exc, body["name"], address) from None
    log.info("operator %s logged in from %s", new.session.operator, address)
    session = new.session
    identity = Identity(session.operator, session.role, "session", session)
    response = web.json_response(
        who_json(identity, expires_at=session.created_at + policy.absolute)
    )
    response.set_cookie(
        SESSION_COOKIE,
        new.secret,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    return response


def _refusal(exc: sessions.LoginRefused, name: str, address: str) -> ApiError:
    log.info("operator login refused (%s) for %r from %s", exc.reason, name, address)
    if exc.reason == "locked":
        minutes = -(-exc.retry_after // 60)
        return ApiError(
            429,
            "account_locked",
            f"登录失败次数过多，账号已锁定，请在 {minutes} 分钟后重试",
            headers={"Retry-After": str(exc.retry_after)},
        )
    if exc.reason == "disabled":
        return ApiError(403, "operator_disabled", "该运营账号已停用，请联系管理员")
    return ApiError(401, "invalid_credentials", "账号或密码错误")


@routes.get(
    "/api/admin/session",
    summary="运营：当前登录的运营账号（角色、权限、CSRF 令牌）",
    tags=("admin",),
    auth="admin",
    permission=ANY,
    responses={200: Reply("当前运营账号", WHO)},
)
async def who_am_i(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    expires_at = None
    if identity.session is not None:
        policy = sessions.Policy.of(request.app[SETTINGS].auth)
        expires_at = identity.session.created_at + policy.absolute
    return web.json_response(who_json(identity, expires_at=expires_at))


@routes.delete(
    "/api/admin/session",
    summary="运营：退出登录",
    description="Ends the cookie's session (with its `X-CSRF-Token`) and clears the cookie. "
    "With a bearer token there is no session: nothing changes.",
    tags=("admin",),
    auth="admin",
    permission=ANY,
    responses={204: Reply("已退出")},
)
async def log_out(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    response = web.Response(status=204)
    if identity.session is not None:
        await sessions.log_out(identity.session.session_id)
        log.info("operator %s logged out", identity.name)
        response.del_cookie(SESSION_COOKIE, path="/", samesite="Strict")
    return response
