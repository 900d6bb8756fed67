"""Async clients for the few WeChat HTTP endpoints we call, over one shared aiohttp session.

Why aiohttp here and not wechatpy's clients: wechatpy 1.8.18 is synchronous (``requests``).
Called from the aiohttp server it would block the event loop, or need a thread per call
(``asyncio.to_thread``), its own connection pool beside ours, and per-call timeouts bolted on.
Its ``code_to_session`` also fetches an access token the endpoint does not need, and its token
URL is hard-coded. We call eight endpoints; each is a few lines with aiohttp, sharing the
app's one ``ClientSession``, with a configurable base URL so tests and the demo talk to the
local fake (``wechat_fake.server``). wechatpy stays where it makes no HTTP call and fits: it is the
second, independent implementation of the v2 signing rule and XML serialisation that the fake
WeChat uses (``wechat_fake.notify``), and ``wechatpy.utils.check_signature`` /
``WeChatCrypto`` are the intended tools for the official-account message endpoint. Pay v2
verification and refund decryption are our own (``wechat.pay_v2`` says why); pay v3 is not
in any released wechatpy.

Errors: transport failures and timeouts raise ``WeChatUnreachable`` (outcome unknown);
WeChat's error codes raise ``WeChatApiError`` subclasses (``wechat.errors``). The
``session_key`` from code2session, the app secret and access tokens are never logged: only
the method and path of each call are.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from multidict import CIMultiDict
from yarl import URL

from wechat import pay_v2, pay_v3
from wechat.errors import (
    AccessTokenInvalid,
    HighRiskUser,
    InvalidCode,
    NotificationRejected,
    PayV3Error,
    RateLimited,
    ResponseSignatureInvalid,
    SubscriptionExhausted,
    WeChatApiError,
    WeChatBusy,
    WeChatUnreachable,
)
from wechat.pay_results import OrderStatus, RefundReceipt

logger = logging.getLogger(__name__)

API_BASE_URL = "https://api.weixin.qq.com"
PAY_API_BASE_URL = "https://api.mch.weixin.qq.com"
DEFAULT_TIMEOUT = 10.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024

_ERRCODES: dict[int, type[WeChatApiError]] = {
    40029: InvalidCode,
    40163: InvalidCode,  # "code been used"
    45011: RateLimited,
    40226: HighRiskUser,
    -1: WeChatBusy,
    40001: AccessTokenInvalid,
    40014: AccessTokenInvalid,
    42001: AccessTokenInvalid,
    43101: SubscriptionExhausted,
}


@dataclass(frozen=True)
class Answer:
    """Status, headers (case-insensitive) and body of one HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "") or self.body.lstrip()[:1] == b"{"


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    timeout: float,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """One HTTP exchange; every transport failure becomes ``WeChatUnreachable``."""
    logger.debug("wechat call %s %s", method, url.path)
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            ssl=ssl_context if ssl_context is not None else True,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise WeChatUnreachable(f"{url.path}: answer larger than {MAX_ANSWER_BYTES}")
                chunks.append(chunk)
            return Answer(response.status, CIMultiDict(response.headers), b"".join(chunks))
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("wechat call %s %s failed: %r", method, url.path, exc)
        raise WeChatUnreachable(f"{method} {url.path}: {exc!r}") from exc


def _json_object(answer: Answer, what: str) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise WeChatUnreachable(f"{what}: HTTP {answer.status}, not JSON") from None
    if not isinstance(data, dict):
        raise WeChatUnreachable(f"{what}: JSON is not an object")
    return data


def _raise_for_errcode(data: Mapping[str, Any], what: str) -> None:
    errcode = data.get("errcode") or 0
    if errcode:
        errmsg = str(data.get("errmsg", ""))
        logger.info("wechat %s answered errcode %s: %s", what, errcode, errmsg)
        raise _ERRCODES.get(int(errcode), WeChatApiError)(int(errcode), errmsg)


def _base(url: str) -> str:
    return url.rstrip("/")


# --- mini-program server API ----------------------------------------------------------------


@dataclass(frozen=True)
class LoginSession:
    """code2session result. ``session_key`` stays on the server and out of logs."""

    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    expires_in: int


