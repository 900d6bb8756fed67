"""Roles and the permissions each grants. Every operators' route declares the one permission it
needs (``web.registry.RouteSpec.permission``); a role passes when it holds it.

| permission | what it covers |
|---|---|
| ``view`` | read the back office: settings, catalogue, queues, merchants, withdrawals, jobs, the operation log |
| ``members.view`` | look members up (their levels and level history) |
| ``money`` | decide withdrawals, adjust balances, request refunds, statements and exports |
| ``operations`` | change settings, merchants, queues, the catalogue, member levels; run jobs |
| ``operators`` | manage operator accounts (the console's, when it comes; the CLI needs none) |

``any`` is not a permission but a route's declaration that any signed-in operator may use it
(their own session).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

ANY = "any"  # a route any signed-in operator may use


class Permission(StrEnum):
    VIEW = "view"
    MEMBERS_VIEW = "members.view"
    MONEY = "money"
    OPERATIONS = "operations"
    OPERATORS = "operators"


class Role(StrEnum):
    OWNER = "owner"  # 所有者: everything
    FINANCE = "finance"  # 财务: money
    OPERATIONS = "operations"  # 运营: settings, merchants, queues, catalogue, levels, jobs
    SUPPORT = "support"  # 客服: read-only, and member lookups


_READ = frozenset({Permission.VIEW, Permission.MEMBERS_VIEW})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.FINANCE: _READ | {Permission.MONEY},
    Role.OPERATIONS: _READ | {Permission.OPERATIONS},
    Role.SUPPORT: _READ,
}

ROLE_NAMES: Mapping[Role, str] = {
    Role.OWNER: "所有者",
    Role.FINANCE: "财务",
    Role.OPERATIONS: "运营",
    Role.SUPPORT: "客服",
}

PERMISSION_NAMES: Mapping[str, str] = {
    Permission.VIEW: "查看后台",
    Permission.MEMBERS_VIEW: "查询会员",
    Permission.MONEY: "资金操作",
    Permission.OPERATIONS: "运营设置",
    Permission.OPERATORS: "管理运营账号",
}


def permissions_of(role: str) -> frozenset[Permission]:
    """What ``role`` may do (nothing for a role this version does not know)."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def allows(role: str, permission: str) -> bool:
    return permission == ANY or permission in permissions_of(role)


def is_permission(name: str) -> bool:
    """Whether a route may declare ``name``."""
    return name == ANY or name in {p.value for p in Permission}


def adjustment_limit(role: str, finance_limit: int) -> int | None:
    """The most one manual adjustment may move for ``role`` (``[auth]
    finance_adjustment_limit`` for finance; None for the owner: no limit). Other roles hold no
    money permission and never reach an adjustment."""
    return None if role == Role.OWNER else finance_limit
