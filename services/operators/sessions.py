"""Operators' browser logins: a password checked against its Argon2 hash, a lockout after
repeated failures, and sessions kept in the database (table ``operator_session``) — so they
survive a restart and work in every server process — ending when idle too long, when too old,
at logout, or when the operator is disabled or gets a new password.

The cookie carries a random secret; the row is keyed by its SHA-256. Each session has its own
CSRF token (a synchronizer token: the server keeps it and compares what the console sends back
in ``X-CSRF-Token``). A session's ``last_seen_at`` is written at most once a minute.

Lockout (per account; the per-address limit is the edge's, ``runtime.ratelimit``):
``login_max_failures`` wrong passwords within ``login_failure_window_minutes`` lock the account
for ``lockout_minutes``; while locked, no password is checked. A login that succeeds forgets
the failures. An unknown name costs the same Argon2 work as a wrong password and is answered the
same, so names cannot be probed.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tortoise.transactions import in_transaction

from models import Operator, OperatorSession
from runtime.config import AuthSettings
from services.operators.passwords import hash_password, verify

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Policy:
    idle: timedelta
    absolute: timedelta
    max_failures: int
    failure_window: timedelta
    lockout: timedelta

    @classmethod
    def of(cls, auth: AuthSettings) -> Policy:
        return cls(
            idle=timedelta(minutes=auth.session_idle_minutes),
            absolute=timedelta(hours=auth.session_absolute_hours),
            max_failures=auth.login_max_failures,
            failure_window=timedelta(minutes=auth.login_failure_window_minutes),
            lockout=timedelta(minutes=auth.lockout_minutes),
        )


@dataclass(frozen=True)
class Session:
    """A signed-in operator, as a request sees them."""

    session_id: str  # the row's key (the secret's hash)
    operator: str
    role: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class NewSession:
    secret: str  # for the cookie; never stored
    session: Session


class LoginRefused(Exception):
    """``reason``: ``invalid`` (wrong name or password), ``locked`` (for ``retry_after``
    seconds) or ``disabled``."""

    def __init__(self, reason: Literal["invalid", "locked", "disabled"], retry_after: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SessionRefused(Exception):
    """``reason``: ``unknown`` (no such session: logged out, ended) or ``expired``."""

    def __init__(self, reason: Literal["unknown", "expired"]):
        super().__init__(reason)
        self.reason = reason


def session_id_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


async def log_in(
    name: str, password: str, *, address: str, now: datetime, policy: Policy
) -> NewSession:
    operator = await Operator.get_or_none(name=name)
    if operator is not None and operator.locked_until is not None and operator.locked_until > now:
        raise LoginRefused("locked", _seconds(operator.locked_until - now))
    checked = await asyncio.to_thread(
        verify, operator.password_hash if operator else None, password
    )
    if operator is None:
        raise LoginRefused("invalid")
    if not checked.ok:
        locked_until = await _count_failure(operator.id, now, policy)
        if locked_until is not None:
            raise LoginRefused("locked", _seconds(locked_until - now))
        raise LoginRefused("invalid")
    if operator.disabled:
        raise LoginRefused("disabled")
    rehashed = await asyncio.to_thread(hash_password, password) if checked.needs_rehash else None
    return await _open_session(operator, rehashed, address=address, now=now, policy=policy)


async def _open_session(
    operator: Operator, rehashed: str | None, *, address: str, now: datetime, policy: Policy
) -> NewSession:
    secret = secrets.token_urlsafe(32)
    fields: dict[str, object] = {
        "failed_logins": 0,
        "failed_since": None,
        "locked_until": None,
        "last_login_at": now,
    }
    if rehashed is not None:  # the hash was made with other parameters than today's
        fields["password_hash"] = rehashed
    async with in_transaction() as conn:
        await Operator.filter(id=operator.id).using_db(conn).update(**fields)
        await (
            OperatorSession.filter(operator_id=operator.id, created_at__lte=now - policy.absolute)
            .using_db(conn)
            .delete()
        )  # the operator's ended sessions go with each login
        row = await OperatorSession.create(
            id=session_id_of(secret),
            operator_id=operator.id,
            csrf_token=secrets.token_urlsafe(32),
            address=address[:64],
            created_at=now,
            last_seen_at=now,
            using_db=conn,
        )
    session = Session(row.id, operator.name, operator.role, row.csrf_token, now, now)
    return NewSession(secret, session)


async def _count_failure(operator_id: int, now: datetime, policy: Policy) -> datetime | None:
    """Count a wrong password; the lock's end when this one locks the account."""
    async with in_transaction() as conn:
        operator = await Operator.filter(id=operator_id).using_db(conn).select_for_update().get()
        window_open = (
            operator.failed_since is not None
            and operator.failed_since > now - policy.failure_window
        )
        failures = operator.failed_logins + 1 if window_open else 1
        since = operator.failed_since if window_open else now
        locked_until = now + policy.lockout if failures >= policy.max_failures else None
        if locked_until is not None:
            failures, since = 0, None
        await (
            Operator.filter(id=operator_id)
            .using_db(conn)
            .update(failed_logins=failures, failed_since=since, locked_until=locked_until)
        )
    return locked_until


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


async def resolve(secret: str, *, now: datetime, policy: Policy) -> Session:
    """The live session the cookie's ``secret`` names; ``SessionRefused`` otherwise (an ended
    one is deleted)."""
    if not secret or len(secret) > 128:
        raise SessionRefused("unknown")
    session_id = session_id_of(secret)
    row = await OperatorSession.filter(id=session_id).select_related("operator").first()
    if row is None or row.operator.disabled:
        raise SessionRefused("unknown")
    if now - row.last_seen_at >= policy.idle or now - row.created_at >= policy.absolute:
        await OperatorSession.filter(id=session_id).delete()
        raise SessionRefused("expired")
    seen = row.last_seen_at
    if now - seen >= TOUCH_EVERY:
        await OperatorSession.filter(id=session_id).update(last_seen_at=now)
        seen = now
    operator = row.operator
    return Session(session_id, operator.name, operator.role, row.csrf_token, row.created_at, seen)


async def log_out(session_id: str) -> None:
    await OperatorSession.filter(id=session_id).delete()
