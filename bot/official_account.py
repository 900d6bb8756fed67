"""The official account's message endpoint (服务器配置): WeChat's URL check (GET) and members'
messages (POST), in plain or encrypted (安全模式, AES) mode.

A request is answered only if it is from WeChat: the ``signature`` over (token, timestamp,
nonce) must match (``wechatpy.utils.check_signature``) and the timestamp be within
``max_skew`` of our clock, else 403; in encrypted mode the ``msg_signature`` over the
ciphertext must match too and the plaintext name our appid (``WeChatCrypto``), else 403. The
body is screened before any XML parser that expands entities sees it: size cap, no DTD, no
entity declarations (400). Then ``wechatpy.parse_message`` parses it, the dispatcher answers,
and ``wechatpy.replies.create_reply`` renders the answer (encrypted again in encrypted mode).
No answer is the literal ``success``, which tells WeChat not to retry.

WeChat waits five seconds and retries twice with the same MsgId; every command is a read,
except 抽奖, which the lottery service refuses to run twice on one entry.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import ParseError

from aiohttp import web
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]
from wechatpy import parse_message  # type: ignore[import-untyped]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException  # type: ignore[import-untyped]
from wechatpy.replies import create_reply  # type: ignore[import-untyped]
from wechatpy.utils import check_signature  # type: ignore[import-untyped]

from bot.followers import LookUp
from bot.router import Dispatcher, Turn
from runtime.bot_settings import BotSettings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SORRY = "系统繁忙，请稍后再试。"


class OfficialAccountEndpoint:
    def __init__(
        self,
        settings: BotSettings,
        dispatcher: Dispatcher,
        *,
        look_up: LookUp | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        oa = settings.official_account
        if not oa.token:
            raise ValueError("[bot.official_account] token is required")
        self.settings = settings
        self.dispatcher = dispatcher
        self.look_up = look_up  # set once the HTTP session exists (see bot.routes)
        self._oa = oa
        self._clock = clock
        self._rng = rng
        self._crypto = (
            WeChatCrypto(oa.token, oa.encoding_aes_key, oa.appid) if oa.encoding_aes_key else None
        )

    def _signed(self, request: web.Request) -> bool:
        q = request.query
        timestamp = q.get("timestamp", "")
        try:
            check_signature(self._oa.token, q.get("signature", ""), timestamp, q.get("nonce", ""))
        except InvalidSignatureException:
            log.warning("official account: bad signature from %s", request.remote)
            return False
        if not timestamp.isdigit() or abs(self._clock() - int(timestamp)) > self._oa.max_skew:
            log.warning("official account: stale timestamp %r", timestamp)
            return False
        return True

    async def verify(self, request: web.Request) -> web.Response:
        """GET: WeChat checks the URL; echo ``echostr`` if the signature is ours."""
        if not self._signed(request):
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        """POST: one message or event; the reply (or ``success``)."""
        if not self._signed(request):
            return web.Response(status=403, text="forbidden")
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES or not _safe_xml(body):
            return web.Response(status=400, text="bad request")
        q = request.query
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if encrypted:
            if self._crypto is None:
                log.warning("official account: encrypted message but no EncodingAESKey set")
                return web.Response(status=403, text="forbidden")
            try:
                xml = self._crypto.decrypt_message(
                    body, q.get("msg_signature", ""), q["timestamp"], q["nonce"]
                )
            except (InvalidSignatureException, InvalidAppIdException):
                log.warning("official account: bad msg_signature or appid")
                return web.Response(status=403, text="forbidden")
            except (KeyError, ValueError) as exc:
                log.warning("official account: undecryptable message: %r", exc)
                return web.Response(status=400, text="bad request")
        else:
            xml = body.decode("utf-8", "replace")
        try:
            message = parse_message(xml)
        except Exception as exc:  # KeyError (no MsgType), xmltodict's ExpatError …
            log.warning("official account: unparsable message: %r", exc)
            return web.Response(status=400, text="bad request")
        text = await self._answer(message)
        if text is None:
            return web.Response(text="success")
        reply = create_reply(text, message).render()
        if encrypted:
            assert self._crypto is not None
            reply = self._crypto.encrypt_message(reply, q["nonce"], q["timestamp"])
        return web.Response(text=reply, content_type="application/xml")

    async def _answer(self, message: Any) -> str | None:
        turn = Turn(
            message=message,
            openid=str(message.source),
            now=datetime.fromtimestamp(self._clock(), UTC),
            settings=self.settings,
            rng=self._rng,
            services={"look_up": self.look_up} if self.look_up else {},
        )
        try:
            return await self.dispatcher.dispatch(turn)
        except Exception:
            log.exception("official account: handler failed")
            return SORRY


def _safe_xml(body: bytes) -> bool:
    """Well-formed XML without DTD, entity declarations or external references."""
    try:
        fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError):
        return False
    return True
