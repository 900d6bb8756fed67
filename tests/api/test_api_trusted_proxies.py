"""Client addresses behind a reverse proxy (issue 20 item 2): X-Forwarded-For is believed only
from the configured proxies, so the login rate limit (30 a minute per IP by default) counts
each real client — and a client talking to us directly cannot pick its own address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.conftest import Api

LOGINS = 32  # more than the default 30 per IP and minute


async def login_status(api: Api, forwarded_for: str) -> int:
    code = f"code-proxy-{forwarded_for}"
    api.wx.register_code(code, f"oProxy{forwarded_for.replace('.', '')}")
    response = await api.client.post(
        "/api/login", json={"code": code}, headers={"X-Forwarded-For": forwarded_for}
    )
    return response.status


async def test_logins_through_a_trusted_proxy_are_limited_per_real_client(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("postgres", trusted_proxies=("127.0.0.0/8",))
    statuses = [await login_status(api, f"203.0.113.{i}") for i in range(LOGINS)]
    assert statuses == [200] * LOGINS


async def test_from_an_untrusted_peer_the_header_is_ignored(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api("postgres", trusted_proxies=("10.0.0.0/8",))  # not the test peer
    statuses = [await login_status(api, f"203.0.113.{i}") for i in range(LOGINS)]
    assert statuses[:30] == [200] * 30
    assert statuses[30:] == [429, 429]  # one client, whatever it claims


async def test_a_forged_first_hop_does_not_escape_the_limit(
    make_api: Callable[..., Any],
) -> None:
    """The proxy appends the address it saw; what the client wrote before it is not believed."""
    api: Api = await make_api("postgres", trusted_proxies=("127.0.0.1",))
    statuses = [await login_status(api, f"198.51.100.{i}, 192.0.2.7") for i in range(LOGINS)]
    assert statuses[30:] == [429, 429]
