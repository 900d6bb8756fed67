"""The WeChat clients of ``wechat.client``, built once from the settings.

- ``WeChatGateway.mini``: code2session and the mini-program server API (``[wechat]``).
- ``WeChatGateway.tokens``: the mini-program's access token (``wechat.tokens``: the stable
  token, cached in Redis or in the process until five minutes before it expires).
- ``WeChatGateway.pay``: a ``PayGateway`` for ``[wechat_pay] api_version`` ("v2": unifiedorder,
  HMAC-SHA256-signed XML; "v3": JSAPI, RSA-SHA256), or ``None`` when payment is not configured
  (no mchid): orders can then be created but not paid.
- ``WeChatGateway.transfers``: the one 商家转账 client of the merchant account (merchant
  statements and withdrawals alike; each bill names its own scene, ``wechat.transfer``).
  商家转账 is an APIv3 call, so it is built with the v3 credentials of ``[wechat_pay]`` whatever
  ``api_version`` the payments use (mchid, apiv3_key, the merchant private key and its serial,
  the platform certificate or public key), against the same ``api_base_url``. ``None`` when
  there is no mchid, or when payments are v2 and the v3 key files are not configured.

Keys and certificates are read from the files named in the settings when the app starts, never
at import time.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
from cryptography import x509

from runtime.cache import BytesCache
from runtime.config import Settings
from wechat import pay_v2, pay_v3
from wechat.client import MiniProgramClient, PayV2Client, PayV3Client
from wechat.pay_results import OrderStatus, RefundReceipt
from wechat.tokens import AccessTokens, stable_tokens, with_token
from wechat.transfer import MerchantTransferClient

log = logging.getLogger(__name__)


class PayConfigError(ValueError):
    """``[wechat_pay]`` names a key file that is missing or unusable."""


class PayGateway(Protocol):
    """One WeChat Pay API version behind the calls the member API makes (its ``refund`` is
    what ``services.orders.refunds.RefundGateway`` asks for)."""

    @property
    def api_version(self) -> str: ...

    @property
    def appid(self) -> str: ...

    @property
    def mchid(self) -> str: ...

    async def prepay(
        self, *, out_trade_no: str, total_fen: int, openid: str, description: str, client_ip: str
    ) -> dict[str, str]:
        """Open the payment and return the signed ``wx.requestPayment`` parameters."""
        ...

    async def query(self, out_trade_no: str) -> OrderStatus: ...

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fen: int,
        refund_fen: int,
        reason: str | None,
        transaction_id: str | None = None,
    ) -> RefundReceipt: ...


@dataclass
class V2Pay:
    client: PayV2Client
    merchant: pay_v2.MerchantV2
    notify_url: str
    refund_notify_url: str | None
    api_version: str = "v2"

    @property
    def appid(self) -> str:
        return self.merchant.appid

    @property
    def mchid(self) -> str:
        return self.merchant.mch_id

    async def prepay(
        self, *, out_trade_no: str, total_fen: int, openid: str, description: str, client_ip: str
    ) -> dict[str, str]:
        prepay_id = await self.client.unified_order(
            body=description,
            out_trade_no=out_trade_no,
            total_fee=total_fen,
            openid=openid,
            notify_url=self.notify_url,
            spbill_create_ip=client_ip,
        )
        return pay_v2.jsapi_params(self.merchant, prepay_id)

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fen: int,
        refund_fen: int,
        reason: str | None,
        transaction_id: str | None = None,
    ) -> RefundReceipt:
        return await self.client.refund(
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            total_fee=total_fen,
            refund_fee=refund_fen,
            refund_desc=reason,
            notify_url=self.refund_notify_url,
            transaction_id=transaction_id,
        )

    async def query(self, out_trade_no: str) -> OrderStatus:
        return await self.client.query_order(out_trade_no)


@dataclass
class V3Pay:
    client: PayV3Client
    merchant: pay_v3.MerchantV3
    platform_keys: pay_v3.PlatformKeys
    notify_url: str
    refund_notify_url: str | None
    api_version: str = "v3"

    @property
    def appid(self) -> str:
        return self.merchant.appid

    @property
    def mchid(self) -> str:
        return self.merchant.mchid

    async def prepay(
        self, *, out_trade_no: str, total_fen: int, openid: str, description: str, client_ip: str
    ) -> dict[str, str]:
        prepay_id = await self.client.jsapi_prepay(
            description=description,
            out_trade_no=out_trade_no,
            notify_url=self.notify_url,
            total_fen=total_fen,
            openid=openid,
        )
        return pay_v3.jsapi_params(self.merchant, prepay_id)

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fen: int,
        refund_fen: int,
        reason: str | None,
        transaction_id: str | None = None,
    ) -> RefundReceipt:
        return await self.client.refund(
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            total_fen=total_fen,
            refund_fen=refund_fen,
            reason=reason,
            notify_url=self.refund_notify_url,
            transaction_id=transaction_id,
        )

    async def query(self, out_trade_no: str) -> OrderStatus:
        return await self.client.query_order(out_trade_no)


class WeChatGateway:
    def __init__(
        self,
        mini: MiniProgramClient,
        pay: PayGateway | None,
        tokens: AccessTokens,
        *,
        transfers: MerchantTransferClient | None = None,
    ) -> None:
        self.mini = mini
        self.pay = pay
        self.tokens = tokens
        self.transfers = transfers

    async def unlimited_wxacode(
        self, *, scene: str, page: str, check_path: bool, env_version: str
    ) -> bytes:
        """The PNG of a mini-program code; a rejected access token is refreshed once."""
        return await with_token(
            self.tokens,
            lambda token: self.mini.get_unlimited_wxacode(
                token, scene=scene, page=page, check_path=check_path, env_version=env_version
            ),
        )


def build_gateway(
    settings: Settings,
    session: aiohttp.ClientSession,
    token_cache: BytesCache,
    *,
    timeout: float,
    refund_notify_url: str | None = None,
) -> WeChatGateway:
    wx = settings.wechat
    mini = MiniProgramClient(
        session,
        appid=wx.appid,
        secret=wx.app_secret,
        api_base_url=wx.api_base_url,
        timeout=timeout,
    )
    pay = build_pay(settings, session, timeout=timeout, refund_notify_url=refund_notify_url)
    return WeChatGateway(
        mini,
        pay,
        stable_tokens(mini, token_cache),
        transfers=build_transfers(settings, session, pay, timeout=timeout),
    )


def build_pay(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    timeout: float,
    refund_notify_url: str | None = None,
) -> PayGateway | None:
    pay = settings.wechat_pay
    if not pay.mchid:
        log.warning("[wechat_pay] mchid is empty: orders cannot be paid")
        return None
    appid = settings.wechat.appid
    if pay.api_version == "v2":
        merchant2 = pay_v2.MerchantV2(
            appid=appid, mch_id=pay.mchid, api_key=pay.api_key, sign_type=pay_v2.HMAC_SHA256
        )
        client2 = PayV2Client(
            session,
            merchant2,
            pay_api_base_url=pay.api_base_url,
            timeout=timeout,
            cert_ssl=refund_tls(pay.v2_cert_path, pay.private_key_path),
        )
        return V2Pay(client2, merchant2, pay.notify_url, refund_notify_url)
    merchant3, platform_keys = v3_credentials(settings)
    client3 = PayV3Client(
        session, merchant3, platform_keys, pay_api_base_url=pay.api_base_url, timeout=timeout
    )
    return V3Pay(client3, merchant3, platform_keys, pay.notify_url, refund_notify_url)


def v3_credentials(settings: Settings) -> tuple[pay_v3.MerchantV3, pay_v3.PlatformKeys]:
    """The merchant's APIv3 identity and the platform keys, read from ``[wechat_pay]``'s files
    (``PayConfigError`` when one is missing or unusable)."""
    pay = settings.wechat_pay
    private_key = pay_v3.load_private_key(_read(pay.private_key_path, "private_key_path"))
    try:
        merchant = pay_v3.MerchantV3(
            appid=settings.wechat.appid,
            mchid=pay.mchid,
            serial_no=pay.cert_serial_no,
            private_key=private_key,
            apiv3_key=pay.apiv3_key.encode("utf-8"),
        )
    except ValueError as exc:
        raise PayConfigError(f"[wechat_pay] apiv3_key: {exc}") from None
    return merchant, load_platform_keys(pay.platform_cert_path, pay.platform_public_key_id)


def build_transfers(
    settings: Settings,
    session: aiohttp.ClientSession,
    pay: PayGateway | None,
    *,
    timeout: float,
) -> MerchantTransferClient | None:
    """The 商家转账 client (APIv3 whatever ``api_version`` payments use): with v3 payments it
    shares their credentials; with v2 it reads the v3 key files when both are configured.
    ``None`` without a mchid or, under v2, without those files (logged)."""
    conf = settings.wechat_pay
    if not conf.mchid:
        return None  # build_pay has said so
    if isinstance(pay, V3Pay):
        merchant, platform_keys = pay.merchant, pay.platform_keys
    elif not (conf.private_key_path and conf.platform_cert_path):
        log.warning(
            "[wechat_pay] api_version v2 without the APIv3 key files (private_key_path,"
            " platform_cert_path): 商家转账 (merchant payouts, withdrawals) is unavailable"
        )
        return None
    else:
        merchant, platform_keys = v3_credentials(settings)
    return MerchantTransferClient(
        session, merchant, platform_keys, pay_api_base_url=conf.api_base_url, timeout=timeout
    )


def refund_tls(cert_path: str, key_path: str) -> ssl.SSLContext | None:
    """APIv2 refunds authenticate the merchant by TLS client certificate (apiclient_cert.pem with
    its key apiclient_key.pem); without a certificate configured, refunds are refused by WeChat."""
    if not cert_path:
        log.warning("[wechat_pay] v2_cert_path is empty: APIv2 refunds will be refused by WeChat")
        return None
    context = ssl.create_default_context()
    try:
        context.load_cert_chain(cert_path, key_path or None)
    except (OSError, ssl.SSLError) as exc:
        raise PayConfigError(f"[wechat_pay] v2_cert_path: cannot load {cert_path}: {exc}") from None
    return context


PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def load_platform_keys(path: str, public_key_id: str) -> pay_v3.PlatformKeys:
    """``{serial or PUB_KEY_ID: key}`` from the PEM file at ``path``: each platform
    ``CERTIFICATE`` under its own serial, a WeChat Pay ``PUBLIC KEY`` under
    ``platform_public_key_id``. One file may hold several — an old and a new platform
    certificate, or certificates and the public key while WeChat Pay moves a merchant from
    平台证书 to 微信支付公钥 — and a message is verified with the key its ``Wechatpay-Serial``
    names (docs/deploy.md, "Certificates and keys")."""
    pem = _read(path, "platform_cert_path")
    keys: dict[str, pay_v3.RSAPublicKey] = {}
    for block in [m.group(0) for m in PEM_BLOCK.finditer(pem)] or [pem]:
        if b"CERTIFICATE" in block:
            serial = format(x509.load_pem_x509_certificate(block).serial_number, "X")
            keys[serial] = pay_v3.load_public_key(block)
        elif not public_key_id:
            raise PayConfigError(
                "[wechat_pay] platform_public_key_id is required with a public key"
            )
        elif public_key_id in keys:
            raise PayConfigError("[wechat_pay] platform_cert_path: more than one public key")
        else:
            keys[public_key_id] = pay_v3.load_public_key(block)
    return keys


def _read(path: str, key: str) -> bytes:
    if not path:
        raise PayConfigError(f"[wechat_pay] {key} is required for api_version v3")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PayConfigError(f"[wechat_pay] {key}: cannot read {path}: {exc.strerror}") from None
