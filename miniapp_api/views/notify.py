"""WeChat Pay notifications (支付结果通知, 退款结果通知), API v2 and v3.

WeChat Pay calls these; no member token, the signature is the authentication. Each handler reads
the raw body under a cap, verifies it (``wechat.pay_v2`` / ``wechat.pay_v3``), converts the result
into the service's own notice and applies it exactly once (``services.orders.payments``). Then:

- applied or duplicate (a retry, or the same notification delivered twice): acknowledged, so
  WeChat stops retrying;
- a double payment (a second transaction for an order already paid): recorded and
  acknowledged, then — after its transaction — refunded through WeChat Pay, or left to an
  operator (``[wechat_pay] double_payment``; ``services.orders.double_payments``). A redelivery
  of it asks for a refund that failed again;
- a refund we never requested, of a known order (a double payment's, or one made in the merchant
  platform): applied (``services.orders.merchant_refunds``), or — when its amount does not add
  up — acknowledged with an alert to the operators, nothing changed;
- authentic but not a success (v2 ``result_code`` FAIL, v3 trade state other than SUCCESS):
  acknowledged too — nothing was paid, so nothing changes and a retry would change nothing;
- anything else (a signature, key, serial, tag, merchant, order, amount, currency or payer that
  does not verify or match, unsafe XML, an oversize body, or our own failure): refused, nothing
  changed, and WeChat retries later (for about 24 hours; the reconciliation job queries WeChat
  Pay for orders still unpaid, so a payment is not lost if every retry fails).

Replies are WeChat's: v2 ``<xml><return_code>SUCCESS</return_code>…`` or ``FAIL`` (with a 4xx/5xx
status naming the kind of refusal); v3 an empty 204, or 4xx/5xx with ``{"code": "FAIL",
"message": …}``. Every outcome is logged with its reason and counted in
``queue_rebate_pay_notifications_total{kind, result, reason}`` (``runtime.metrics``).

These routes cap their own bodies (``body_cap=False``: the app's ``body_cap`` middleware, whose
413 is JSON, leaves them alone): a body over the smaller of 64 KiB and ``[server]
max_body_bytes`` is refused here in WeChat's format (413), before a byte is read when its
``Content-Length`` says so, else as soon as the chunks pass the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from rebate.errors import RebateError
from runtime import metrics
from services.clock import utcnow
from services.orders.double_payments import refund_double_payment
from services.orders.payments import PaidNotice, UnknownOrder, apply_payment, apply_refund
from services.orders.payments import RefundNotice as ServiceRefundNotice
from services.orders.reconciliation import currency_of
from web.keys import SETTINGS, WECHAT
from web.registry import Registry, Reply
from wechat import pay_results, pay_v2, pay_v3
from wechat.errors import NotificationRejected, OversizeBody
from wechat.gateway import V3Pay

log = logging.getLogger(__name__)

routes = Registry()

MAX_NOTIFICATION_BYTES = 64 * 1024  # WeChat's notifications are a few hundred bytes

# The HTTP status of a refusal, by reason (WeChat retries whatever the status).
REFUSAL_STATUS = {
    "missing_headers": 401,
    "bad_signature": 401,
    "unknown_serial": 401,
    "stale_timestamp": 401,
    "oversize": 413,
    "unknown_order": 404,
    "not_configured": 503,
    "error": 500,
}
REFUSAL_MESSAGE = {
    "missing_headers": "缺少微信支付签名头",
    "bad_signature": "签名错误",
    "unknown_serial": "未知的平台证书序列号",
    "stale_timestamp": "通知时间戳过期",
    "bad_tag": "解密失败",
    "bad_ciphertext": "解密失败",
    "oversize": "通知内容过大",
    "malformed": "通知格式错误",
    "forbidden_xml": "通知格式错误",
    "wrong_merchant": "商户号或应用号不符",
    "return_fail": "通信失败",
    "unknown_order": "订单不存在",
    "mismatch": "通知与订单不符",
    "not_configured": "未配置该版本的微信支付",
    "error": "系统繁忙，请稍后重试",
}

XML_REPLY = Reply(
    "已受理（或为重复通知）：<xml><return_code>SUCCESS</return_code>…</xml>",
    {"type": "string"},
    content_type="text/xml",
)
V2_BODY = {"type": "string", "description": "微信支付 v2 通知 XML（签名 MD5 或 HMAC-SHA256）"}
FAIL_SCHEMA = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string", "enum": ["FAIL"]}, "message": {"type": "string"}},
}


def _v2_responses(what: str) -> dict[int, Reply]:
    def fail(description: str) -> Reply:
        return Reply(
            f"{description}：return_code FAIL，微信稍后重试", {"type": "string"}, "text/xml"
        )

    return {
        200: XML_REPLY,
        400: fail(f"验证失败或与{what}不符"),
        401: fail("签名错误"),
        404: fail(f"{what}不存在"),
        413: fail("通知内容过大"),
        500: fail("系统错误"),
        503: fail("未配置微信支付 v2"),
    }


def _v3_responses(what: str) -> dict[int, Reply]:
    return {
        204: Reply("已受理（或为重复通知）"),
        400: Reply(f"解密失败或与{what}不符，微信稍后重试", FAIL_SCHEMA),
        401: Reply("签名、平台证书序列号或时间戳验证失败", FAIL_SCHEMA),
        404: Reply(f"{what}不存在", FAIL_SCHEMA),
        413: Reply("通知内容过大", FAIL_SCHEMA),
        500: Reply("系统错误，微信稍后重试", FAIL_SCHEMA),
        503: Reply("未配置微信支付 v3", FAIL_SCHEMA),
    }


V3_DESCRIPTION = (
    "Headers Wechatpay-Signature / -Timestamp / -Nonce / -Serial are verified (RSA-SHA256 over "
    '"{timestamp}\\n{nonce}\\n{body}\\n" with the platform key named by the serial); the JSON '
    "envelope's resource is decrypted with AES-256-GCM and the APIv3 key."
)


class NotConfigured(Exception):
    """This API version of WeChat Pay is not configured on this server."""


@dataclass(frozen=True)
class Verdict:
    """What we tell WeChat: acknowledged (it stops retrying) or refused (it retries)."""

    outcome: str  # the metric label: applied, duplicate, failed, result_fail, or a refusal reason
    acknowledged: bool
    status: int = 200
    message: str = "OK"


Process = Callable[[web.Request, bytes], Awaitable[str]]


async def read_capped(request: web.Request) -> bytes:
    """The raw body, refused beyond the smaller of our cap and the app's body cap: unread when
    its declared length is over, else once the chunks read are."""
    limit = min(MAX_NOTIFICATION_BYTES, request.app[SETTINGS].server.max_body_bytes)
    if request.content_length is not None and request.content_length > limit:
        raise OversizeBody(f"Content-Length {request.content_length} > {limit}")
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise OversizeBody(f"more than {limit} bytes")
    return bytes(body)


async def judge(request: web.Request, kind: str, process: Process) -> Verdict:
    """Read, verify and apply one notification; log and count the outcome."""
    try:
        outcome = await process(request, await read_capped(request))
    except NotificationRejected as exc:
        if exc.authentic:  # genuinely from WeChat, not a success: nothing to do, stop retrying
            verdict = Verdict(exc.reason, acknowledged=True)
        else:
            verdict = _refusal(exc.reason)
        detail = exc.detail
    except UnknownOrder as exc:
        verdict, detail = _refusal("unknown_order"), str(exc)
    except RebateError as exc:  # NoticeMismatch, or the order refused the payment
        verdict, detail = _refusal("mismatch"), str(exc)
    except NotConfigured as exc:
        verdict, detail = _refusal("not_configured"), str(exc)
    except Exception:
        log.exception("%s notification: failed while applying it", kind)
        verdict, detail = _refusal("error"), "see traceback"
    else:
        verdict, detail = Verdict(outcome, acknowledged=True), ""
    metrics.count_notification(kind, verdict.outcome, acknowledged=verdict.acknowledged)
    if verdict.outcome == "applied":  # the service logged what it applied, with its ids
        log.debug("%s notification applied", kind)
    elif verdict.acknowledged:
        log.info("%s notification acknowledged: %s %s", kind, verdict.outcome, detail)
    else:
        log.warning("%s notification refused: %s (%s)", kind, verdict.outcome, detail)
    return verdict


def _refusal(reason: str) -> Verdict:
    return Verdict(
        reason,
        acknowledged=False,
        status=REFUSAL_STATUS.get(reason, 400),
        message=REFUSAL_MESSAGE.get(reason, "通知验证失败"),
    )


def v2_reply(verdict: Verdict) -> web.Response:
    text = pay_v2.success_reply() if verdict.acknowledged else pay_v2.fail_reply(verdict.message)
    return web.Response(
        status=verdict.status, text=text, content_type="text/xml", headers=_closing(verdict)
    )


def v3_reply(verdict: Verdict) -> web.Response:
    if verdict.acknowledged:
        return web.Response(status=204)
    return web.json_response(
        pay_v3.fail_reply(verdict.message), status=verdict.status, headers=_closing(verdict)
    )


def _closing(verdict: Verdict) -> dict[str, str] | None:
    """An oversize body may still be arriving: the connection is not reused."""
    return {"Connection": "close"} if verdict.outcome == "oversize" else None


# --- the conversions to the service's notices -------------------------------------------------


def paid_notice(notice: pay_results.PaymentNotice, api_version: str) -> PaidNotice:
    """A verified payment notification as ``services.orders.payments`` takes it. The amount is the
    order total WeChat charged (``total_fee`` / ``amount.total``), which must equal the order's."""
    return PaidNotice(
        api_version=api_version,
        appid=notice.appid,
        mchid=notice.mchid,
        out_trade_no=notice.out_trade_no,
        transaction_id=notice.transaction_id,
        amount_fen=notice.total_fen,
        currency=currency_of(notice.raw),
        payer_openid=notice.openid,
        success=True,  # verify_* raised PaymentNotSuccessful otherwise
        raw=dict(notice.raw),
    )


