"""Products as a logged-in member sees them: the reward ratio of their own 会员等级 through the
ratio chain settlement uses, and how long a new entry would wait (an estimate from the queue it
would join). Without a token, the base level's terms; a bad token is a 401."""

from __future__ import annotations

from typing import Any

from models import Entry, Member
from rebate.settings import RatioSettings, SettleOn
from services.catalog.products import new_product
from services.queues.economics import ESTIMATE_NOTE, RATE_DAYS
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_entries import buy, member, recent_clock
from tests.services.helpers import use_base

PRICE = 16_800


async def terms(api: Api, product_id: int, token: str | None = None) -> dict[str, Any]:
    headers = bearer(token) if token else None
    response = await api.client.get(f"/api/products/{product_id}", headers=headers)
    assert response.status == 200, await response.text()
    rebate: dict[str, Any] = (await response.json())["product"]["rebate"]
    listed = await api.client.get("/api/products", headers=headers)
    [same] = [p for p in (await listed.json())["items"] if p["id"] == product_id]
    assert same["rebate"]["reward_bp"] == rebate["reward_bp"]  # the list says the same
    return rebate


async def test_terms_at_my_level_with_the_wait_of_a_new_entry(api: Api) -> None:
    await use_base(
        settle_on=SettleOn.PAID,
        extract_bp=1_000,
        ratios=RatioSettings(default_bp=10_000, level_bp={2: 13_000}),
    )
    tea = await new_product("茶", PRICE)
    (plain, plain_token), (vip, vip_token) = await member(api), await member(api)
    await Member.filter(id=vip).update(level=2)

    anonymous = await terms(api, tea.id)
    assert (anonymous["reward_bp"], anonymous["ratio_source"]) == (10_000, "base:default")
    assert await terms(api, tea.id, plain_token) == anonymous  # level 0: the same
    mine = await terms(api, tea.id, vip_token)
    assert (mine["reward_bp"], mine["ratio_source"]) == (13_000, "base:level")
    assert mine["entitlement_fen"] == 21_840  # 168.00 × 130%
    assert mine["estimate"]["eta_seconds"] is None  # nothing flowed in yet

    # The mall queue fills: three entries wait, and their orders' extractions flowed in.
    clock = recent_clock()
    for _ in range(3):
        await buy(plain, 10_000, clock)
    waiting = await Entry.filter(status="waiting")
    owed = sum(e.entitlement_fen - e.paid_fen for e in waiting)
    inflow = 3 * 1_000  # 10% of each 100.00 order
    estimate = (await terms(api, tea.id, vip_token))["estimate"]
    seconds = -(-(owed + 21_840) * RATE_DAYS * 86_400 // inflow)
    assert estimate["ahead"] == len(waiting) == 3
    assert estimate["ahead_fen"] == owed
    assert estimate["eta_seconds"] == seconds
    assert estimate["daily_inflow_fen"] == inflow // RATE_DAYS
    assert estimate["is_estimate"] is True and estimate["note"] == ESTIMATE_NOTE
    # anyone else's new entry is smaller (100%): it waits less
    assert (await terms(api, tea.id))["estimate"]["eta_seconds"] < seconds


async def test_no_rebate_no_estimate_and_a_bad_token_is_a_401(api: Api) -> None:
    await use_base(enabled=False, ratios=RatioSettings(default_bp=10_000))
    cup = await new_product("杯", 3_000)
    _, token = await member(api)
    rebate = await terms(api, cup.id, token)  # the master switch is off
    assert rebate["applies"] is False and rebate["estimate"] is None
    for header in ("Bearer nonsense", f"Bearer {api.admin_token()}", "Basic abc"):
        for path in (f"/api/products/{cup.id}", "/api/products"):
            response = await api.client.get(path, headers={"Authorization": header})
            assert response.status == 401, (path, header)
