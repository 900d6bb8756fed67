"""Members: created with an empty wallet and their own referral code."""

import secrets

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Member, Wallet

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