class MiniProgramClient:
    """Login, access token, mini-program codes and subscribe messages."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        appid: str,
        secret: str,
        api_base_url: str = API_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._appid = appid
        self._secret = secret
        self._base = _base(api_base_url)
        self._timeout = timeout

    @property
    def appid(self) -> str:
        return self._appid

    def _url(self, path: str, **query: str) -> URL:
        return URL(self._base + path).with_query(query) if query else URL(self._base + path)

    async def _json(
        self, method: str, url: URL, what: str, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = None if payload is None else {"Content-Type": "application/json"}
        answer = await _call(
            self._session, method, url, timeout=self._timeout, body=body, headers=headers
        )
        data = _json_object(answer, what)
        _raise_for_errcode(data, what)
        return data

    async def code2session(self, code: str) -> LoginSession:
        """GET /sns/jscode2session: exchange a wx.login code (usable once) for the openid.
        Raises InvalidCode (40029), RateLimited (45011), HighRiskUser (40226), WeChatBusy."""
        url = self._url(
            "/sns/jscode2session",
            appid=self._appid,
            secret=self._secret,
            js_code=code,
            grant_type="authorization_code",
        )
        data = await self._json("GET", url, "code2session")
        if not data.get("openid") or not data.get("session_key"):
            raise WeChatUnreachable("code2session: answer lacks openid or session_key")
        return LoginSession(
            openid=str(data["openid"]),
            unionid=data.get("unionid"),
            session_key=str(data["session_key"]),
        )

    async def fetch_access_token(self) -> AccessToken:
        """GET /cgi-bin/token. Every call invalidates the previous token after 5 minutes:
        prefer ``fetch_stable_access_token`` when several processes share one app."""
        url = self._url(
            "/cgi-bin/token",
            grant_type="client_credential",
            appid=self._appid,
            secret=self._secret,
        )
        return self._token(await self._json("GET", url, "token"))

    async def fetch_stable_access_token(self, *, force_refresh: bool = False) -> AccessToken:
        """POST /cgi-bin/stable_token: the same token is returned until it nears expiry."""
        payload = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        data = await self._json("POST", self._url("/cgi-bin/stable_token"), "stable_token", payload)
        return self._token(data)

    @staticmethod
    def _token(data: Mapping[str, Any]) -> AccessToken:
        if not data.get("access_token"):
            raise WeChatUnreachable("token answer lacks access_token")
        return AccessToken(str(data["access_token"]), int(data.get("expires_in", 7200)))

    async def get_unlimited_wxacode(
        self,
        access_token: str,
        *,
        scene: str,
        page: str | None = None,
        check_path: bool = True,
        env_version: str = "release",
        width: int = 430,
    ) -> bytes:
        """POST /wxa/getwxacodeunlimit: the image bytes of a mini-program code. WeChat
        answers errors as a JSON body with HTTP 200; those raise ``WeChatApiError``."""
        payload: dict[str, Any] = {
            "scene": scene,
            "check_path": check_path,
            "env_version": env_version,
            "width": width,
        }
        if page is not None:
            payload["page"] = page
        url = self._url("/wxa/getwxacodeunlimit", access_token=access_token)
        answer = await _call(
            self._session,
            "POST",
            url,
            timeout=self._timeout,
            body=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        if answer.is_json:
            data = _json_object(answer, "getwxacodeunlimit")
            _raise_for_errcode(data, "getwxacodeunlimit")
            raise WeChatUnreachable("getwxacodeunlimit: JSON answer without an image")
        if answer.status != 200 or not answer.body:
            raise WeChatUnreachable(f"getwxacodeunlimit: HTTP {answer.status}")
        return answer.body

    async def send_subscribe_message(
        self,
        access_token: str,
        *,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str = "zh_CN",
    ) -> int | None:
        """POST /cgi-bin/message/subscribe/send; returns WeChat's msgid. One consent buys
        one message: 43101 raises ``SubscriptionExhausted``."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "lang": lang,
        }
        if page is not None:
            payload["page"] = page
        if miniprogram_state is not None:
            payload["miniprogram_state"] = miniprogram_state
        url = self._url("/cgi-bin/message/subscribe/send", access_token=access_token)
        answer = await self._json("POST", url, "subscribe/send", payload)
        msgid = answer.get("msgid")
        return int(msgid) if msgid is not None else None


