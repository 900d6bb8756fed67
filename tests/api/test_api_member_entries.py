"""The member's entries over HTTP: positions, rewards, lottery state and the estimate; the queue
page; drawing the lottery and exchanging — every refusal, and another member seeing nothing.
The main flow runs on SQLite without Redis too. (Helpers here are shared with the wallet tests.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from models import Entry, LotteryDraw, Member, SettingDoc
from rebate.settings import Lottery, LotteryMode, OrderSource, RatioSettings, SettleOn
from runtime.sql import fetch
from services.catalog.products import new_product
from services.checks import check_conservation
from services.clock import local
from services.orders.lifecycle import Item, create_order, mark_paid
from services.settings.cache import DISPLAY, changing
from tests.api.conftest import Api, bearer
from tests.services.helpers import Clock, seeded, use_base

PRIZES = (5_000, 20_000)
TABLES = ("entry", "posting", "wallet", "lottery_draw", "outbox_event", "withdrawal")


async def lottery_base() -> None:
    """Settle when paid, 10% extraction, 100% reward with a fixed lottery offered by base."""
    await use_base(
        settle_on=SettleOn.PAID,
        extract_bp=1_000,
        ratios=RatioSettings(default_bp=10_000, lottery=Lottery(LotteryMode.FIXED, PRIZES)),
    )


def recent_clock() -> Clock:
    """Inside the economics windows of the API's real clock, and on the current Beijing day
    (the dashboard's "today"): an hour ago, or, in a day's first hour, halfway between its
    midnight and now (later for every later test, as an hour ago is)."""
    now = datetime.now(UTC)
    midnight = local(now).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    start = now - timedelta(hours=1)
    return Clock(start if start >= midnight else midnight + (now - midnight) / 2)


async def member(api: Api, nickname: str = "") -> tuple[int, str]:
    """A logged-in member: (id, token)."""
    login = await api.login()
    member_id = int(login["member"]["id"])
    if nickname:
        await Member.filter(id=member_id).update(nickname=nickname, avatar_url="https://a/x.png")
    return member_id, str(login["token"])


async def buy(member_id: int, price_fen: int, clock: Clock) -> Entry | None:
    """A paid mall order of a new product (settles at once); its entry, if any."""
    product = await new_product("好物", price_fen)
    order = await create_order(member_id, OrderSource.MALL, items=[Item(product.id, 1)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=seeded())
    return await Entry.get_or_none(order_id=order.id)


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


async def get(api: Api, path: str, token: str) -> tuple[int, Any]:
    response = await api.client.get(path, headers=bearer(token))
    return response.status, await response.json()


async def post(api: Api, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.post(path, json=body, headers=bearer(token))
    return response.status, await response.json()


async def three_entries(api: Api) -> tuple[tuple[int, str], tuple[int, str], list[Entry]]:
    """A buys, B buys (A receives 1000), A buys again (A receives 1000 more): [a1, b1, a2]."""
    await lottery_base()
    clock = recent_clock()
    a, b = await member(api, "阿甲"), await member(api, "阿乙")
    entries = [await buy(a[0], 10_000, clock), await buy(b[0], 10_000, clock)]
    entries.append(await buy(a[0], 10_000, clock))
    assert all(e is not None for e in entries)
    return a, b, [e for e in entries if e is not None]


async def test_my_entries_show_position_rewards_lottery_and_an_estimate(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    (_, token), _, (a1, b1, a2) = await three_entries(api)
    status, page = await get(api, "/api/entries", token)
    assert status == 200, page
    assert page["names"] == {"rebate_name": "排队返利", "exchange_name": "兑换"}
    assert page["next_cursor"] is None
    assert [(e["id"], e["queue_key"]) for e in page["items"]] == [(a2.id, "mall"), (a1.id, "mall")]
    newest, oldest = page["items"]
    assert (oldest["position"], oldest["received_fen"], oldest["remaining_fen"]) == (0, 2000, 8000)
    assert (newest["position"], newest["received_fen"], newest["remaining_fen"]) == (2, 0, 10_000)
    assert (newest["ratio_bp"], newest["ratio_source"], newest["entitlement_fen"]) == (
        10_000,
        "base:default",
        10_000,
    )
    assert newest["lottery"]["can_draw"] and not oldest["lottery"]["can_draw"]  # A was paid into
    assert newest["lottery"]["ratios_bp"] == list(PRIZES)
    estimate = newest["estimate"]
    assert estimate["is_estimate"] and "不是承诺" in estimate["note"]
    assert estimate["ahead_fen"] == 8000 + 10_000 and estimate["eta_seconds"] > 0

    status, one = await get(api, f"/api/entries/{a1.id}", token)
    assert status == 200 and one["names"] == page["names"]
    same = {k: v for k, v in one["entry"].items() if k != "estimate"}
    assert same == {k: v for k, v in oldest.items() if k != "estimate"}

    status, waiting = await get(api, "/api/entries?status=completed", token)
    assert status == 200 and waiting["items"] == []
    status, paged = await get(api, "/api/entries?limit=1", token)
    assert [e["id"] for e in paged["items"]] == [a2.id] and paged["names"] == page["names"]
    status, rest = await get(api, f"/api/entries?limit=1&cursor={paged['next_cursor']}", token)
    assert [e["id"] for e in rest["items"]] == [a1.id]
    assert rest["next_cursor"] is None
    for bad in ("status=done", "limit=0", "limit=51", "cursor=x"):
        status, error = await get(api, f"/api/entries?{bad}", token)
        assert status == 400 and error["field"] == bad.split("=")[0], (bad, error)

    status, summary = await get(api, f"/api/queues/{a1.queue_id}", token)  # type: ignore[attr-defined]
    assert status == 200, summary
    assert summary["queue"]["waiting_count"] == 3 and summary["queue"]["outstanding_fen"] == 28_000
    assert summary["queue"]["head"] == {
        "mine": True,
        "received_fen": 2000,
        "entitlement_fen": 10_000,
        "remaining_fen": 8000,
        "nickname": "阿甲",
        "avatar_url": "https://a/x.png",
    }
    assert b1.id not in [e["id"] for e in page["items"]]


async def test_display_switches_leave_their_fields_out_and_names_come_along(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    (_, token), _, (a1, _, a2) = await three_entries(api)
    await SettingDoc.create(
        name="member_display",
        config={
            "accumulated_reward": False,
            "pending_reward": False,
            "member_info": False,
            "pending_amount": False,
            "rebate_name": "排队免单",
            "exchange_name": "换积分",
        },
    )
    _, page = await get(api, "/api/entries", token)
    assert page["names"] == {"rebate_name": "排队免单", "exchange_name": "换积分"}
    entry = page["items"][0]
    for hidden in ("received_fen", "entitlement_fen", "remaining_fen"):
        assert hidden not in entry
    assert entry["position"] == 2 and entry["queue_key"] == "mall"
    assert set(entry["estimate"]) == {"eta_seconds", "estimated_full_at", "is_estimate", "note"}
    _, summary = await get(api, f"/api/queues/{a1.queue_id}", token)  # type: ignore[attr-defined]
    assert summary["names"]["rebate_name"] == "排队免单"
    assert set(summary["queue"]) == {"queue_id", "queue_key", "head"}
    assert summary["queue"]["head"] == {"mine": True}

    async with changing(DISPLAY):  # a cached settings row changes inside changing()
        await SettingDoc.filter(name="member_display").update(config={"queue_progress": False})
    _, page = await get(api, "/api/entries", token)
    assert len(page["items"]) == 2
    assert not {"queue_id", "queue_key", "position"} & set(page["items"][0])
    assert page["items"][0]["received_fen"] == 0  # the others are back on
    status, error = await get(api, f"/api/queues/{a2.queue_id}", token)  # type: ignore[attr-defined]
    assert status == 404 and error["message"] == "队列进程未开放"


async def test_another_member_sees_and_changes_nothing_of_mine(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    (_, _), _, (a1, _, a2) = await three_entries(api)
    _, stranger = await member(api)
    before = await snapshot()
    for path in (f"/api/entries/{a2.id}", f"/api/queues/{a2.queue_id}"):  # type: ignore[attr-defined]
        status, error = await get(api, path, stranger)
        assert status == 404 and error["code"] == "not_found", path
    for path, body in (
        (f"/api/entries/{a2.id}/lottery", None),
        (f"/api/entries/{a2.id}/exchange", {"to": "points"}),
        (f"/api/entries/{a1.id}/exchange", {"to": "love"}),
    ):
        status, error = await post(api, path, stranger, body)
        assert status == 404 and error["code"] == "not_found", path
    _, page = await get(api, "/api/entries", stranger)
    assert page["items"] == []
    _, wallet = await get(api, "/api/wallet", stranger)
    assert wallet["balances"]["cash_fen"] == 0
    _, ledger = await get(api, "/api/wallet/ledger", stranger)
    assert ledger["items"] == []
    assert await snapshot() == before


async def test_draw_once_on_a_waiting_unpaid_entry_then_refusals(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    (_, token), (_, other), (a1, b1, a2) = await three_entries(api)
    status, drawn = await post(api, f"/api/entries/{a2.id}/lottery", token)
    assert status == 200, drawn
    ratio = drawn["draw"]["ratio_bp"]
    assert ratio in PRIZES and drawn["draw"]["entitlement_fen"] == ratio  # base 10000 fen
    assert drawn["entry"]["entitlement_fen"] == ratio and drawn["entry"]["ratio_bp"] == ratio
    assert drawn["entry"]["lottery"]["drawn"] and not drawn["entry"]["lottery"]["can_draw"]
    assert drawn["entry"]["lottery"]["draw"]["old_ratio_bp"] == 10_000
    assert (await LotteryDraw.get(entry_id=a2.id)).new_ratio_bp == ratio

    before = await snapshot()
    status, error = await post(api, f"/api/entries/{a2.id}/lottery", token)  # twice
    assert status == 409 and error["code"] == "not_allowed" and error["field"] == "entry_id"
    status, error = await post(api, f"/api/entries/{a1.id}/lottery", token)  # paid into
    assert status == 409 and error["code"] == "not_allowed"
    status, error = await post(api, f"/api/entries/{b1.id}/lottery", token)  # someone else's
    assert status == 404
    status, error = await post(api, "/api/entries/999999/lottery", token)
    assert status == 404
    assert await snapshot() == before
    status, _ = await post(api, f"/api/entries/{b1.id}/lottery", other)  # B's own: fine
    assert status == 200
    assert await check_conservation() == []


async def test_exchange_to_points_or_love_then_refusals(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres")
    (_, token), _, (a1, _, a2) = await three_entries(api)
    status, done = await post(api, f"/api/entries/{a2.id}/exchange", token, {"to": "points"})
    assert status == 200, done
    assert done["exchange"]["amount"] == 10_000 and done["exchange"]["asset"] == "points"
    assert done["entry"]["status"] == "exchanged" and done["entry"]["position"] is None
    assert done["names"]["exchange_name"] == "兑换"
    status, done = await post(api, f"/api/entries/{a1.id}/exchange", token, {"to": "love"})
    assert status == 200 and done["exchange"]["remaining_fen"] == 8000
    _, wallet = await get(api, "/api/wallet", token)
    assert wallet["balances"] == {
        "cash_fen": 2000,
        "points": 10_000,
        "love_available": 8000,
        "love_frozen": 0,
    }

    before = await snapshot()
    status, error = await post(api, f"/api/entries/{a2.id}/exchange", token, {"to": "points"})
    assert status == 409 and error["field"] == "entry_id"
    status, error = await post(api, f"/api/entries/{a2.id}/exchange", token, {"to": "cash"})
    assert status == 400 and error["field"] == "to"
    status, error = await post(api, f"/api/entries/{a2.id}/exchange", token, {})
    assert status == 400 and error["field"] == "to"
    assert await snapshot() == before
    assert await check_conservation() == []


async def test_the_member_flow_on_sqlite_without_redis(make_api: Callable[..., Any]) -> None:
    api = await make_api("sqlite", redis=False)
    (_, token), _, (a1, _, a2) = await three_entries(api)
    _, page = await get(api, "/api/entries", token)
    assert [e["position"] for e in page["items"]] == [2, 0]
    status, summary = await get(api, f"/api/queues/{a1.queue_id}", token)  # type: ignore[attr-defined]
    assert status == 200 and summary["queue"]["waiting_count"] == 3
    status, drawn = await post(api, f"/api/entries/{a2.id}/lottery", token)
    assert status == 200 and drawn["draw"]["ratio_bp"] in PRIZES
    status, _ = await post(api, f"/api/entries/{a2.id}/exchange", token, {"to": "points"})
    assert status == 200
    _, ledger = await get(api, "/api/wallet/ledger?asset=points", token)
    assert [line["kind"] for line in ledger["items"]] == ["exchange"]
    assert await check_conservation() == []
