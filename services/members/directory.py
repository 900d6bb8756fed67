"""Members as operators look them up (会员): a search by id, nickname, referral code or openid,
and one member's card — profile, level, team level (团队等级), referrer and wallet (the same balances the member reads,
``services.members.views.my_wallet``). Their statement is ``views.my_ledger``."""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from models import Member, TeamStanding
from services.errors import NotFound
from services.members.views import my_wallet
from services.paging import Page, page_by_id

MAX_QUERY_CHARS = 64


def member_json(m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "nickname": m.nickname,
        "avatar_url": m.avatar_url,
        "level": m.level,
        "referral_code": m.referral_code,
        "referrer_id": m.referrer_id,  # type: ignore[attr-defined]
        "created_at": m.created_at.isoformat(),
    }


async def search_members(text: str | None, *, cursor: int | None, limit: int) -> Page[Member]:
    """Newest first; ``text`` matches an id or referral code or openid exactly, or is part of
    a nickname (None: every member)."""
    query = Member.all()
    if text:
        query = query.filter(_matching(text))
    return await page_by_id(query, cursor=cursor, limit=limit)


def _matching(text: str) -> Q:
    """Only what could match: a code or openid longer than its column is none (and the ORM
    refuses to compare one)."""
    match = Q(nickname__icontains=text)
    for column in ("referral_code", "openid"):
        if len(text) <= Member._meta.fields_map[column].max_length:  # type: ignore[attr-defined]
            match |= Q(**{column: text})
    if text.isdecimal() and len(text) < 19:  # an id: a bigint
        match |= Q(id=int(text))
    return match


async def require_member(member_id: int) -> Member:
    member = await Member.get_or_none(id=member_id)
    if member is None:
        raise NotFound("会员不存在", field="id")
    return member


async def member_card(member_id: int) -> dict[str, Any]:
    member = await require_member(member_id)
    standing = await TeamStanding.get_or_none(member_id=member_id)
    return {
        "member": {**member_json(member), "team_level": standing.level if standing else 0},
        "wallet": await my_wallet(member_id),
    }