def refund_notice(notice: pay_results.RefundNotice, api_version: str) -> ServiceRefundNotice:
    """A verified refund notification; only SUCCESS refunds (CLOSED and ABNORMAL fail it)."""
    return ServiceRefundNotice(
        api_version=api_version,
        mchid=notice.mchid,
        out_trade_no=notice.out_trade_no,
        out_refund_no=notice.out_refund_no,
        refund_id=notice.refund_id,
        refund_fen=notice.refund_fen,
        success=notice.status == "SUCCESS",
        raw=dict(notice.raw),
        transaction_id=notice.transaction_id,
    )


async def take_payment(request: web.Request, notice: PaidNotice, appid: str, mchid: str) -> str:
    """Apply a verified payment; a double payment (or a redelivery of one) is then refunded, if
    that is due, once its transaction has committed. The refund's failure changes no answer: the
    double payment is recorded, and the ``double-payment-refunds`` job asks again."""
    settings = request.app[SETTINGS]
    outcome = await apply_payment(
        notice, appid=appid, mchid=mchid, now=utcnow(),
        double_payment=settings.wechat_pay.double_payment,
    )  # fmt: skip
    if outcome in ("double_payment", "duplicate"):
        try:
            pay = request.app[WECHAT].pay
            await refund_double_payment(notice.transaction_id, pay=pay, now=utcnow())
        except Exception:
            log.exception("double payment %s: refund not asked", notice.transaction_id)
    return outcome


