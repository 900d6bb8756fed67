"""What the console reads beyond the older admin endpoints: the dashboard's day series, members
searched and read with their wallet and statement, a queue's entries in order with their places,
orders and merchants' statements. Refusals name the parameter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models import Entry, Extraction, Member, Order, Queue, Statement
from services.members.accounts import new_member
from services.merchants.settlement import close_statements
from tests.api.conftest import Api, bearer
from tests.api.test_api_admin_adjustments import ADJUST, post_adjustment
from tests.api.test_api_member_entries import buy, lottery_base, member, recent_clock
from tests.distribution.support import approved_store, base_rules, configure, days, pay_cashier
from tests.services.helpers import T0, Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def admin_get(api: Api, path: str) -> tuple[int, Any]:
    response = await api.client.get(path, headers=bearer(api.admin_token()))
    return response.status, await response.json()


async def three_orders(api: Api) -> list[int]:
    """10% extraction, 100% reward: 100, 300 and 1000 元 — the first entry is paid in full by
    the third order (its own 10 元 found nobody before it). The buyers' ids."""
    await lottery_base()
    clock = recent_clock()
    buyers = [(await member(api, f"买家{n}"))[0] for n in "甲乙丙"]
    for buyer, price in zip(buyers, (10_000, 30_000, 100_000), strict=True):
        await buy(buyer, price, clock)
    return buyers


async def test_the_daily_series_counts_each_day_and_walks_the_depth_back(api: Api) -> None:
    first, _, _ = await three_orders(api)
    # the first order, its extraction and its entry two days earlier
    order = await Order.get(member_id=first)
    earlier = timedelta(days=2)
    assert order.paid_at is not None
    await Order.filter(id=order.id).update(paid_at=order.paid_at - earlier)
    extraction = await Extraction.get(order_id=order.id)
    await Extraction.filter(id=extraction.id).update(created_at=extraction.created_at - earlier)
    entry = await Entry.get(order_id=order.id)
    await Entry.filter(id=entry.id).update(created_at=entry.created_at - earlier)

    status, data = await admin_get(api, "/api/admin/dashboard/daily?days=3")
    assert status == 200, data
    days = data["days"]
    assert [d["orders"] for d in days] == [1, 0, 2]
    assert [d["orders_paid_fen"] for d in days] == [10_000, 0, 130_000]
    assert [d["extracted_fen"] for d in days] == [1_000, 0, 13_000]
    assert [d["paid_fen"] for d in days] == [0, 0, 13_000]
    assert [d["unallocated_fen"] for d in days] == [1_000, 0, 0]
    assert [d["withheld_fen"] for d in days] == [0, 0, 0]
    assert [(d["joined"], d["left"]) for d in days] == [(1, 0), (0, 0), (2, 1)]
    assert [d["depth"] for d in days] == [1, 1, 2]  # the first entry was paid in full today
    assert days[-1]["day"] > days[0]["day"]

    status, default = await admin_get(api, "/api/admin/dashboard/daily")
    assert status == 200 and len(default["days"]) == 30
    for bad in ("0", "91", "x"):
        status, error = await admin_get(api, f"/api/admin/dashboard/daily?days={bad}")
        assert status == 400 and error["field"] == "days", (bad, error)


