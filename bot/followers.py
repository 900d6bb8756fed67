"""Official-account followers and the member each one is.

Link rule: a follower is a member when the unionid WeChat reports for their official-account
openid equals the member's unionid (from the mini-program login). The subscribe event carries
only the openid, so the unionid is asked of WeChat (``/cgi-bin/user/info``) when they follow,
and again — at most every ``RECHECK`` — while it is still unknown. Unfollowing keeps the row
(``following = False``): nothing is sent to them until they follow again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.wechat_apis import FollowerInfo
from models import Member, OfficialAccountFollower
from wechat.errors import WeChatError

log = logging.getLogger(__name__)

RECHECK = timedelta(minutes=10)

LookUp = Callable[[str], Awaitable[FollowerInfo]]  # openid → what WeChat says about them


async def record_follow(
    openid: str, *, following: bool, now: datetime, look_up: LookUp | None = None
) -> OfficialAccountFollower:
    """The subscribe / unsubscribe event: remember whether ``openid`` follows, and on a
    subscribe ask WeChat for the unionid if it is still unknown."""
    follower = await _row(openid, now)
    follower.following = following
    follower.updated_at = now
    if following and look_up is not None and follower.unionid is None:
        if follower.checked_at < now:  # not asked already for this very message
            await _refresh_unionid(follower, look_up, now)
    await follower.save()
    return follower


async def ensure_follower(
    openid: str, *, now: datetime, look_up: LookUp | None = None
) -> OfficialAccountFollower:
    """The follower row for a message's sender, learning the unionid if still unknown (someone
    who followed before the bot existed has no row until their first message)."""
    follower = await _row(openid, now)
    if follower.unionid is None and look_up is not None and now - follower.checked_at >= RECHECK:
        await _refresh_unionid(follower, look_up, now)
        await follower.save()
    return follower


async def member_of(follower: OfficialAccountFollower) -> Member | None:
    if not follower.unionid:
        return None
    return await Member.filter(unionid=follower.unionid).order_by("id").first()


async def following_openid(member_id: int) -> str | None:
    """The official-account openid to write to ``member_id``, if they follow the account."""
    member = await Member.get_or_none(id=member_id)
    if member is None or not member.unionid:
        return None
    follower = (
        await OfficialAccountFollower.filter(unionid=member.unionid, following=True)
        .order_by("-updated_at")
        .first()
    )
    return follower.openid if follower else None


async def mark_unfollowed(openid: str, now: datetime) -> None:
    """WeChat said 43004 (not following) while we thought they did."""
    await OfficialAccountFollower.filter(openid=openid).update(following=False, updated_at=now)


async def _row(openid: str, now: datetime) -> OfficialAccountFollower:
    follower = await OfficialAccountFollower.get_or_none(openid=openid)
    if follower is not None:
        return follower
    try:  # never checked yet: its unionid is due to be asked now
        return await OfficialAccountFollower.create(
            openid=openid, unionid=None, following=True, checked_at=now - RECHECK, updated_at=now
        )
    except IntegrityError:  # the same follower's other message won the race
        return await OfficialAccountFollower.get(openid=openid)


async def _refresh_unionid(
    follower: OfficialAccountFollower, look_up: LookUp, now: datetime
) -> None:
    follower.checked_at = now
    try:
        info = await look_up(follower.openid)
    except WeChatError as exc:
        log.warning("user/info for a follower failed: %r", exc)
        return
    if info.unionid:
        follower.unionid = info.unionid
