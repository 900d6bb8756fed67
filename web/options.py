"""Knobs of the member API that the settings file does not carry (yet).

``create_app(settings, options=ApiOptions(...))``: every field has a default an operator of a
real mall would expect; tests shrink the windows and limits. Nothing here is a secret.
"""

from dataclasses import dataclass, field

from runtime.ratelimit import Limit


@dataclass(frozen=True)
class RateLimits:
    """How many logins and new orders one client IP and one member may make per window (the
    fixed windows of ``runtime.ratelimit``; over the count: 429)."""

    login_per_ip: Limit = Limit(30, 60)
    login_per_member: Limit = Limit(10, 60)
    order_per_ip: Limit = Limit(60, 60)
    order_per_member: Limit = Limit(20, 60)


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
    trust_forwarded_for: bool = False  # behind a reverse proxy: client IP from X-Forwarded-For
    rate_limits: RateLimits = field(default_factory=RateLimits)
    run_scheduler: bool = False  # `queue-rebate serve` turns it on: jobs run in the server
    run_writer: bool = (
        True  # the writer loop settles what payments enqueue (services.queues.runner)
    )
