"""Small builders shared by the storage tests."""

import random
import secrets
from datetime import UTC, datetime, timedelta

from rebate.deduction import Request
from rebate.settings import BaseSettings
from services.settings.base import save_base
from services.wallets.adjustments import adjust_balance

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def tick(self, seconds: int = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def seeded(seed: int = 7) -> random.Random:
    return random.Random(seed)


async def use_base(**changes: object) -> BaseSettings:
    base = BaseSettings(**changes)  # type: ignore[arg-type]
    await save_base(base)
    return base


async def funded(member_id: int, *, points: int = 0, love: int = 0) -> Request:
    """Give the member ``points`` / available ``love`` (an operator's adjustment) and answer
    the deduction that spends them (at the rates of 1 a fen the tests configure)."""
    for balance, amount in (("points", points), ("love_available", love)):
        if amount:
            await adjust_balance(
                member_id, balance=balance, amount=amount, reason="测试", operator="test",
                request_id=secrets.token_hex(8), now=T0,
            )  # fmt: skip
    return Request(points=points, love=love)
