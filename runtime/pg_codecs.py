"""A cheaper ``timestamptz`` encoder for every asyncpg connection the service opens (issue 3).

asyncpg's own encoder converts each datetime it sends from scratch: it compares it with two
"infinity" datetimes (an aware datetime against a naive one calls the time zone's ``utcoffset``
each time), converts it to UTC and subtracts PostgreSQL's epoch — about 1.7 µs of the client's
CPU per value. The queue writer sends the same batch time ``now`` in every row it copies (an
entry's ``created_at`` and ``updated_at``, an extraction's, each payout's and each outbox
event's), several times per order, so that conversion was ~18 % of the settling process's CPU.

Here the conversion is the same, but its result is kept per datetime value: an instant already
seen costs one dictionary lookup (a datetime caches its own hash, and an identical object is
found by identity). What PostgreSQL receives is unchanged, bit for bit — the tests compare
both codecs — and values read come back as asyncpg returns them (aware, in UTC; infinities as
asyncpg's naive ``datetime.max`` / ``datetime.min``), decoded in Python instead of C.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
# What asyncpg maps to PostgreSQL's 'infinity' and '-infinity' (naive, both ways).
INFINITY = datetime.max
NEGATIVE_INFINITY = datetime.min
PG_INFINITY = 0x7FFF_FFFF_FFFF_FFFF
PG_NEGATIVE_INFINITY = -0x8000_0000_0000_0000
CACHE_LIMIT = 1_024  # distinct instants kept; the writer needs one per batch


def micros_since_pg_epoch(value: Any) -> int:
    """The ``timestamptz`` asyncpg would send for ``value``: microseconds since 2000-01-01 UTC.
    Naive datetimes are local time and a date is local midnight, as asyncpg reads them."""
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise TypeError(
                f"expected a datetime.date or datetime.datetime instance, got {type(value).__name__!r}"
            )
        value = datetime(value.year, value.month, value.day).astimezone()
    if value.tzinfo is None:
        if value == INFINITY:
            return PG_INFINITY
        if value == NEGATIVE_INFINITY:
            return PG_NEGATIVE_INFINITY
    return (value.astimezone(UTC) - PG_EPOCH) // ONE_MICROSECOND


class _Encoded(dict[Any, tuple[int]]):
    """Aware datetime → asyncpg's tuple form of its timestamptz, filled on first use."""

    def __missing__(self, value: Any) -> tuple[int]:
        encoded = (micros_since_pg_epoch(value),)
        # Only aware datetimes are kept: a naive one's meaning follows the process's time zone.
        if isinstance(value, datetime) and value.tzinfo is not None:
            if len(self) >= CACHE_LIMIT:
                self.clear()
            self[value] = encoded
        return encoded


_encoded = _Encoded()
encode_timestamptz = _encoded.__getitem__


def decode_timestamptz(value: tuple[int]) -> datetime:
    micros = value[0]
    if micros == PG_INFINITY:
        return INFINITY
    if micros == PG_NEGATIVE_INFINITY:
        return NEGATIVE_INFINITY
    return PG_EPOCH + timedelta(microseconds=micros)


async def install_codecs(conn: asyncpg.Connection) -> None:
    """Use these codecs on ``conn`` (an asyncpg pool's ``init``, or after ``asyncpg.connect``)."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=encode_timestamptz,
        decoder=decode_timestamptz,
        format="tuple",
    )
