"""Small builders shared by the storage tests."""

import random
from datetime import UTC, datetime, timedelta

from rebate.settings import BaseSettings
from services.settings.base import save_base

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
