"""runtime/pg_codecs.py: the service's timestamptz codec sends and reads exactly what asyncpg's
own does, on the real server."""

from datetime import UTC, date, datetime, timedelta, timezone

import asyncpg
import pytest
from tortoise import connections

from runtime import pg_codecs
from runtime.pg_codecs import decode_timestamptz, encode_timestamptz, install_codecs

pytestmark = pytest.mark.postgres

SHANGHAI = timezone(timedelta(hours=8))
VALUES = [
    datetime(2026, 12, 4, 18, 51, 48, 123_456, tzinfo=UTC),
    datetime(2026, 12, 5, 2, 51, 48, 123_456, tzinfo=SHANGHAI),  # the same instant
    datetime(2026, 6, 1, 9, 30, tzinfo=SHANGHAI),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # before PostgreSQL's epoch
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 12, 4, 8, 0, 0),  # naive: local time, for both codecs
    date(2026, 12, 4),  # local midnight
    datetime.max,  # 'infinity'
    datetime.min,  # '-infinity'
]


async def connect(url: str, *, ours: bool) -> asyncpg.Connection:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    if ours:
        await install_codecs(conn)
    return conn


async def test_sends_the_same_bits_and_reads_the_same_values_as_asyncpg(pg_url):
    theirs, ours = await connect(pg_url, ours=False), await connect(pg_url, ours=True)
    try:
        for value in VALUES:
            query = "SELECT timestamptz_send($1::timestamptz)"
            assert await ours.fetchval(query, value) == await theirs.fetchval(query, value), value
        await theirs.execute("CREATE TABLE stamps (n int, at timestamptz)")
        await theirs.copy_records_to_table("stamps", records=list(enumerate(VALUES)))
        await ours.copy_records_to_table("stamps", records=list(enumerate(VALUES)))
        rows = await theirs.fetch(
            "SELECT n, array_agg(timestamptz_send(at)) AS sent FROM stamps GROUP BY n"
        )
        assert all(len(set(r["sent"])) == 1 for r in rows)  # both COPYs stored the same

        query = "SELECT at FROM stamps ORDER BY n, at"
        expected, got = await theirs.fetch(query), await ours.fetch(query)
        for a, b in zip(expected, got, strict=True):
            assert b["at"] == a["at"] and b["at"].tzinfo == a["at"].tzinfo
        assert datetime.max in [r["at"] for r in got] and datetime.min in [r["at"] for r in got]
    finally:
        await theirs.close()
        await ours.close()


def test_an_instant_is_converted_once_and_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(pg_codecs, "CACHE_LIMIT", 4)
    pg_codecs._encoded.clear()
    now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert encode_timestamptz(now) is encode_timestamptz(now)  # the kept tuple
    assert encode_timestamptz(now) == (filled := pg_codecs._encoded[now])
    assert filled == ((now - datetime(2000, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),)
    for minutes in range(10):
        encode_timestamptz(now + timedelta(minutes=minutes))
        assert len(pg_codecs._encoded) <= 4
    naive = datetime(2026, 12, 4, 8, 0)
    encode_timestamptz(naive)
    assert naive not in pg_codecs._encoded  # its meaning follows the process's time zone
    assert decode_timestamptz(encode_timestamptz(now)) == now


def test_refuses_what_asyncpg_refuses():
    with pytest.raises(TypeError, match=r"datetime\.date or datetime\.datetime"):
        encode_timestamptz("2026-12-04")


async def test_the_orm_connections_use_it(pg):
    stamp = datetime(2031, 5, 6, 7, 8, 9, 101_112, tzinfo=UTC)
    pg_codecs._encoded.clear()
    rows = await connections.get("default").execute_query_dict(
        "SELECT $1::timestamptz AS at, timestamptz_send($1::timestamptz) AS sent", [stamp]
    )
    assert stamp in pg_codecs._encoded  # sent through this module's encoder
    assert rows[0]["at"] == stamp
    assert rows[0]["sent"] == (pg_codecs._encoded[stamp][0]).to_bytes(8, "big", signed=True)