# --- pay v2 ---------------------------------------------------------------------------------


class PayV2Client:
    """unifiedorder, orderquery and refund, XML signed with the v2 API key. Refunds need the
    merchant TLS certificate: pass an ``ssl.SSLContext`` holding it as ``cert_ssl``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: pay_v2.MerchantV2,
        *,
        pay_api_base_url: str = PAY_API_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        cert_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._merchant = merchant
        self._base = _base(pay_api_base_url)
        self._timeout = timeout
        self._cert_ssl = cert_ssl

    async def _post(self, path: str, xml: str, ssl_context: ssl.SSLContext | None = None) -> bytes:
        answer = await _call(
            self._session,
            "POST",
            URL(self._base + path),
            timeout=self._timeout,
            body=xml.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            ssl_context=ssl_context,
        )
        if answer.status != 200:
            raise WeChatUnreachable(f"pay v2 {path}: HTTP {answer.status}")
        return answer.body

    async def unified_order(
        self,
        *,
        body: str,
        out_trade_no: str,
        total_fee: int,
        openid: str,
        notify_url: str,
        spbill_create_ip: str,
        attach: str | None = None,
        time_expire: str | None = None,
    ) -> str:
        """Create a JSAPI payment; returns the prepay_id for ``pay_v2.jsapi_params``."""
        xml = pay_v2.build_unifiedorder_request(
            self._merchant,
            body=body,
            out_trade_no=out_trade_no,
            total_fee=total_fee,
            openid=openid,
            notify_url=notify_url,
            spbill_create_ip=spbill_create_ip,
            attach=attach,
            time_expire=time_expire,
        )
        answer = await self._post("/pay/unifiedorder", xml)
        return pay_v2.parse_unifiedorder_response(answer, self._merchant.api_key)

    async def query_order(self, out_trade_no: str) -> OrderStatus:
        """Unknown order: ``PayV2Error`` with ``err_code == "ORDERNOTEXIST"``."""
        xml = pay_v2.build_orderquery_request(self._merchant, out_trade_no=out_trade_no)
        answer = await self._post("/pay/orderquery", xml)
        return pay_v2.parse_orderquery_response(answer, self._merchant.api_key)

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fee: int,
        refund_fee: int,
        refund_desc: str | None = None,
        notify_url: str | None = None,
        transaction_id: str | None = None,
    ) -> RefundReceipt:
        """Request a refund (of ``transaction_id`` when given, else of the order's payment). On
        ``WeChatUnreachable`` retry with the same out_refund_no."""
        xml = pay_v2.build_refund_request(
            self._merchant,
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            total_fee=total_fee,
            refund_fee=refund_fee,
            refund_desc=refund_desc,
            notify_url=notify_url,
            transaction_id=transaction_id,
        )
        answer = await self._post("/secapi/pay/refund", xml, self._cert_ssl)
        return pay_v2.parse_refund_response(answer, self._merchant.api_key)


# --- pay v3 ---------------------------------------------------------------------------------


class PayV3Client:
    """JSAPI prepay, order query and refund: JSON, requests signed with the merchant key,
    successful answers verified against the platform keys before they are read."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: pay_v3.MerchantV3,
        platform_keys: pay_v3.PlatformKeys,
        *,
        pay_api_base_url: str = PAY_API_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_skew: int = pay_v3.DEFAULT_MAX_SKEW,
    ) -> None:
        self._session = session
        self._merchant = merchant
        self._platform_keys = platform_keys
        self._base = _base(pay_api_base_url)
        self._timeout = timeout
        self._max_skew = max_skew

    @property
    def merchant(self) -> pay_v3.MerchantV3:
        return self._merchant

    @property
    def platform_keys(self) -> pay_v3.PlatformKeys:
        return self._platform_keys

    async def _request(
        self,
        method: str,
        path_qs: str,
        payload: Mapping[str, Any] | None = None,
        *,
        trusted: Callable[[dict[str, Any]], pay_v3.PlatformKeys] | None = None,
    ) -> dict[str, Any]:
        """One signed call; its answer verified against the platform keys (and, with
        ``trusted``, the keys the answer itself carries, decrypted by the APIv3 key)."""
        url = URL(self._base + path_qs, encoded=True)
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "Authorization": pay_v3.build_authorization(
                self._merchant, method, url.raw_path_qs, body
            ),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        answer = await _call(
            self._session,
            method,
            url,
            timeout=self._timeout,
            body=body if payload is not None else None,
            headers=headers,
        )
        what = f"pay v3 {method} {url.path}"
        if answer.status >= 500:
            raise WeChatUnreachable(f"{what}: HTTP {answer.status}")
        if answer.status >= 400:
            error = _json_object(answer, what) if answer.is_json else {}
            raise PayV3Error(
                answer.status, str(error.get("code", "")), str(error.get("message", ""))
            )
        data = _json_object(answer, what) if answer.body else {}
        keys = self._platform_keys
        if trusted is not None:
            keys = {**keys, **trusted(data)}
        try:
            pay_v3.verify_signed_message(answer.headers, answer.body, keys, max_skew=self._max_skew)
        except NotificationRejected as exc:
            raise ResponseSignatureInvalid(f"{what}: {exc.reason}") from exc
        return data

    async def platform_certificates(self) -> dict[str, RSAPublicKey]:
        """GET /v3/certificates: the platform certificates WeChat Pay uses now and next, each
        decrypted with the APIv3 key (AEAD_AES_256_GCM) and checked to carry its serial. The
        answer is verified with the keys held or, on a first download, with one it carries
        (the AEAD tag already proves those came from WeChat Pay)."""
        found: dict[str, RSAPublicKey] = {}

        def carried(data: dict[str, Any]) -> dict[str, RSAPublicKey]:
            found.update(pay_v3.parse_certificates(data, self._merchant.apiv3_key))
            return found

        await self._request("GET", "/v3/certificates", trusted=carried)
        return found

    async def jsapi_prepay(
        self,
        *,
        description: str,
        out_trade_no: str,
        notify_url: str,
        total_fen: int,
        openid: str,
        attach: str | None = None,
        time_expire: datetime | None = None,
    ) -> str:
        """POST /v3/pay/transactions/jsapi; returns the prepay_id for ``pay_v3.jsapi_params``."""
        payload = pay_v3.build_jsapi_prepay_body(
            self._merchant,
            description=description,
            out_trade_no=out_trade_no,
            notify_url=notify_url,
            total_fen=total_fen,
            openid=openid,
            attach=attach,
            time_expire=time_expire,
        )
        data = await self._request("POST", "/v3/pay/transactions/jsapi", payload)
        try:
            return pay_v3.parse_prepay_response(data)
        except ValueError as exc:
            raise WeChatUnreachable(str(exc)) from exc

    async def query_order(self, out_trade_no: str) -> OrderStatus:
        """GET /v3/pay/transactions/out-trade-no/{no}?mchid=...; unknown order raises
        ``PayV3Error`` (404, ``ORDER_NOT_EXIST``)."""
        path = (
            f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
            f"?mchid={quote(self._merchant.mchid, safe='')}"
        )
        return pay_v3.parse_order(await self._request("GET", path))

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fen: int,
        refund_fen: int,
        reason: str | None = None,
        notify_url: str | None = None,
        transaction_id: str | None = None,
    ) -> RefundReceipt:
        """POST /v3/refund/domestic/refunds (of ``transaction_id`` when given, else of the
        order's payment). On ``WeChatUnreachable`` retry with the same out_refund_no: WeChat
        treats it as the same refund."""
        payload = pay_v3.build_refund_body(
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            total_fen=total_fen,
            refund_fen=refund_fen,
            reason=reason,
            notify_url=notify_url,
            transaction_id=transaction_id,
        )
        return pay_v3.parse_refund(
            await self._request("POST", "/v3/refund/domestic/refunds", payload)
        )


__all__ = [
    "AccessToken",
    "LoginSession",
    "MiniProgramClient",
    "PayV2Client",
    "PayV3Client",
]
