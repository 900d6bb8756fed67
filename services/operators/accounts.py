"""Operator accounts as the command line manages them: add, new password, disable / enable, new
role, list. Each change is one transaction with its row of the operation log (section
``operator``) and invalidates the cached token grants (``cache``): a disabled operator's tokens
stop at the next request in every process. Disabling an operator or changing their password
ends their sessions."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from models import Operator, OperatorSession
from services.audit import record
from services.errors import Conflict, InvalidField, NotFound
from services.operators.cache import TOKENS, changing
from services.operators.passwords import hash_password
from services.operators.roles import Role

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,31}")  # no ':' — never like "cli:…" in the log
NAME_RULE = "2–32 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"


def name_problem(name: str) -> str | None:
    return None if NAME.fullmatch(name) else f"an operator name is {NAME_RULE}"


async def add_operator(name: str, role: Role, password: str, *, by: str, now: datetime) -> Operator:
    if name_problem(name):
        raise InvalidField("运营账号名称格式不正确", field="name")
    password_hash = await asyncio.to_thread(hash_password, password)
    async with changing(TOKENS) as conn:
        if await Operator.filter(name=name).using_db(conn).exists():
            raise Conflict(f"运营账号 {name} 已存在", field="name")
        operator = await Operator.create(
            name=name,
            role=role.value,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        await record(
            conn, operator=by, section="operator", now=now, target=name, new={"role": role.value}
        )
    return operator


async def set_password(name: str, password: str, *, by: str, now: datetime) -> None:
    """A new password; the lockout is lifted and the operator's sessions end."""
    password_hash = await asyncio.to_thread(hash_password, password)
    await _change(
        name,
        by=by,
        now=now,
        new={"password": "changed"},
        password_hash=password_hash,
        failed_logins=0,
        failed_since=None,
        locked_until=None,
    )


async def set_disabled(name: str, disabled: bool, *, by: str, now: datetime) -> None:
    await _change(name, by=by, now=now, new={"disabled": disabled}, disabled=disabled)


async def set_role(name: str, role: Role, *, by: str, now: datetime) -> None:
    await _change(name, by=by, now=now, new={"role": role.value}, role=role.value)


async def _change(
    name: str, *, by: str, now: datetime, new: dict[str, object], **fields: object
) -> None:
    async with changing(TOKENS) as conn:
        operator = await Operator.filter(name=name).using_db(conn).select_for_update().first()
        if operator is None:
            raise NotFound(f"运营账号 {name} 不存在", field="name")
        old = {key: getattr(operator, key) for key in new if hasattr(operator, key)}
        await Operator.filter(id=operator.id).using_db(conn).update(updated_at=now, **fields)
        if "password_hash" in fields or fields.get("disabled") is True:
            await OperatorSession.filter(operator_id=operator.id).using_db(conn).delete()
        await record(
            conn, operator=by, section="operator", now=now, target=name, old=old or None, new=new
        )


async def list_operators() -> list[Operator]:
    return await Operator.all().order_by("name")
