"""The chat bot's settings: a frozen dataclass tree that ``runtime.config``'s TOML loader reads
from the ``[bot]`` table into ``Settings.bot``. ``bot_settings(settings)`` gives the defaults for
anything that carries none (tests pass ``None``): they send nothing (no template ids, no
official account, no webhook key) but keep every command of the inbound endpoint working.

Secrets (the official account's app secret, token and EncodingAESKey, the WeCom webhook key)
belong in the environment, like the other secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.ratelimit import Limit

DEFAULT_PLUGIN_NAME = "排队返利"
DEFAULT_EXCHANGE_NAME = "兑换"


@dataclass(frozen=True)
class Names:
    """自定义名称 and 兑换自定义名称 (SPEC §7): used in every message."""

    plugin: str = DEFAULT_PLUGIN_NAME
    exchange: str = DEFAULT_EXCHANGE_NAME
    miniprogram: str = "小程序"  # how the bind hint names the mini-program


@dataclass(frozen=True)
class Template:
    """One subscribe (or official-account template) message: its id in the WeChat console, the
    template keywords mapped to the fields a message offers (``bot.messages`` lists them per
    event kind), and the mini-program page it opens. An empty ``fields`` uses the kind's
    default mapping."""

    template_id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    page: str = ""


@dataclass(frozen=True)
class OfficialAccountSettings:
    appid: str = ""  # empty: no official account, neither inbound nor outbound
    app_secret: str = field(default="", repr=False)
    token: str = field(default="", repr=False)  # the server configuration's Token
    encoding_aes_key: str = field(default="", repr=False)  # empty: plain mode only
    api_base_url: str = "https://api.weixin.qq.com"
    path: str = "/wechat/official-account"  # where WeChat posts messages
    max_skew: int = 300  # seconds a signed request's timestamp may differ from our clock
    miniprogram_appid: str = ""  # template messages open this mini-program (else no link)
    # event kind → template message; a kind without one goes as a customer-service text
    # (WeChat accepts those only within 48 hours of the member's last message to the account)
    templates: Mapping[str, Template] = field(default_factory=dict)


@dataclass(frozen=True)
class WeComSettings:
    base_url: str = "https://qyapi.weixin.qq.com"
    key: str = field(default="", repr=False)  # the group bot's webhook key; empty: no alerts

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/cgi-bin/webhook/send?key={self.key}"


@dataclass(frozen=True)
class NotifierSettings:
    consumer: str = "notifier"  # the cursor row's name; notifiers sharing it share the work
    batch: int = 50  # outbox events read per pass
    claim: int = 10  # deliveries one notifier claims at a time
    poll_ms: int = 1000  # pause between passes when there was nothing to do
    lease_seconds: int = 120  # a claimed delivery may be taken over by another notifier after this
    max_attempts: int = 8  # transient failures before a delivery is failed
    backoff_seconds: int = 5  # before the first retry; doubles each time, up to the cap
    backoff_cap_seconds: int = 3600
    gap_retention: int = 600  # seconds an outbox id seen missing is watched for a late commit
    timeout: int = 10  # seconds per WeChat call
    # messages per channel and window, shared by every notifier (``bot.ratelimit``)
    rates: Mapping[str, Limit] = field(
        default_factory=lambda: {
            "subscribe": Limit(20),
            "official": Limit(20),
            "wecom": Limit(20, 60),  # the group bot's own limit
        }
    )


@dataclass(frozen=True)
class BotSettings:
    names: Names = field(default_factory=Names)
    # event kind → mini-program subscribe message template
    subscribe_templates: Mapping[str, Template] = field(default_factory=dict)
    miniprogram_state: str = "formal"  # subscribe messages open: developer | trial | formal
    official_account: OfficialAccountSettings = field(default_factory=OfficialAccountSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    notifier: NotifierSettings = field(default_factory=NotifierSettings)
    redis_prefix: str = "bot:"  # every Redis key the bot writes starts with it


def bot_settings(settings: Any) -> BotSettings:
    """``settings.bot`` (``runtime.config.Settings`` carries it), else the defaults."""
    found = getattr(settings, "bot", None)
    return found if isinstance(found, BotSettings) else BotSettings()
