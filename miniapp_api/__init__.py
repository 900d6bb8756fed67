"""The mini-program's HTTP API (小程序接口): what a member's mini-program calls, and the
payment notifications WeChat Pay sends about members' orders.

Each view parses input, calls one service function and answers JSON; the HTTP plumbing every
edge shares (route specs, auth, errors, paging) is ``web``. The server's choices (error shape,
tokens, rate limits…) are written down in ``server``.
"""

from miniapp_api.views import (
    catalog,
    entries,
    login,
    members,
    merchants,
    notify,
    orders,
    pool,
    promoter,
    subscriptions,
    transfers,
    wallet,
)
from web.registry import RouteSpec


def route_specs() -> list[RouteSpec]:
    """The member API's endpoints, in documentation order, then WeChat Pay's notifications."""
    return [
        *login.routes.specs,
        *members.routes.specs,
        *subscriptions.routes.specs,
        *catalog.routes.specs,
        *orders.routes.specs,
        *entries.routes.specs,
        *pool.routes.specs,
        *wallet.routes.specs,
        *transfers.routes.specs,
        *merchants.routes.specs,
        *promoter.routes.specs,
        *notify.routes.specs,
    ]
