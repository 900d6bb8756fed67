"""Every refusal as JSON: ``{"code": "...", "message": "<Chinese>", "field": ...}``.

``code`` is stable (clients branch on it), ``message`` is for the member to read, ``field``
names the offending input when there is one. Domain errors (``rebate.errors`` /
``services.errors``) map to precise 4xx by their code; WeChat failures map to 4xx/5xx the
mini-program can act on; anything else is a 500 with a generic message and a logged traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from rebate.errors import RebateError
from wechat.errors import (
    HighRiskUser,
    InvalidCode,
    PayV2Error,
    PayV3Error,
    RateLimited,
    ResponseSignatureInvalid,
    WeChatApiError,
    WeChatBusy,
    WeChatError,
    WeChatUnreachable,
)


class ApiError(Exception):
    """A refusal the API answers with ``status`` and the JSON body above."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field, **self.extra}


# Domain error code → HTTP status. ``not_allowed`` is a rule refusing the request in the
# resource's current state (confirming an unpaid order, mixing stores in one order): 409.
DOMAIN_STATUS: Mapping[str, int] = {
    "not_found": 404,
    "invalid_amount": 400,
    "invalid_ratio": 400,
    "invalid_setting": 400,
    "not_allowed": 409,
    "already_settled": 409,
    "conflict": 409,
}


def from_domain(exc: RebateError) -> ApiError:
    """Unknown domain codes are still refusals of the rules, not server faults: 400."""
    return ApiError(DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.message, field=exc.field)


def from_wechat(exc: WeChatError) -> ApiError:
    """WeChat failures as a member should see them. Login errors (40029, 45011, 40226, -1)
    have their own codes; the rest say the service is unavailable for now."""
    if isinstance(exc, InvalidCode):
        return ApiError(400, "invalid_login_code", "登录凭证无效或已使用，请重新登录", field="code")
    if isinstance(exc, RateLimited):
        return ApiError(
            429,
            "wechat_rate_limited",
            "微信接口调用过于频繁，请稍后再试",
            headers={"Retry-After": "60"},
        )
    if isinstance(exc, HighRiskUser):
        return ApiError(403, "wechat_high_risk_user", "该微信账号存在安全风险，暂时无法登录")
    if isinstance(exc, WeChatBusy):
        return ApiError(
            503, "wechat_busy", "微信服务繁忙，请稍后再试", headers={"Retry-After": "5"}
        )
    if isinstance(exc, WeChatUnreachable | ResponseSignatureInvalid):
        return ApiError(
            503,
            "wechat_unavailable",
            "暂时无法连接微信服务，请稍后再试",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, PayV2Error | PayV3Error):
        return ApiError(502, "wechat_pay_error", "微信支付暂时无法处理该请求，请稍后再试")
    if isinstance(exc, WeChatApiError):
        return ApiError(502, "wechat_error", "微信服务返回错误，请稍后再试")
    return ApiError(503, "wechat_unavailable", "暂时无法连接微信服务，请稍后再试")


# aiohttp's own refusals (routing, body size, method) with a Chinese message.
HTTP_MESSAGES: Mapping[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("body_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "请求内容类型不受支持"),
    429: ("rate_limited", "请求过于频繁，请稍后再试"),
}


def from_http(exc: web.HTTPException) -> ApiError:
    code, message = HTTP_MESSAGES.get(exc.status, ("http_error", "请求无法处理"))
    headers = {
        k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")
    }
    return ApiError(exc.status, code, message, headers=headers)


INTERNAL = ApiError(500, "internal_error", "服务器开小差了，请稍后再试")

# Every ``code`` the JSON API can answer, documented as the enum of the OpenAPI document's
# ``Error`` schema. ``tests/api/test_api_validation.py`` finds every code raised in the source
# (``ApiError(status, "code", ...)``, domain errors' ``code = "..."``, the maps above) and fails
# when one is missing here: a new code is added here, with what it means.
ERROR_CODES: Mapping[str, str] = {
    "invalid_field": "a field or parameter breaks its rule (`field` names it)",
    "malformed_json": "the body is empty or not JSON",
    "invalid_amount": "an amount the rules refuse",
    "invalid_ratio": "a ratio the rules refuse",
    "invalid_setting": "a setting the rules refuse",
    "not_found": "no such resource (or not yours)",
    "not_allowed": "the resource's state does not allow it now",
    "already_settled": "already settled",
    "conflict": "conflicts with the current state",
    "rebate_error": "another refusal of the rules",
    "window_exhausted": "the queue's window holds no more",
    "notice_mismatch": "a payment notice that does not match its order",
    "unknown_order": "a payment notice for no order of ours",
    "not_payable": "the order is paid or closed",
    "deduction_unavailable": "points / love value deduction is not open",
    "invalid_idempotency_key": "Idempotency-Key breaks its rule",
    "unauthenticated": "no token",
    "invalid_token": "a token that is not ours",
    "token_expired": "the token has expired",
    "forbidden": "needs an operator's token",
    "permission_denied": "the operator's role lacks the route's permission",
    "csrf_failed": "a cookie-authenticated change without the session's X-CSRF-Token",
    "session_expired": "the operator's session ended (idle or too old)",
    "invalid_credentials": "wrong operator name or password",
    "account_locked": "too many failed logins: the account is locked (see Retry-After)",
    "operator_disabled": "the operator account is disabled",
    "token_revoked": "the operator's API token was revoked",
    "invalid_login_code": "wx.login code invalid or used",
    "login_unavailable": "login is not configured",
    "payment_unavailable": "WeChat Pay is not configured",
    "transfer_unavailable": "商家转账 is not configured",
    "wechat_rate_limited": "WeChat refused: too many calls",
    "wechat_high_risk_user": "WeChat refused a high-risk account",
    "wechat_busy": "WeChat is busy",
    "wechat_unavailable": "WeChat cannot be reached",
    "wechat_pay_error": "WeChat Pay refused the request",
    "wechat_error": "WeChat answered an error",
    "rate_limited": "too many requests (see Retry-After)",
    "bad_request": "a request the server cannot read",
    "method_not_allowed": "method not allowed",
    "body_too_large": "the body is over the limit",
    "unsupported_media_type": "content type not supported",
    "http_error": "another HTTP refusal",
    "internal_error": "a fault of ours (logged)",
}


def json_error(error: ApiError, request_id: str | None = None) -> web.Response:
    headers = dict(error.headers)
    if request_id:
        headers["X-Request-Id"] = request_id
    return web.json_response(error.body(), status=error.status, headers=headers)
