"""Where messages go: mini-program subscribe messages, the official account, the operators'
WeCom group. Each channel sends one claimed delivery and says how it went; the notifier
records the outcome and decides about retries.

Outcomes: ``sent``; ``retry`` (transient: -1 busy, 45011/45009 rate limited, network, a token
rejected twice); ``refused`` (43101: no subscribe consent left — never retried); ``skipped``
(nobody to send to: no consent counted, not following the account — WeChat is not called);
``failed`` (any other errcode: retrying would not change the answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot import followers
from bot.wechat_apis import (
    NOT_FOLLOWING,
    OUTSIDE_REPLY_WINDOW,
    OfficialAccountClient,
    WeComGroupBot,
)
from services.members.consents import remaining_consents
from wechat.client import MiniProgramClient
from wechat.errors import (
    AccessTokenInvalid,
    RateLimited,
    SubscriptionExhausted,
    WeChatApiError,
    WeChatBusy,
    WeChatError,
    WeChatUnreachable,
)
from wechat.tokens import AccessTokens, with_token

SUBSCRIBE = "subscribe"
OFFICIAL = "official"
WECOM = "wecom"


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    REFUSED = "refused"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    recipient: str = ""
    errcode: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Claimed:
    """A delivery a notifier holds until ``lease_until``."""

    id: int
    event_id: int
    channel: str
    member_id: int | None
    kind: str
    content: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0  # including this one


class Channel(Protocol):
    name: str

    async def send(self, delivery: Claimed) -> Result: ...


def classify(exc: WeChatError, recipient: str = "") -> Result:
    """The outcome of a call that raised ``exc``."""
    if isinstance(exc, SubscriptionExhausted):
        return Result(Outcome.REFUSED, recipient, exc.errcode, "no subscribe consent left")
    if isinstance(exc, WeChatBusy | RateLimited | AccessTokenInvalid):
        return Result(Outcome.RETRY, recipient, exc.errcode, exc.errmsg[:200])
    if isinstance(exc, WeChatUnreachable):
        return Result(Outcome.RETRY, recipient, None, str(exc)[:200])
    if isinstance(exc, WeChatApiError):
        return Result(Outcome.FAILED, recipient, exc.errcode, exc.errmsg[:200])
    return Result(Outcome.FAILED, recipient, None, str(exc)[:200])


class SubscribeChannel:
    """Mini-program subscribe messages, only while the member has a consent counted."""

    name = SUBSCRIBE

    def __init__(
        self, client: MiniProgramClient, tokens: AccessTokens, *, miniprogram_state: str
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._state = miniprogram_state

    async def send(self, delivery: Claimed) -> Result:
        c = delivery.content
        openid, template_id = str(c["touser"]), str(c["template_id"])
        assert delivery.member_id is not None
        if await remaining_consents(delivery.member_id, template_id) <= 0:
            return Result(Outcome.SKIPPED, openid, None, "no consent counted")
        try:
            await with_token(
                self._tokens,
                lambda token: self._client.send_subscribe_message(
                    token,
                    openid=openid,
                    template_id=template_id,
                    data=c["data"],
                    page=c.get("page") or None,
                    miniprogram_state=self._state,
                ),
            )
        except WeChatError as exc:
            return classify(exc, openid)
        return Result(Outcome.SENT, openid)


class OfficialAccountChannel:
    """A template message where one is configured for the kind, else a customer-service
    text; only to members who follow the account."""

    name = OFFICIAL

    def __init__(
        self,
        client: OfficialAccountClient,
        tokens: AccessTokens,
        *,
        miniprogram_appid: str = "",
        clock: Callable[[], Any],
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._miniprogram_appid = miniprogram_appid
        self._clock = clock

    async def send(self, delivery: Claimed) -> Result:
        assert delivery.member_id is not None
        openid = await followers.following_openid(delivery.member_id)
        if openid is None:
            return Result(Outcome.SKIPPED, "", None, "not following the official account")
        try:
            await with_token(self._tokens, lambda token: self._send(token, openid, delivery))
        except WeChatApiError as exc:
            if exc.errcode == NOT_FOLLOWING:
                await followers.mark_unfollowed(openid, self._clock())
                return Result(Outcome.SKIPPED, openid, exc.errcode, "not following any more")
            if exc.errcode == OUTSIDE_REPLY_WINDOW:
                return Result(Outcome.FAILED, openid, exc.errcode, "outside the 48-hour window")
            return classify(exc, openid)
        except WeChatError as exc:
            return classify(exc, openid)
        return Result(Outcome.SENT, openid)

    async def _send(self, token: str, openid: str, delivery: Claimed) -> None:
        c = delivery.content
        if c.get("template_id"):
            jump = None
            if self._miniprogram_appid and c.get("page"):
                jump = {"appid": self._miniprogram_appid, "pagepath": str(c["page"])}
            await self._client.send_template_message(
                token,
                openid=openid,
                template_id=str(c["template_id"]),
                data=c["data"],
                miniprogram=jump,
            )
        else:
            await self._client.send_custom_text(token, openid=openid, content=str(c["text"]))


class WeComChannel:
    """Operator alerts to the WeCom group bot."""

    name = WECOM

    def __init__(self, bot: WeComGroupBot) -> None:
        self._bot = bot

    async def send(self, delivery: Claimed) -> Result:
        try:
            await self._bot.send_text(str(delivery.content["text"]))
        except WeChatError as exc:
            return classify(exc, "wecom")
        return Result(Outcome.SENT, "wecom")
