"""API tokens issued to operators (``queue-rebate operator token issue``): a row per token, named
inside the signed token (its subject is ``token:<id>``, ``subject_of``), checked on every request
through the process's cache (``cache``) — so a revoked token, or one whose operator is disabled,
is refused at its next request in every process. Signing is the caller's (``web.auth``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import connections

from models import Operator, OperatorToken
from runtime.sql import is_pg
from services.audit import record
from services.errors import NotFound
from services.operators.cache import OPERATORS, changing, token_key

SUBJECT_PREFIX = "token:"


@dataclass(frozen=True)
class TokenGrant:
    """What a token lets its bearer be, as of the last change."""

    token_id: str
    operator: str
    role: str
    revoked: bool
    disabled: bool  # its operator is


def subject_of(token_id: str) -> str:
    return f"{SUBJECT_PREFIX}{token_id}"


def token_id_of(subject: str) -> str | None:
    """The token id a signed subject names, or None for a token issued to no account."""
    return subject[len(SUBJECT_PREFIX) :] if subject.startswith(SUBJECT_PREFIX) else None


async def issue(name: str, *, ttl: timedelta, label: str, by: str, now: datetime) -> OperatorToken:
    """A new token row for operator ``name`` (the caller signs ``subject_of(row.id)``)."""
    async with changing() as conn:
        operator = await Operator.filter(name=name).using_db(conn).first()
        if operator is None:
            raise NotFound(f"运营账号 {name} 不存在", field="name")
        token = await OperatorToken.create(
            id=secrets.token_hex(8),
            operator_id=operator.id,
            label=label,
            created_at=now,
            expires_at=now + ttl,
            using_db=conn,
        )
        await record(
            conn,
            operator=by,
            section="operator",
            now=now,
            target=name,
            new={"token": token.id, "expires_at": token.expires_at.isoformat()},
        )
    return token


async def revoke(token_id: str, *, by: str, now: datetime) -> OperatorToken:
    """Revoke a token (again: nothing changes)."""
    async with changing(token_key(token_id)) as conn:
        token = await OperatorToken.filter(id=token_id).using_db(conn).select_for_update().first()
        if token is None:
            raise NotFound(f"令牌 {token_id} 不存在", field="token_id")
        if token.revoked_at is None:
            token.revoked_at = now
            await OperatorToken.filter(id=token_id).using_db(conn).update(revoked_at=now)
            owner = await Operator.get(id=token.operator_id).using_db(conn)  # type: ignore[attr-defined]
            await record(
                conn,
                operator=by,
                section="operator",
                now=now,
                target=owner.name,
                new={"revoked_token": token_id},
            )
    return token


async def grant_of(token_id: str) -> TokenGrant | None:
    """The token's grant (cached), or None when no such token was issued."""

    async def load() -> TokenGrant | None:
        token = await OperatorToken.filter(id=token_id).select_related("operator").first()
        if token is None:
            return None
        return TokenGrant(
            token_id=token.id,
            operator=token.operator.name,
            role=token.operator.role,
            revoked=token.revoked_at is not None,
            disabled=token.operator.disabled,
        )

    if len(token_id) > 32:
        return None
    if not is_pg(connections.get("default")):  # no NOTIFY would tell of the CLI's revocation
        return await load()
    return await OPERATORS.get(token_key(token_id), load)


async def list_tokens(name: str | None) -> list[OperatorToken]:
    query = OperatorToken.all().select_related("operator").order_by("-created_at")
    if name is not None:
        query = query.filter(operator__name=name)
    return await query
