"""Who an operators' request comes from, and whether their role may do what the route does.

Two ways in (``authenticate_operator``):

- ``Authorization: Bearer <admin token>`` — API clients. A token issued to an operator account
  (``queue-rebate operator token issue``; its subject is ``token:<id>``) is checked against the
  token's row on every request, through the process's cache invalidated in every process on
  revocation (``services.operators.cache``): revoked → 401 ``token_revoked``, its operator
  disabled → 403 ``operator_disabled``. A token signed with the admin secret that names no
  account (``TokenSigner.issue_admin(name)``, what tests and scripts of earlier versions use)
  is a *legacy* token: with ``[auth] legacy_admin_tokens = true`` (the default) it acts as the
  owner role under the name it carries; it cannot be revoked but by rotating the secret, so set
  it to false once every client has an operator token. Bearer requests need no CSRF token:
  a browser never adds that header on its own.
- the session cookie ``qr_admin_session`` set by ``POST /api/admin/session`` — the console. A
  state-changing request (any method but GET, HEAD, OPTIONS) must send the session's CSRF token
  in ``X-CSRF-Token`` (403 ``csrf_failed``). An ended session answers 401 ``session_expired``.

When both come, the bearer token counts. Then the role: a route's permission it lacks is 403
``permission_denied``.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from aiohttp import web

from services.clock import utcnow
from services.operators import sessions
from services.operators.roles import ANY, PERMISSION_NAMES, ROLE_NAMES, Role, allows
from services.operators.tokens import grant_of, token_id_of
from web.auth import TokenKind, authenticate
from web.errors import ApiError
from web.keys import SETTINGS, TOKENS

log = logging.getLogger(__name__)

SESSION_COOKIE = "qr_admin_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Identity:
    """The operator behind a request. ``via``: ``session``, ``token`` or ``legacy``."""

    name: str
    role: str
    via: str
    session: sessions.Session | None = field(default=None, repr=False)


IDENTITY = web.RequestKey("operator_identity", Identity)


async def authenticate_operator(request: web.Request, permission: str) -> Identity:
    """The request's operator, allowed ``permission``; a 401 or 403 ``ApiError`` otherwise."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if "Authorization" in request.headers or not cookie:
        identity = await _by_token(request)
    else:
        identity = await _by_session(request, cookie)
    if not allows(identity.role, permission):
        log.info("operator %s (%s) lacks %s", identity.name, identity.role, permission)
        role = ROLE_NAMES.get(Role(identity.role), identity.role) if _known(identity.role) else ""
        raise ApiError(
            403,
            "permission_denied",
            f"当前角色（{role}）没有“{PERMISSION_NAMES.get(permission, permission)}”权限",
        )
    return identity


def _known(role: str) -> bool:
    return role in {r.value for r in Role}


async def _by_token(request: web.Request) -> Identity:
    subject = authenticate(request, request.app[TOKENS], TokenKind.ADMIN).subject
    token_id = token_id_of(subject)
    if token_id is None:
        if not request.app[SETTINGS].auth.legacy_admin_tokens:
            log.info("refused a legacy admin token (%s)", subject)
            raise ApiError(401, "invalid_token", "登录状态无效，请重新登录")
        return Identity(subject, Role.OWNER.value, "legacy")
    grant = await grant_of(token_id)
    if grant is None or grant.revoked:
        log.info("refused operator token %s: %s", token_id, "revoked" if grant else "unknown")
        raise ApiError(401, "token_revoked", "该令牌已被撤销，请使用新的令牌")
    if grant.disabled:
        raise ApiError(403, "operator_disabled", "该运营账号已停用，请联系管理员")
    return Identity(grant.operator, grant.role, "token")


async def _by_session(request: web.Request, secret: str) -> Identity:
    policy = sessions.Policy.of(request.app[SETTINGS].auth)
    try:
        session = await sessions.resolve(secret, now=utcnow(), policy=policy)
    except sessions.SessionRefused as exc:
        log.info("refused an operator session: %s", exc.reason)
        if exc.reason == "expired":
            raise ApiError(401, "session_expired", "登录已过期，请重新登录") from None
        raise ApiError(401, "unauthenticated", "请先登录") from None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            log.info("operator %s: CSRF token missing or wrong", session.operator)
            raise ApiError(403, "csrf_failed", "安全校验失败，请刷新页面后重试")
    return Identity(session.operator, session.role, "session", session)


def cookie_secure(request: web.Request) -> bool:
    """Whether the session cookie is ``Secure``: ``[auth] cookie_secure`` (auto: when the
    request came over HTTPS, as aiohttp sees its scheme)."""
    setting = request.app[SETTINGS].auth.cookie_secure
    return request.secure if setting == "auto" else setting == "true"


__all__ = ["ANY", "CSRF_HEADER", "IDENTITY", "SESSION_COOKIE", "Identity", "authenticate_operator"]
