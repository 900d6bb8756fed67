"""工会排队 over HTTP (issue 22, the parts people see): a member reads their pool entries —
position, what is ahead, acceleration received, the estimate and its basis beside every page —
and never anyone else's; operators page through the pool's queue in order, filtered by status
and member. Both lists page as every list does (``tests/api/test_api_paging.py``)."""

from __future__ import annotations

from models import Member, PoolEntry
from services.clock import utcnow
from services.pool.close import close_day
from tests.api.conftest import Api, bearer
from tests.api.test_api_merchant_member import token_of
from tests.api.test_api_paging import beside, ids, walk
from tests.services.test_pool_views import a_pool
from tests.services.test_union_pool import DAY, bought

MINE = "/api/me/union-pool"
ENTRIES = "/api/admin/union-pool/entries"


async def test_a_member_reads_their_pool_entries_page_by_page(api: Api) -> None:
    pool = await a_pool(utcnow())
    ref = await Member.get(id=pool["ref"])
    for _ in range(3):
        await bought(ref, 500, cost=500, now=utcnow())
    me = token_of(api, ref.id)
    expected = await PoolEntry.filter(member_id=ref.id).order_by("-id").values_list("id", flat=True)
    for limit in (1, 2, 5):  # 5: the entries fill the only page exactly
        items, pages = await walk(api, MINE, me, limit=limit)
        assert ids(items) == expected
        assert all(b == beside(pages)[0] for b in beside(pages))
    assert beside(pages)[0]["inflow_per_day_fen"] > 0 and "估计" in beside(pages)[0]["note"]
    oldest = items[-1]
    assert (oldest["id"], oldest["position"], oldest["ahead_fen"]) == (pool["first"], 1, 0)
    assert (oldest["accelerated_in_fen"], oldest["owed_fen"]) == (200, 900)
    assert [e["position"] for e in items] == [8, 7, 6, 3, 1]  # other's and the funder's between

    await close_day(DAY, utcnow())
    waiting, _ = await walk(api, f"{MINE}?status=waiting", me, limit=2)
    assert pool["first"] not in ids(waiting) and len(waiting) == 4
    paid, _ = await walk(api, f"{MINE}?status=paid", me, limit=2)
    assert ids(paid) == [pool["first"]] and paid[0]["position"] is None

    others, _ = await walk(api, MINE, token_of(api, pool["other"]), limit=5)
    assert len(others) == 1 and others[0]["quota_fen"] == 2_200
    response = await api.client.get(f"{MINE}?status=done", headers=me)
    assert (response.status, (await response.json())["field"]) == (400, "status")
    assert (await api.client.get(MINE)).status == 401


async def test_operators_page_through_the_pool_queue_in_order(api: Api) -> None:
    pool = await a_pool(utcnow())
    admin = bearer(api.admin_token())
    every, _ = await walk(api, ENTRIES, admin, limit=2)
    assert ids(every) == await PoolEntry.all().order_by("id").values_list("id", flat=True)
    assert [e["position"] for e in every] == [1, 2, 3, 4, 5]
    await close_day(DAY, utcnow())
    waiting, _ = await walk(api, f"{ENTRIES}?status=waiting", admin, limit=3)
    assert [e["position"] for e in waiting] == [1, 2, 3, 4]
    refs, _ = await walk(api, f"{ENTRIES}?member_id={pool['ref']}", admin, limit=1)
    assert [(e["id"], e["status"], e["position"]) for e in refs] == [
        (pool["first"], "paid", None), (pool["second"], "waiting", 2),
    ]  # fmt: skip
    for query, field in (("status=gone", "status"), ("member_id=0", "member_id")):
        response = await api.client.get(f"{ENTRIES}?{query}", headers=admin)
        assert (response.status, (await response.json())["field"]) == (400, field)
