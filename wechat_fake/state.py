"""What the fake WeChat knows and what it has seen. Tests arrange it and assert on it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from wechat.pay_results import CHINA_TZ
from wechat_fake.notify import new_transaction_id


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class CodeGrant:
    """What a wx.login code stands for."""

    openid: str
    session_key: str
    unionid: str | None = None


@dataclass
class FakeOrder:
    out_trade_no: str
    api: str  # "v2" or "v3"
    total: int
    openid: str
    notify_url: str
    prepay_id: str
    description: str = ""
    attach: str = ""
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    paid_at: datetime | None = None
    refunded: int = 0


@dataclass
class FakeRefund:
    out_refund_no: str
    out_trade_no: str
    refund_id: str
    refund: int
    notify_url: str
    transaction_id: str = ""  # the payment refunded


@dataclass
class SecondPayment:
    """Another transaction for an order already paid (the member paid twice)."""

    transaction_id: str
    out_trade_no: str
    total: int
    refunded: int = 0


@dataclass(frozen=True)
class Delivery:
    """One notification the fake sent, and how the merchant answered."""

    url: str
    kind: str
    status: int
    body: bytes


@dataclass
class FakeWeChatState:
    """Accounts, keys and behaviour switches of the fake, plus everything it recorded.

    Switches: ``code_errcodes`` (login code → errcode, e.g. 45011, 40226, -1),
    ``subscribe_errcodes`` (openid → errcode, e.g. 43101, -1), ``wxacode_errcode``,
    ``refuse_refunds`` (an err_code / code every refund request is refused with, e.g. NOT_ENOUGH);
    ``accept_any_code`` turns every unknown login code into a stable test user (demo).
    """

    appid: str
    secret: str
    mch_id: str
    api_key: str
    apiv3_key: bytes
    merchant_public_key: RSAPublicKey
    merchant_serial: str
    platform_private_key: RSAPrivateKey
    platform_serial: str
    max_skew: int = 300
    accept_any_code: bool = False
    codes: dict[str, CodeGrant] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    code_errcodes: dict[str, int] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    stable_token: str | None = None
    token_expires_in: int = 7200
    wxacode_errcode: int | None = None
    refuse_refunds: str = ""
    subscribe_errcodes: dict[str, int] = field(default_factory=dict)
    sent_messages: list[dict[str, object]] = field(default_factory=list)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    refunds: dict[str, FakeRefund] = field(default_factory=dict)
    second_payments: dict[str, SecondPayment] = field(default_factory=dict)  # by transaction_id
    calls: list[RecordedCall] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    platform_certificates: list[bytes] = field(default_factory=list)  # PEMs /v3/certificates lists

    @property
    def platform_keys(self) -> dict[str, RSAPublicKey]:
        """What a merchant holds to verify this fake: ``{platform_serial: public key}``."""
        return {self.platform_serial: self.platform_private_key.public_key()}

    def register_code(
        self, code: str, openid: str, *, unionid: str | None = None, session_key: str = ""
    ) -> CodeGrant:
        grant = CodeGrant(openid, session_key or secrets.token_urlsafe(16), unionid)
        self.codes[code] = grant
        return grant

    def issue_access_token(self) -> str:
        token = "ACCESS_TOKEN_" + secrets.token_hex(24)
        self.access_tokens.add(token)
        return token

    def calls_to(self, path: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.path == path]

    def mark_paid(self, out_trade_no: str) -> FakeOrder:
        """The member paid: the order becomes SUCCESS with a transaction id."""
        order = self.orders[out_trade_no]
        if order.trade_state != "SUCCESS":
            order.trade_state = "SUCCESS"
            order.transaction_id = new_transaction_id()
            order.paid_at = datetime.now(CHINA_TZ).replace(microsecond=0)
        return order

    def pay_again(self, out_trade_no: str) -> SecondPayment:
        """The member paid the already paid order once more: another transaction."""
        order = self.orders[out_trade_no]
        payment = SecondPayment(new_transaction_id(), out_trade_no, order.total)
        self.second_payments[payment.transaction_id] = payment
        return payment


STATE_KEY = web.AppKey("fake_wechat_state", FakeWeChatState)
