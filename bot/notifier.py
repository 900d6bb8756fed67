"""The notifier: reads the outbox in order and delivers each event on its channels (SPEC §9).

What it guarantees (``bot.deliveries`` has the mechanics):

- Every committed outbox event gets one delivery record per channel it concerns, exactly once
  (unique ``(event_id, channel)``), recorded in the same transaction that moves the consumer's
  cursor past it; several notifiers share one cursor row (``FOR UPDATE SKIP LOCKED``).
- The record — the dedupe key — is committed before WeChat is called, and marked ``sent`` in a
  transaction after WeChat accepted. A delivery marked sent is never sent again, by any
  notifier. At most one notifier holds a delivery at a time (a lease, longer than a call's
  timeout; a notifier whose lease would run out mid-send hands the rest back unsent).
- At least once, not exactly once: a notifier that dies after WeChat accepted a message and
  before the mark commits leaves the delivery ``sending``; when its lease runs out another
  notifier (or the restarted one) sends it again. That window — one HTTP answer and one small
  commit — is the only way a member gets a message twice; WeChat offers no idempotency key for
  these APIs, so no design can close it. A notifier that dies before the call sends nothing
  twice: the delivery is simply picked up again.
- Per member and channel, messages go out in event order.
- Transient failures (-1, 45011, network) are retried with exponential backoff up to
  ``max_attempts``; 43101 is recorded, zeroes the consent count and is never retried. Every try
  is a ``DeliveryAttempt`` row.
- Money is never touched: the notifier reads the outbox and members and writes only the
  notification tables, holds no lock a settlement waits for, and a failure here changes nothing
  that was settled.

Run it as its own process (``queue-rebate notifier``: ``server.app.create_notifier_app``, with
``/healthz`` and ``/readyz`` on ``--health-port``) or inside the API server (``notifier_ctx``);
any number of either may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot import deliveries
from bot.channels import (
    OFFICIAL,
    SUBSCRIBE,
    WECOM,
    Channel,
    Claimed,
    OfficialAccountChannel,
    Outcome,
    Result,
    SubscribeChannel,
    WeComChannel,
)
from bot.deliveries import Event, Planned, Retry
from bot.messages import render, template_data
from bot.ratelimit import ChannelRateLimiter
from bot.wechat_apis import OfficialAccountClient, WeComGroupBot
from runtime import metrics
from runtime.bot_settings import BotSettings, bot_settings
from runtime.config import Settings
from runtime.ratelimit import rate_limiter
from services.clock import utcnow
from services.members.views import names_in_force
from web.keys import HTTP, REDIS, SETTINGS, WORKERS
from wechat.client import MiniProgramClient
from wechat.tokens import AccessTokens, stable_tokens, token_cache

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=5)  # a send starts only if it can end this long before the lease


def plan_for(settings: BotSettings, channels: Collection[str]) -> deliveries.Plan:
    """Which channels an event goes to, and what exactly is sent on each (rendered now, so a
    redelivery sends the same words)."""

    def plan(event: Event) -> list[Planned]:
        rendered = render(event.kind, event.payload, names=settings.names, at=event.created_at)
        out: list[Planned] = []
        message = rendered.member
        if message is not None and event.member_id is not None:
            template = settings.subscribe_templates.get(event.kind)
            if SUBSCRIBE in channels and template is not None and event.member_openid:
                out.append(
                    Planned(
                        SUBSCRIBE,
                        {
                            "touser": event.member_openid,
                            "template_id": template.template_id,
                            "data": template_data(message, template),
                            "page": template.page,
                        },
                    )
                )
            if OFFICIAL in channels:
                content: dict[str, object] = {"text": message.text}
                oa_template = settings.official_account.templates.get(event.kind)
                if oa_template is not None:
                    content["template_id"] = oa_template.template_id
                    content["data"] = template_data(message, oa_template)
                    content["page"] = oa_template.page
                out.append(Planned(OFFICIAL, content))
        if rendered.operators and WECOM in channels:
            out.append(Planned(WECOM, {"text": rendered.operators}))
        return out

    return plan


class Notifier:
    def __init__(
        self,
        settings: BotSettings,
        channels: Mapping[str, Channel],
        *,
        limiter: ChannelRateLimiter | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.channels = dict(channels)
        self._limiter = limiter or ChannelRateLimiter({})
        self._clock = clock
        n = settings.notifier
        self._plan = plan_for(settings, self.channels)
        self._names = settings.names
        self._retry = Retry(n.max_attempts, n.backoff_seconds, n.backoff_cap_seconds)
        self._lease = timedelta(seconds=n.lease_seconds)
        self._call_budget = timedelta(seconds=n.timeout) * 2 + LEASE_MARGIN  # a token refresh too
        if self._lease <= self._call_budget:
            raise ValueError("[bot.notifier] lease_seconds must exceed 2 × timeout + 5")
        self._cursor_ready = False

    async def take(self) -> int:
        """Read the outbox into deliveries until caught up (or another notifier is reading)."""
        n = self.settings.notifier
        if not self._cursor_ready:
            await deliveries.ensure_cursor(n.consumer, self._clock())
            self._cursor_ready = True
        await self._follow_custom_names()
        total = 0
        while True:
            read = await deliveries.take_events(
                n.consumer,
                self._plan,
                batch=n.batch,
                gap_retention=n.gap_retention,
                now=self._clock(),
            )
            if not read:
                return total
            total += read
            if read < n.batch:
                return total

    async def deliver(self) -> int:
        """Send every delivery that is due; the number tried."""
        tried = 0
        while True:
            lease_until, batch = await deliveries.claim(
                self.settings.notifier.claim, now=self._clock(), lease=self._lease
            )
            if not batch:
                return tried
            for at, delivery in enumerate(batch):
                if delivery.channel in self.channels:  # a rate wait comes before the lease check
                    await self._limiter.acquire(delivery.channel)
                if self._clock() + self._call_budget > lease_until:
                    await deliveries.release([d.id for d in batch[at:]], lease_until)
                    break
                await self._deliver_one(delivery, lease_until)
                tried += 1

    async def _deliver_one(self, delivery: Claimed, lease_until: datetime) -> None:
        channel = self.channels.get(delivery.channel)
        if channel is None:
            result = Result(Outcome.SKIPPED, detail=f"channel {delivery.channel} not configured")
        else:
            try:
                result = await channel.send(delivery)
            except Exception as exc:  # a bug or a database hiccup: try again later
                log.exception("delivery %d on %s raised", delivery.id, delivery.channel)
                result = Result(Outcome.RETRY, detail=repr(exc)[:200])
        status = await deliveries.finish(
            delivery, result, lease_until=lease_until, now=self._clock(), retry=self._retry
        )
        metrics.count_delivery(delivery.channel, status.value)
        log.info(
            "delivery %d (event %d, %s, %s): %s",
            delivery.id,
            delivery.event_id,
            delivery.kind,
            delivery.channel,
            status.value,
        )

    async def _follow_custom_names(self) -> None:
        """自定义名称 / 兑换自定义名称 set by an operator (the member display settings) win over
        ``[bot.names]``, so members read the same names in messages as in the mini-program."""
        names = await names_in_force(self.settings.names)
        if names != self._names:
            self._names = names
            self._plan = plan_for(replace(self.settings, names=names), self.channels)

    async def run_once(self) -> int:
        """One pass: read what is new, send what is due. The amount of work done."""
        return await self.take() + await self.deliver()

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; a failing pass is logged and retried."""
        pause = self.settings.notifier.poll_ms / 1000
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("notifier pass failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)


# --- composition ----------------------------------------------------------------------------


def build_notifier(
    settings: Settings,
    session: aiohttp.ClientSession,
    redis: Redis | None,
    *,
    bot: BotSettings | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Notifier:
    """The notifier with every channel the settings configure: subscribe messages when the
    mini-program and at least one template are set, the official account when its appid is,
    the WeCom group when its webhook key is."""
    bot = bot or bot_settings(settings)
    n = bot.notifier
    channels: dict[str, Channel] = {}
    tokens = token_cache(redis, prefix=bot.redis_prefix)
    wx = settings.wechat
    if wx.appid and bot.subscribe_templates:
        mini = MiniProgramClient(
            session,
            appid=wx.appid,
            secret=wx.app_secret,
            api_base_url=wx.api_base_url,
            timeout=n.timeout,
        )
        channels[SUBSCRIBE] = SubscribeChannel(
            mini, stable_tokens(mini, tokens), miniprogram_state=bot.miniprogram_state
        )
    oa = bot.official_account
    if oa.appid:
        client = official_account_client(bot, session)
        channels[OFFICIAL] = OfficialAccountChannel(
            client,
            stable_tokens(client, tokens),
            miniprogram_appid=oa.miniprogram_appid or wx.appid,
            clock=clock,
        )
    if bot.wecom.key:
        channels[WECOM] = WeComChannel(
            WeComGroupBot(session, bot.wecom.webhook_url, timeout=n.timeout)
        )
    limiter = ChannelRateLimiter(n.rates, rate_limiter(redis, prefix=bot.redis_prefix))
    return Notifier(bot, channels, limiter=limiter, clock=clock)


def official_account_client(
    bot: BotSettings, session: aiohttp.ClientSession
) -> OfficialAccountClient:
    oa = bot.official_account
    return OfficialAccountClient(
        session,
        appid=oa.appid,
        secret=oa.app_secret,
        api_base_url=oa.api_base_url,
        timeout=bot.notifier.timeout,
    )


def official_account_tokens(
    bot: BotSettings, client: OfficialAccountClient, redis: Redis | None
) -> AccessTokens:
    return stable_tokens(client, token_cache(redis, prefix=bot.redis_prefix))


async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx`` running the notifier inside the API server, after its database, Redis
    and HTTP session (``create_app(settings, extra_cleanup=[notifier_ctx])``)."""
    notifier = build_notifier(app[SETTINGS], app[HTTP], app[REDIS])
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop), name="notifier")
    app.setdefault(WORKERS, {})["notifier"] = lambda: not task.done()
    log.info("notifier running; channels: %s", ", ".join(notifier.channels) or "none")
    try:
        yield
    finally:
        stop.set()
        await task
