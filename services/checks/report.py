"""How the checks of ``queue-rebate check`` are written: a title, a query returning one row per
problem, and how to say each one (at most LIMIT per check, then how many more)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from tortoise import connections

from ledger.checks import reported
from runtime.sql import fetch


class Finding(NamedTuple):
    title: str
    query: str
    say: Callable[[Mapping[str, Any]], str]


async def findings(checks: Sequence[Finding]) -> list[str]:
    """Every problem the checks' queries find, titled."""
    conn = connections.get("default")
    problems: list[str] = []
    for check in checks:
        rows = await fetch(conn, check.query)
        problems += reported(check.title, [check.say(r) for r in rows])
    return problems


def account(kind: str, column: str, balance: str = "") -> str:
    """SQL for the account name of ``kind`` (member, queue, store) whose id is ``column``."""
    suffix = f" || ':{balance}'" if balance else ""
    return f"'{kind}:' || CAST({column} AS VARCHAR(20)){suffix}"


def key(prefix: str, column: str) -> str:
    """SQL for a posting key ``<prefix>:<id>``."""
    return f"'{prefix}:' || CAST({column} AS VARCHAR(20))"
