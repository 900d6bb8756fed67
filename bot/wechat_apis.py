"""The WeChat endpoints the bot calls beyond ``wechat.client``: the official account's template,
customer-service and user-info APIs, and the WeCom group-bot webhook.

The official account speaks the same protocol as the mini-program server API (same token
endpoints, same ``errcode`` answers, same error classes), so its client extends
``MiniProgramClient`` and reuses its transport; only the paths differ. Errors the notifier
tells apart: 43004 (the member does not follow the account), 45015 (a customer-service
message outside the 48 hours after the member last wrote), -1 and transport failures
(transient), 40001 (refresh the token).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from wechat.client import MiniProgramClient
from wechat.errors import RateLimited, WeChatApiError, WeChatBusy, WeChatUnreachable

log = logging.getLogger(__name__)

NOT_FOLLOWING = 43004  # "require subscribe"
OUTSIDE_REPLY_WINDOW = 45015  # customer-service messages: 48 hours after the member's last message


@dataclass(frozen=True)
class FollowerInfo:
    openid: str
    following: bool
    unionid: str | None


class OfficialAccountClient(MiniProgramClient):
    """公众号: template and customer-service messages, user info."""

    async def send_template_message(
        self,
        access_token: str,
        *,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        miniprogram: Mapping[str, str] | None = None,
    ) -> int | None:
        """POST /cgi-bin/message/template/send; returns WeChat's msgid."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if miniprogram:
            payload["miniprogram"] = dict(miniprogram)
        url = self._url("/cgi-bin/message/template/send", access_token=access_token)
        answer = await self._json("POST", url, "template/send", payload)
        msgid = answer.get("msgid")
        return int(msgid) if msgid is not None else None

    async def send_custom_text(self, access_token: str, *, openid: str, content: str) -> None:
        """POST /cgi-bin/message/custom/send with a text message."""
        payload = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        url = self._url("/cgi-bin/message/custom/send", access_token=access_token)
        await self._json("POST", url, "custom/send", payload)

    async def follower_info(self, access_token: str, openid: str) -> FollowerInfo:
        """GET /cgi-bin/user/info: whether ``openid`` follows, and its unionid (present when
        the account is bound to the same open-platform account as the mini-program)."""
        url = self._url(
            "/cgi-bin/user/info", access_token=access_token, openid=openid, lang="zh_CN"
        )
        data = await self._json("GET", url, "user/info")
        return FollowerInfo(
            openid=openid,
            following=bool(data.get("subscribe")),
            unionid=str(data["unionid"]) if data.get("unionid") else None,
        )


class WeComGroupBot:
    """企业微信群机器人: ``POST {webhook_url}`` with a text message."""

    def __init__(self, session: aiohttp.ClientSession, webhook_url: str, *, timeout: float) -> None:
        self._session = session
        self._url = webhook_url
        self._timeout = timeout

    async def send_text(self, content: str) -> None:
        body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False)
        try:
            async with self._session.post(
                self._url,
                data=body.encode(),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatUnreachable(f"wecom webhook: {exc!r}") from exc
        if status >= 500:
            raise WeChatUnreachable(f"wecom webhook: HTTP {status}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise WeChatUnreachable(f"wecom webhook: HTTP {status}, not JSON") from None
        errcode = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
        if errcode:
            errmsg = str(data.get("errmsg", "")) if isinstance(data, dict) else ""
            kind = {-1: WeChatBusy, 45009: RateLimited}.get(errcode, WeChatApiError)
            raise kind(errcode, errmsg)
