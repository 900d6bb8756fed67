"""What the app is run with: ``ApiOptions``, built from the settings file by
``ApiOptions.from_settings`` (``queue-rebate serve``), or directly by tests that shrink the
windows and limits. Nothing here is a secret.

- deployment knobs from the settings: token lifetimes (``[auth]``), rate limits
  (``[rate_limits]``), the refund notify URL (``[wechat_pay]``), the trusted reverse proxies
  (``[server] trusted_proxies``);
- the process's role (``queue-rebate serve --role``): whether it serves the API, runs the queue
  writer loop, runs the scheduler.
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.config import RateLimits, Settings

__all__ = ["ROLES", "ApiOptions", "RateLimits", "Role"]

Role = Literal["api", "writer", "scheduler", "all"]
ROLES: tuple[Role, ...] = ("api", "writer", "scheduler", "all")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ApiOptions:
    member_token_ttl: int = 7 * 24 * 3600  # seconds a member token stays valid
    admin_token_ttl: int = 8 * 3600
    referral_page: str = "pages/index/index"  # mini-program page the referral QR opens
    referral_env_version: str = "release"  # release | trial | develop
    referral_check_path: bool = True  # WeChat checks the page exists (false for unpublished pages)
    qr_cache_ttl: int = 30 * 24 * 3600  # an unlimited mini-program code never expires
    qr_cache_size: int = 1024  # in-process LRU entries when Redis is not configured
    redis_prefix: str = "qr:"  # every Redis key this app writes starts with it
    wechat_timeout: float = 10.0  # seconds per WeChat call
    refund_notify_url: str = ""  # empty: WeChat Pay uses the merchant platform's refund URL
    # reverse proxies whose X-Forwarded-For is believed: addresses or CIDRs (empty: none)
    trusted_proxies: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    check_migrations: bool = True  # /readyz: every migration of this build applied
    serve_api: bool = True  # the member and operators' APIs (else health and metrics only)
    run_scheduler: bool = False  # `queue-rebate serve` turns it on: jobs run in the server
    run_writer: bool = (
        True  # the writer loop settles what payments enqueue (services.queues.runner)
    )
    proxy_networks: tuple[IpNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)
        object.__setattr__(self, "proxy_networks", networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (the TCP peer's address) is one of the trusted proxies."""
        if not peer or not self.proxy_networks:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.proxy_networks)

    @classmethod
    def from_settings(cls, settings: Settings, *, role: Role = "all", **extra: Any) -> "ApiOptions":
        """The options a ``queue-rebate serve --role ROLE`` process runs with."""
        return cls(
            member_token_ttl=settings.auth.member_token_ttl,
            admin_token_ttl=settings.auth.admin_token_ttl,
            refund_notify_url=settings.wechat_pay.refund_notify_url,
            trusted_proxies=settings.server.trusted_proxies,
            rate_limits=settings.rate_limits,
            serve_api=role in ("api", "all"),
            run_writer=role in ("writer", "all"),
            run_scheduler=role in ("scheduler", "all"),
            **extra,
        )