# --- v2 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _V2Keys:
    appid: str
    mchid: str
    api_key: str


def _v2_keys(request: web.Request) -> _V2Keys:
    """v2 notifications are verified with the API key whichever version creates orders (orders
    paid before a switch to v3 are still notified in v2)."""
    settings = request.app[SETTINGS]
    pay = settings.wechat_pay
    if not (pay.mchid and pay.api_key and settings.wechat.appid):
        raise NotConfigured("[wechat_pay] mchid / api_key or [wechat] appid missing")
    return _V2Keys(settings.wechat.appid, pay.mchid, pay.api_key)


async def _apply_v2_payment(request: web.Request, body: bytes) -> str:
    keys = _v2_keys(request)
    notice = pay_v2.verify_payment_notification(
        body, keys.api_key, keys.appid, keys.mchid, max_bytes=MAX_NOTIFICATION_BYTES
    )
    return await take_payment(request, paid_notice(notice, "v2"), keys.appid, keys.mchid)


async def _apply_v2_refund(request: web.Request, body: bytes) -> str:
    keys = _v2_keys(request)
    notice = pay_v2.verify_refund_notification(
        body, keys.api_key, keys.appid, keys.mchid, max_bytes=MAX_NOTIFICATION_BYTES
    )
    return await apply_refund(refund_notice(notice, "v2"), mchid=keys.mchid, now=utcnow())


