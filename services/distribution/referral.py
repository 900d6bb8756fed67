"""Members arriving from the mini-program, and the referrer binding (SPEC §8).

Binding rule: a member has at most one referrer. It is bound the first time the member arrives
through a referral code (login with ``referral_code``, from a shared QR's ``scene``) while they
have none yet — on their first login, or on a later one if they first came without a code. It
is never the member themselves, never forms a cycle (the referrer's chain of referrers must not
contain the member), and is never changed once set. A refused binding refuses nothing else:
the login still succeeds, and the outcome is logged.

Concurrency: two members binding to each other at the same moment could each pass the cycle
check before the other commits. On PostgreSQL every binding of an existing member therefore
takes one transaction-level advisory lock (bindings are rare); SQLite serialises writers itself.
A new member is bound as their row is inserted, without the lock: nobody can have bound to a
member whose referral code did not exist yet, so no cycle can pass through them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Member
from runtime.sql import execute, fetch, is_pg
from services.members.accounts import insert_member

log = logging.getLogger(__name__)

REFERRAL_LOCK = 0x51_52_52_45_46  # pg_advisory_xact_lock key: "QRREF"
MAX_CHAIN = 100_000  # bounds the walk even if the data already holds a cycle
MAX_CODE_CHARS = 16


class Binding(StrEnum):
    BOUND = "bound"
    ALREADY_BOUND = "already_bound"  # never changed once set
    UNKNOWN_CODE = "unknown_code"
    SELF = "self"
    CYCLE = "cycle"


@dataclass(frozen=True)
class Arrival:
    member: Member
    created: bool
    binding: Binding | None  # None: no referral code came with this arrival


def normalise_code(code: str) -> str:
    return code.strip().upper()


async def member_arrives(
    openid: str, *, unionid: str | None = None, referral_code: str | None = None
) -> Arrival:
    """Find the member by openid or create them (empty wallet, own referral code), then bind
    the referrer if a code came along. Safe against two first logins at once.

    A member seen before costs one read, plus one transaction only when there is something to
    write; a new member is one transaction (with the referrer bound in it: nobody can be below
    a member who did not exist, so no cycle check or lock is needed)."""
    code = normalise_code(referral_code) if referral_code else None
    member = await Member.get_or_none(openid=openid)
    if member is None:
        try:
            return await _first_arrival(openid, unionid, code)
        except IntegrityError:  # the same person's other first login won the race
            member = await Member.get(openid=openid)
    if unionid and not member.unionid:
        member.unionid = unionid
        await member.save(update_fields=["unionid"])
    binding = None
    if code is not None:
        binding, referrer_id = await _bind_again(member, code)
        if binding == Binding.BOUND:
            member.referrer_id = referrer_id
    return Arrival(member, False, binding)


async def _first_arrival(openid: str, unionid: str | None, code: str | None) -> Arrival:
    async with in_transaction() as conn:
        referrer_id = await _owner_of(conn, code) if code and len(code) <= MAX_CODE_CHARS else None
        member = await insert_member(conn, openid, unionid=unionid, referrer_id=referrer_id)
    binding = None
    if code is not None:
        binding = Binding.BOUND if referrer_id is not None else Binding.UNKNOWN_CODE
        _log_binding(member.id, code, binding)
    return Arrival(member, True, binding)


async def _bind_again(member: Member, code: str) -> tuple[Binding, int | None]:
    """A known member's code: what the member row already says needs no transaction."""
    if member.referrer_id is not None:  # type: ignore[attr-defined]
        binding = Binding.ALREADY_BOUND
    elif code == member.referral_code:
        binding = Binding.SELF
    else:
        return await _bind(member.id, code)
    _log_binding(member.id, code, binding)
    return binding, None


async def bind_referrer(member_id: int, referral_code: str) -> Binding:
    """Bind the owner of ``referral_code`` as the member's referrer, if SPEC §8 allows it."""
    binding, _ = await _bind(member_id, normalise_code(referral_code))
    return binding


async def _bind(member_id: int, code: str) -> tuple[Binding, int | None]:
    """The binding and the referrer bound (None when refused)."""
    referrer_id = None
    async with in_transaction() as conn:
        if is_pg(conn):
            await execute(conn, "SELECT pg_advisory_xact_lock($1)", [REFERRAL_LOCK])
        rows = await fetch(conn, "SELECT referrer_id FROM member WHERE id = $1", [member_id])
        if not rows:
            raise LookupError(f"member {member_id} does not exist")
        outcome, referrer_id = await _refusal(conn, member_id, rows[0]["referrer_id"], code)
        if outcome is None:
            assert referrer_id is not None
            changed = await execute(
                conn,
                "UPDATE member SET referrer_id = $1 WHERE id = $2 AND referrer_id IS NULL",
                [referrer_id, member_id],
            )
            outcome = Binding.BOUND if changed else Binding.ALREADY_BOUND
    _log_binding(member_id, code, outcome)
    return outcome, referrer_id if outcome == Binding.BOUND else None


def _log_binding(member_id: int, code: str, outcome: Binding) -> None:
    if outcome == Binding.BOUND:
        log.info("member %s bound to referrer code %s", member_id, code)
    else:
        log.info("referral code %s not bound for member %s: %s", code, member_id, outcome)


async def _refusal(
    conn: BaseDBAsyncClient, member_id: int, current: int | None, code: str
) -> tuple[Binding | None, int | None]:
    """Why the code's owner cannot be bound (None: it can), and the owner."""
    if current is not None:
        return Binding.ALREADY_BOUND, None
    referrer_id = await _owner_of(conn, code) if 0 < len(code) <= MAX_CODE_CHARS else None
    if referrer_id is None:
        return Binding.UNKNOWN_CODE, None
    if referrer_id == member_id:
        return Binding.SELF, referrer_id
    if await _in_chain_of(conn, referrer_id, member_id):
        return Binding.CYCLE, referrer_id
    return None, referrer_id


async def _owner_of(conn: BaseDBAsyncClient, code: str) -> int | None:
    rows = await fetch(conn, "SELECT id FROM member WHERE referral_code = $1", [code])
    return int(rows[0]["id"]) if rows else None


async def _in_chain_of(conn: BaseDBAsyncClient, start_id: int, member_id: int) -> bool:
    """Whether ``member_id`` is ``start_id`` or one of its referrers, however far up."""
    rows = await fetch(
        conn,
        """
        WITH RECURSIVE chain(id, referrer_id, depth) AS (
            SELECT id, referrer_id, 0 FROM member WHERE id = $1
            UNION ALL
            SELECT m.id, m.referrer_id, c.depth + 1
            FROM member m JOIN chain c ON m.id = c.referrer_id
            WHERE c.depth < $2
        )
        SELECT 1 AS hit FROM chain WHERE id = $3 LIMIT 1
        """,
        [start_id, MAX_CHAIN, member_id],
    )
    return bool(rows)