async def test_members_are_searched_and_read_with_their_wallet_and_statement(api: Api) -> None:
    buyers = await three_orders(api)
    wanted = await Member.get(id=buyers[1])
    status, found = await admin_get(api, "/api/admin/members?q=买家乙")
    assert status == 200 and [m["id"] for m in found["items"]] == [wanted.id]
    for text in (str(wanted.id), wanted.referral_code, wanted.openid):
        status, by = await admin_get(api, f"/api/admin/members?q={text}")
        assert status == 200, (text, by)
        assert [m["id"] for m in by["items"]] == [wanted.id], text
    _, everyone = await admin_get(api, "/api/admin/members?limit=2")
    assert [m["id"] for m in everyone["items"]] == buyers[:0:-1]  # newest first
    _, rest = await admin_get(api, f"/api/admin/members?limit=2&cursor={everyone['next_cursor']}")
    assert [m["id"] for m in rest["items"]] == buyers[:1] and rest["next_cursor"] is None

    status, adjusted = await post_adjustment(api, wanted.id, ADJUST)
    assert status == 200, adjusted
    status, card = await admin_get(api, f"/api/admin/members/{wanted.id}")
    assert status == 200, card
    assert (card["member"]["nickname"], card["member"]["referral_code"]) == (
        "买家乙",
        wanted.referral_code,
    )
    assert card["wallet"]["balances"]["cash_fen"] == 3_000 + 2_000  # a payout and the adjustment
    assert card["member"]["level"] == 0 and card["member"]["team_level"] == 0
    status, ledger = await admin_get(api, f"/api/admin/members/{wanted.id}/ledger?asset=cash")
    assert status == 200
    assert [(line["kind"], line["amount"]) for line in ledger["items"]] == [
        ("adjustment", 2_000),
        ("payout", 3_000),
    ]

    for path, field in (
        ("/api/admin/members/999999", "id"),
        ("/api/admin/members/999999/ledger", "id"),
    ):
        status, error = await admin_get(api, path)
        assert status == 404 and error["field"] == field, (path, error)
    status, none = await admin_get(api, "/api/admin/members?q=" + "x" * 64)  # past a code's length
    assert status == 200 and none["items"] == []
    status, error = await admin_get(api, "/api/admin/members?q=" + "x" * 65)
    assert status == 400 and error["field"] == "q"
    status, error = await admin_get(api, f"/api/admin/members/{wanted.id}/ledger?asset=gold")
    assert status == 400 and error["field"] == "asset"


async def test_a_queues_entries_come_in_order_with_their_progress_and_place(api: Api) -> None:
    buyers = await three_orders(api)
    queue = await Queue.get(key="mall")
    base = f"/api/admin/queues/{queue.id}/entries"
    status, every = await admin_get(api, base)
    assert status == 200, every
    assert [
        (e["seq"], e["status"], e["paid_fen"], e["entitlement_fen"]) for e in every["items"]
    ] == [
        (1, "completed", 10_000, 10_000),
        (2, "waiting", 3_000, 30_000),
        (3, "waiting", 0, 100_000),
    ]
    assert [e["ahead"] for e in every["items"]] == [None, 0, 1]
    assert [e["member_id"] for e in every["items"]] == buyers
    assert every["items"][1]["nickname"] == "买家乙"

    _, waiting = await admin_get(api, f"{base}?status=waiting&limit=1")
    assert [e["seq"] for e in waiting["items"]] == [2]
    _, after = await admin_get(api, f"{base}?status=waiting&cursor={waiting['next_cursor']}")
    assert [(e["seq"], e["ahead"]) for e in after["items"]] == [(3, 1)]
    _, mine = await admin_get(api, f"{base}?member_id={buyers[2]}")
    assert [e["seq"] for e in mine["items"]] == [3]

    status, error = await admin_get(api, "/api/admin/queues/999999/entries")
    assert status == 404 and error["field"] == "id"
    status, error = await admin_get(api, f"{base}?status=lost")
    assert status == 400 and error["field"] == "status"


async def test_a_queues_entries_filter_by_when_they_joined(api: Api) -> None:
    await three_orders(api)
    queue = await Queue.get(key="mall")
    first = await Entry.get(queue_id=queue.id, seq=1)
    await Entry.filter(id=first.id).update(created_at=first.created_at - timedelta(days=2))
    base = f"/api/admin/queues/{queue.id}/entries"
    then = (first.created_at - timedelta(days=2)).astimezone(SHANGHAI).date()
    _, early = await admin_get(api, f"{base}?to={then.isoformat()}")
    assert [e["seq"] for e in early["items"]] == [1]
    _, late = await admin_get(api, f"{base}?from={(then + timedelta(days=1)).isoformat()}")
    assert [e["seq"] for e in late["items"]] == [2, 3]
    status, error = await admin_get(api, f"{base}?from=2026-12-02&to=2026-12-01")
    assert status == 400 and error["field"] == "to"
    status, error = await admin_get(api, f"{base}?from=yesterday")
    assert status == 400 and error["field"] == "from"