@routes.post(
    "/api/pay/notify/v2",
    summary="微信支付 v2 支付结果通知",
    description="Called by WeChat Pay (notify_url of unifiedorder). The XML is parsed without "
    "DTDs or entities; sign (MD5 or HMAC-SHA256), return_code, result_code, appid, mch_id, "
    "out_trade_no, total_fee, fee_type and openid are checked before the order is paid, once.",
    tags=("wechat-pay",),
    body_cap=False,
    body=V2_BODY,
    body_content_type="text/xml",
    responses=_v2_responses("订单"),
)
async def pay_notify_v2(request: web.Request) -> web.Response:
    return v2_reply(await judge(request, "v2.payment", _apply_v2_payment))


@routes.post(
    "/api/pay/notify/v2/refund",
    summary="微信支付 v2 退款结果通知",
    description="Called by WeChat Pay after a refund. req_info is decrypted (AES-256-ECB, key = "
    "MD5 of the API key); a successful refund applies SPEC §4's refund rule once.",
    tags=("wechat-pay",),
    body_cap=False,
    body=V2_BODY,
    body_content_type="text/xml",
    responses=_v2_responses("退款单"),
)
async def refund_notify_v2(request: web.Request) -> web.Response:
    return v2_reply(await judge(request, "v2.refund", _apply_v2_refund))


# --- v3 -------------------------------------------------------------------------------------


def _v3_pay(request: web.Request) -> V3Pay:
    pay = request.app[WECHAT].pay
    if not isinstance(pay, V3Pay):
        raise NotConfigured("[wechat_pay] api_version is not v3")
    return pay


async def _apply_v3_payment(request: web.Request, body: bytes) -> str:
    pay = _v3_pay(request)
    notice = pay_v3.verify_payment_notification(
        request.headers, body, pay.merchant, pay.platform_keys, max_bytes=MAX_NOTIFICATION_BYTES
    )
    return await take_payment(request, paid_notice(notice, "v3"), pay.appid, pay.mchid)


async def _apply_v3_refund(request: web.Request, body: bytes) -> str:
    pay = _v3_pay(request)
    notice = pay_v3.verify_refund_notification(
        request.headers, body, pay.merchant, pay.platform_keys, max_bytes=MAX_NOTIFICATION_BYTES
    )
    return await apply_refund(refund_notice(notice, "v3"), mchid=pay.mchid, now=utcnow())


@routes.post(
    "/api/pay/notify/v3",
    summary="微信支付 v3 支付结果通知",
    description=f"Called by WeChat Pay (notify_url of the JSAPI order). {V3_DESCRIPTION} "
    "appid, mchid, out_trade_no, amount.total, amount.currency and payer.openid must match.",
    tags=("wechat-pay",),
    body_cap=False,
    responses=_v3_responses("订单"),
)
async def pay_notify_v3(request: web.Request) -> web.Response:
    return v3_reply(await judge(request, "v3.payment", _apply_v3_payment))


@routes.post(
    "/api/pay/notify/v3/refund",
    summary="微信支付 v3 退款结果通知",
    description=f"Called by WeChat Pay after a refund. {V3_DESCRIPTION} A REFUND.SUCCESS "
    "applies SPEC §4's refund rule once; CLOSED and ABNORMAL mark the refund failed.",
    tags=("wechat-pay",),
    body_cap=False,
    responses=_v3_responses("退款单"),
)
async def refund_notify_v3(request: web.Request) -> web.Response:
    return v3_reply(await judge(request, "v3.refund", _apply_v3_refund))
