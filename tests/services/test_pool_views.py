"""工会排队's views on SQLite and PostgreSQL (issue 22, the parts people see): a member's pool
entries with their position (1 = paid next), what the entries before them are owed, the
acceleration they received and a projected wait from the pool's balance at its 7-day average
inflow (None once nothing flows in); the operators' list of the pool's queue in order, filtered;
and a page's places read by one windowed query, whatever the page's size."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from models import Member
from rebate.settings import OrderSource
from rebate.union_pool_settings import PoolSettings
from services.members.accounts import new_member
from services.pool.close import close_day
from services.pool.entries import pool_entries
from services.pool.mine import my_pool_entries
from services.pool.settings import store_pool
from services.queues import place as place_module
from services.settings.cache import POOL, changing
from tests.services.helpers import T0
from tests.services.test_union_pool import ALL_PROFIT, DAY, bought
from tests.sql_count import counting

SPEED = PoolSettings(sources=(OrderSource.MALL,), pool_bp=10_000, accel_bp=5_000)


async def a_pool(now: datetime = T0) -> dict[str, int]:
    """ref's two entries around other's, a friend of ref who accelerates ref's oldest, and a
    funder, at ``now``: 2,200 in the balance, all of it flowed in that day."""
    ref, other, friend, funder = [await new_member(n) for n in ("ref", "other", "friend", "fund")]
    await Member.filter(id=friend.id).update(referrer_id=ref.id)
    async with changing(POOL) as conn:
        await store_pool(conn, SPEED)
    first = await bought(
        ref, 1_000, cost=1_000, settings=SPEED, now=now
    )  # quota 1,100, gives nothing
    await bought(other, 2_000, cost=2_000, settings=SPEED, now=now)  # quota 2,200
    second = await bought(ref, 1_000, cost=1_000, settings=SPEED, now=now)  # quota 1,100
    # gives 400: half of it pays down ref's oldest entry at once, 200 into the balance
    await bought(friend, 1_000, cost=600, settings=SPEED, now=now)
    await bought(funder, 2_000, cost=0, settings=SPEED, now=now)  # gives 2,000 (no referrer)
    return {"ref": ref.id, "other": other.id, "first": first.id, "second": second.id}


async def test_a_member_sees_position_amount_ahead_acceleration_and_an_estimate(db: str) -> None:
    pool = await a_pool()
    beside, page = await my_pool_entries(pool["ref"], status=None, now=T0)
    assert beside["inflow_per_day_fen"] == 2_200 // 7 == 314 and "估计" in beside["note"]
    second, first = page.items  # newest first
    assert (first["id"], second["id"]) == (pool["first"], pool["second"])
    assert (first["quota_fen"], first["paid_fen"], first["owed_fen"]) == (1_100, 200, 900)
    assert first["accelerated_in_fen"] == 200 and first["status"] == "waiting"
    assert (first["position"], first["ahead_fen"]) == (1, 0)
    assert first["projected_wait_days"] == 1  # the balance (2,200) covers its 900 now
    assert (second["position"], second["ahead_fen"]) == (3, 900 + 2_200)
    # 4,200 owed through it, 2,200 there: 2,000 short at 314 a day → 7 more closes after the next
    assert second["projected_wait_days"] == 1 + 7
    assert page.next_cursor is None

    await close_day(DAY, T0)  # pays ref's first (900); other's 2,200 does not fit in 1,300
    _, page = await my_pool_entries(pool["ref"], status=None, now=T0)
    second, first = page.items
    assert (first["status"], first["paid_fen"], first["position"]) == ("paid", 1_100, None)
    assert first["projected_wait_days"] is None and first["completed_at"] is not None
    assert (second["position"], second["ahead_fen"]) == (2, 2_200)
    assert second["projected_wait_days"] == 1 + 7  # 3,300 through it, 1,300 there: 2,000 short
    _, waiting = await my_pool_entries(pool["ref"], status="waiting", now=T0)
    assert [e["id"] for e in waiting.items] == [pool["second"]]

    later = T0 + timedelta(days=8)  # nothing flowed in for a week: no estimate
    beside, page = await my_pool_entries(pool["ref"], status="waiting", now=later)
    assert beside["inflow_per_day_fen"] == 0 and page.items[0]["projected_wait_days"] is None
    assert page.items[0]["position"] == 2  # the place is a fact, not an estimate


async def test_the_projected_wait_respects_the_daily_cap(db: str) -> None:
    pool = await a_pool()
    async with changing(POOL) as conn:
        await store_pool(conn, PoolSettings(sources=(OrderSource.MALL,), daily_cap_fen=500))
    _, page = await my_pool_entries(pool["ref"], status="waiting", now=T0)
    second, first = page.items
    assert first["projected_wait_days"] == 2  # 900 at most 500 a close
    assert second["projected_wait_days"] == 9  # 4,200 at 500 a close, slower than the inflow


@pytest.mark.parametrize("marker_every", [512, 2])
async def test_operators_read_the_pool_queue_in_order_with_places(
    db: str, marker_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a marker every 2 waiting entries, places past the first marker add its place."""
    monkeypatch.setattr(place_module, "MARKER_EVERY", marker_every)
    monkeypatch.setattr(place_module, "MARKERS_TTL", 0.0)  # each page reads them afresh
    pool = await a_pool()
    page = await pool_entries(status=None, member_id=None, cursor=None, limit=50)
    assert [e["position"] for e in page.items] == [1, 2, 3, 4, 5]  # oldest first, all waiting
    assert [e["ahead_fen"] for e in page.items] == [0, 900, 3_100, 4_200, 5_300]
    assert page.items[0]["nickname"] is not None and page.items[3]["contribution_fen"] == 400
    await close_day(DAY, T0)
    page = await pool_entries(status=None, member_id=None, cursor=None, limit=50)
    assert [e["status"] for e in page.items] == ["paid"] + ["waiting"] * 4
    assert [e["position"] for e in page.items] == [None, 1, 2, 3, 4]
    mine = await pool_entries(status="waiting", member_id=pool["ref"], cursor=None, limit=50)
    assert [(e["id"], e["position"]) for e in mine.items] == [(pool["second"], 2)]
    first = await pool_entries(status="waiting", member_id=None, cursor=None, limit=2)
    rest = await pool_entries(status="waiting", member_id=None, cursor=first.next_cursor, limit=2)
    assert [e["position"] for e in first.items + rest.items] == [1, 2, 3, 4]


@pytest.mark.postgres
async def test_a_page_reads_its_places_in_one_windowed_query(
    pg: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await new_member("many")
    for _ in range(12):
        await bought(member, 1_000, cost=1_000, settings=ALL_PROFIT)
    await my_pool_entries(member.id, status=None, now=T0, limit=2)  # reads the line's markers
    for limit in (2, 12):
        with counting(monkeypatch) as seen:
            _, page = await my_pool_entries(member.id, status=None, now=T0, limit=limit)
        assert [e["position"] for e in page.items] == list(range(12, 12 - limit, -1))
        pooled = [t for t in seen.texts if "union_pool_entry" in t]
        assert len(pooled) == 3, pooled  # the page, the places (windowed), the inflow
        assert sum("OVER w" in t for t in pooled) == 1