async def test_an_entrys_payouts_are_the_postings_that_paid_it(api: Api) -> None:
    await three_orders(api)
    queue = await Queue.get(key="mall")
    first, second = [await Entry.get(queue_id=queue.id, seq=n) for n in (1, 2)]
    _, paid = await admin_get(api, f"/api/admin/entries/{first.id}/payouts")
    # 乙's 30 元 extraction, then 70 元 of 丙's 100 元 (the rest went to 乙's entry)
    assert [p["amount_fen"] for p in paid["items"]] == [3_000, 7_000]
    orders = [p["order_id"] for p in paid["items"]]
    assert orders == [second.order_id, (await Entry.get(queue_id=queue.id, seq=3)).order_id]  # type: ignore[attr-defined]
    assert all(p["extraction_id"] for p in paid["items"])
    _, page = await admin_get(api, f"/api/admin/entries/{first.id}/payouts?limit=1")
    assert [p["amount_fen"] for p in page["items"]] == [3_000] and page["next_cursor"]
    _, theirs = await admin_get(api, f"/api/admin/entries/{second.id}/payouts")
    assert [p["amount_fen"] for p in theirs["items"]] == [3_000]
    status, error = await admin_get(api, "/api/admin/entries/999999/payouts")
    assert status == 404 and error["field"] == "id"


async def test_orders_are_listed_newest_first_with_their_lines_and_filters(api: Api) -> None:
    buyers = await three_orders(api)
    owner = await new_member("oOwner")
    store = await approved_store(owner.id)
    cashier_order = await pay_cashier(buyers[0], store, 5_000, Clock())
    status, every = await admin_get(api, "/api/admin/orders")
    assert status == 200, every
    orders = every["items"]
    assert [o["id"] for o in orders] == sorted((o["id"] for o in orders), reverse=True)
    assert len(orders) == 4 and orders[0]["id"] == cashier_order.id
    assert (orders[0]["source"], orders[0]["store_id"], orders[0]["member_id"]) == (
        "cashier",
        store,
        buyers[0],
    )
    assert [len(o["lines"]) for o in orders[1:]] == [1, 1, 1]
    assert orders[-1]["lines"][0]["paid_fen"] == 10_000

    for query, expected in (
        (f"member_id={buyers[0]}", 2),
        (f"store_id={store}", 1),
        ("source=mall", 3),
        ("status=paid", 3),
        ("status=completed", 1),  # the cashier's, settled on completion
        ("status=refunded", 0),
    ):
        _, found = await admin_get(api, f"/api/admin/orders?{query}")
        assert len(found["items"]) == expected, (query, found)
    for query, field in (
        ("status=lost", "status"),
        ("source=app", "source"),
        ("member_id=x", "member_id"),
    ):
        status, error = await admin_get(api, f"/api/admin/orders?{query}")
        assert status == 400 and error["field"] == field, (query, error)


async def test_statements_of_every_store_are_listed_with_the_store(api: Api) -> None:
    await base_rules()
    await configure(statement_days=1)
    stores = [await approved_store((await new_member(f"oOwner{n}")).id) for n in range(2)]
    buyer = await new_member("oBuyer")
    for store, amount in zip(stores, (10_000, 20_000), strict=True):
        await pay_cashier(buyer.id, store, amount, Clock())
    await close_statements(T0 + days(1))
    status, every = await admin_get(api, "/api/admin/statements")
    assert status == 200, every
    assert [s["store_id"] for s in every["items"]] == stores[::-1]  # newest first
    first = every["items"][-1]
    assert (first["store_name"], first["status"], first["credit_count"]) == (
        "老王茶叶店",
        "unpaid",
        1,
    )
    assert first["total_fen"] == (await Statement.get(store_id=stores[0])).total_fen > 0
    _, one = await admin_get(api, f"/api/admin/statements?store_id={stores[1]}&status=unpaid")
    assert [s["store_id"] for s in one["items"]] == [stores[1]]
    _, none = await admin_get(api, "/api/admin/statements?status=paid")
    assert none["items"] == []
    status, error = await admin_get(api, "/api/admin/statements?status=lost")
    assert status == 400 and error["field"] == "status"
