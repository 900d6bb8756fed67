"""随机返: new entries are taken in consecutive groups; in each group exactly ``points_places``
entries, chosen uniformly at random, become points at once (SPEC §6)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rebate.settings import RandomReturn


class RandomSource(Protocol):
    """What the engine needs of a random source: ``secrets.SystemRandom()`` fits."""

    def sample(self, population: Sequence[int], k: int) -> list[int]: ...

    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[int]) -> int: ...


@dataclass(frozen=True)
class GroupCursor:
    """Where a queue is inside its current random-return group."""

    size: int = 0
    points_slots: frozenset[int] = frozenset()
    index: int = 0


def next_place(
    cursor: GroupCursor, config: RandomReturn, rng: RandomSource
) -> tuple[bool, GroupCursor]:
    """Decide whether the next new entry is a points place; return it and the moved cursor.

    A group starts afresh when the previous one is full or the group size was reconfigured.
    """
    if cursor.index == 0 or cursor.size != config.group_size:
        slots = frozenset(rng.sample(range(config.group_size), config.points_places))
        cursor = GroupCursor(config.group_size, slots, 0)
    is_points = cursor.index in cursor.points_slots
    index = (cursor.index + 1) % cursor.size
    return is_points, GroupCursor(cursor.size, cursor.points_slots, index)
