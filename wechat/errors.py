"""Every way a WeChat exchange can fail, as one exception family per direction.

Inbound (WeChat calls us): a notification we refuse raises a ``NotificationRejected`` subclass
whose ``reason`` is a short stable code for logs and metrics. The HTTP layer catches the base
class, logs ``reason``, and replies FAIL (v2) or 4xx (v3) so WeChat retries. ``authentic`` tells
it whether the message was genuinely from WeChat (signature verified) but not a success: such a
notification may be acknowledged, since retrying it changes nothing.

Outbound (we call WeChat): ``WeChatError`` and its subclasses. Each error code a caller must
handle differently has its own class; anything else is a plain ``WeChatApiError``.
"""

from __future__ import annotations

from typing import ClassVar

# --- inbound: notifications we refuse -------------------------------------------------------


class NotificationRejected(Exception):
    """A notification that must not be acted upon. ``reason`` names why."""

    reason: ClassVar[str] = "rejected"
    authentic: ClassVar[bool] = False

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)
        self.detail = detail


class OversizeBody(NotificationRejected):
    reason = "oversize"


class MalformedBody(NotificationRejected):
    reason = "malformed"


class ForbiddenXml(NotificationRejected):
    """The XML carried a DTD, an entity declaration or an external reference."""

    reason = "forbidden_xml"


class MissingHeaders(NotificationRejected):
    reason = "missing_headers"


class BadSignature(NotificationRejected):
    reason = "bad_signature"


class UnknownSerial(NotificationRejected):
    """Signed with a platform certificate serial we do not hold."""

    reason = "unknown_serial"


class StaleTimestamp(NotificationRejected):
    """Correctly signed, but its timestamp is outside the allowed clock skew (a replay)."""

    reason = "stale_timestamp"


class BadTag(NotificationRejected):
    """AES-GCM authentication failed: wrong APIv3 key or a tampered resource."""

    reason = "bad_tag"


class BadCiphertext(NotificationRejected):
    """The v2 refund ``req_info`` did not decrypt (bad base64, length or padding)."""

    reason = "bad_ciphertext"


class WrongMerchant(NotificationRejected):
    """Authentic for some merchant, but not addressed to our appid / mchid."""

    reason = "wrong_merchant"


class ReturnCodeFail(NotificationRejected):
    """v2 ``return_code`` is not SUCCESS: a communication failure, carrying no payment."""

    reason = "return_fail"


class PaymentNotSuccessful(NotificationRejected):
    """Authentic notification whose business result is not a success (v2 ``result_code``
    FAIL, v3 event or trade state other than SUCCESS). Nothing was paid."""

    reason = "result_fail"
    authentic = True


# --- outbound: calls we make ----------------------------------------------------------------


class WeChatError(Exception):
    """Base of every failure of a call to WeChat."""


class WeChatUnreachable(WeChatError):
    """Timeout, connection failure or a 5xx without a usable body. Outcome unknown: for
    payments, query the same out_trade_no / out_refund_no before doing anything new."""


class ResponseSignatureInvalid(WeChatError):
    """A pay API answer failed signature verification; its content must not be trusted."""


class WeChatApiError(WeChatError):
    """WeChat answered with a non-zero ``errcode``."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class InvalidCode(WeChatApiError):
    """40029 (invalid or expired) or 40163 (already used): get a fresh code from wx.login."""


class RateLimited(WeChatApiError):
    """45011: too many calls; back off."""


class HighRiskUser(WeChatApiError):
    """40226: WeChat refuses to log this user in (high-risk account)."""


class WeChatBusy(WeChatApiError):
    """-1: system busy; retry later."""


class AccessTokenInvalid(WeChatApiError):
    """40001 / 40014 / 42001: the access token is invalid or expired; refresh and retry."""


class SubscriptionExhausted(WeChatApiError):
    """43101: the user has no subscription consent left for this template."""


class PayV2Error(WeChatError):
    """A v2 pay call failed: ``return_code`` FAIL (request rejected) or ``result_code`` FAIL
    (business error, ``err_code`` says which, e.g. ORDERNOTEXIST, ORDERPAID)."""

    def __init__(
        self,
        return_code: str,
        return_msg: str = "",
        result_code: str = "",
        err_code: str = "",
        err_code_des: str = "",
    ) -> None:
        super().__init__(
            f"return_code={return_code} return_msg={return_msg!r} "
            f"result_code={result_code} err_code={err_code} err_code_des={err_code_des!r}"
        )
        self.return_code = return_code
        self.return_msg = return_msg
        self.result_code = result_code
        self.err_code = err_code
        self.err_code_des = err_code_des


class PayV3Error(WeChatError):
    """A v3 pay call answered 4xx/5xx with ``{"code": ..., "message": ...}``."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
