"""The operators' HTTP API (运营后台接口), under ``/api/admin/``: settings, the catalogue
(suppliers and products), member levels, merchants and distribution, withdrawals, manual balance
adjustments, refunds and double payments, jobs and the operation log. Every route but the
login needs a signed-in operator whose role holds the route's permission
(``web.operator_auth``); each view parses input, calls one service function and answers JSON.
"""

from admin_api import (
    catalog,
    dashboard,
    directory,
    distribution,
    double_payments,
    exports,
    levels,
    members,
    orders,
    pool,
    refunds,
    session,
    settings,
    statements,
    withdrawals,
)
from web.registry import RouteSpec


def route_specs() -> list[RouteSpec]:
    """The operators' endpoints, in documentation order."""
    return [
        *orders.routes.specs,
        *pool.routes.specs,
        *exports.routes.specs,
        *session.routes.specs,
        *refunds.routes.specs,
        *double_payments.routes.specs,
        *withdrawals.routes.specs,
        *members.routes.specs,
        *levels.routes.specs,
        *distribution.routes.specs,
        *directory.routes.specs,
        *statements.routes.specs,
        *settings.routes.specs,
        *dashboard.routes.specs,
        *catalog.routes.specs,
    ]
