"""Members: created with an empty wallet and their own referral code; their profile
(nickname, avatar) as they edit it."""

import re
import secrets

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Member, Wallet
from services.errors import InvalidField

REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


async def new_member(
    openid: str, *, level: int = 0, nickname: str = "", unionid: str | None = None
) -> Member:
    """A member with an empty wallet and their own referral code."""
    async with in_transaction() as conn:
        return await insert_member(conn, openid, level=level, nickname=nickname, unionid=unionid)


async def insert_member(
    conn: BaseDBAsyncClient,
    openid: str,
    *,
    level: int = 0,
    nickname: str = "",
    unionid: str | None = None,
    referrer_id: int | None = None,
) -> Member:
    """``new_member`` inside the caller's transaction (two statements)."""
    member = await Member.create(
        openid=openid,
        level=level,
        nickname=nickname,
        unionid=unionid,
        referrer_id=referrer_id,
        referral_code=new_referral_code(),
        using_db=conn,
    )
    await Wallet.create(member=member, using_db=conn)
    return member


MAX_NICKNAME = 32  # characters; WeChat's own nicknames are shorter
MAX_AVATAR_URL = 512  # the column's length
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


def _nickname(value: str) -> str:
    nickname = value.strip()
    if not nickname:
        raise InvalidField("nickname 不能为空", field="nickname")
    if len(nickname) > MAX_NICKNAME:
        raise InvalidField(f"nickname 不能超过 {MAX_NICKNAME} 个字符", field="nickname")
    if _CONTROL.search(nickname):
        raise InvalidField("nickname 不能包含控制字符", field="nickname")
    return nickname


def _avatar_url(value: str) -> str:
    if value == "":
        return ""  # no avatar
    if len(value) > MAX_AVATAR_URL:
        raise InvalidField(f"avatar_url 不能超过 {MAX_AVATAR_URL} 个字符", field="avatar_url")
    if _CONTROL.search(value) or not _URL.fullmatch(value):
        raise InvalidField("avatar_url 必须是 http(s) 图片地址", field="avatar_url")
    return value


async def update_profile(
    member_id: int, *, nickname: str | None = None, avatar_url: str | None = None
) -> Member:
    """The member's nickname and / or avatar, checked (see ``_nickname``, ``_avatar_url``);
    a refusal names its field and changes nothing."""
    changes: dict[str, str] = {}
    if nickname is not None:
        changes["nickname"] = _nickname(nickname)
    if avatar_url is not None:
        changes["avatar_url"] = _avatar_url(avatar_url)
    if not changes:
        raise InvalidField("请提供 nickname 或 avatar_url", field="nickname")
    await Member.filter(id=member_id).update(**changes)
    return await Member.get(id=member_id)
