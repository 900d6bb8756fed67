"""The promoter's view over HTTP: my team (direct and indirect counts, turnover, members) and my
rewards (totals beside the paged list) — only my own."""

from __future__ import annotations

import pytest

from services.members.accounts import new_member
from tests.api.conftest import Api
from tests.api.test_api_merchant_member import token_of
from tests.distribution.support import base_rules, buy, chain, configure
from tests.services.helpers import Clock


async def test_a_promoter_sees_their_team_and_rewards_with_the_counts_beside_the_page(
    api: Api,
) -> None:
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)
    top, mid, buyer = await chain(3)  # top ← mid ← buyer
    clock = Clock()
    for _ in range(2):
        await buy(buyer, 10_000, clock)
    as_top = token_of(api, top)
    team = await (await api.client.get("/api/promoter/team?limit=1", headers=as_top)).json()
    assert (team["direct_count"], team["indirect_count"], team["turnover_fen"]) == (1, 1, 20_000)
    assert team["counts_by_depth"] == {"1": 1, "2": 1} and team["depth_limit"] == 2
    assert [m["member_id"] for m in team["items"]] == [mid] and team["next_cursor"] is not None
    rest = await api.client.get(
        f"/api/promoter/team?limit=1&cursor={team['next_cursor']}", headers=as_top
    )
    last = await rest.json()
    assert [(m["member_id"], m["depth"]) for m in last["items"]] == [(buyer, 2)]
    assert last["next_cursor"] is None and last["counts_by_depth"] == team["counts_by_depth"]
    rewards = await api.client.get("/api/promoter/rewards?limit=1", headers=as_top)
    first = await rewards.json()
    rewards = await api.client.get(
        f"/api/promoter/rewards?limit=1&cursor={first['next_cursor']}", headers=as_top
    )
    body = await rewards.json()
    assert body["totals"] == first["totals"] == {"frozen": 1000, "released": 0, "reversed": 0}
    (reward,) = body["items"]
    assert (reward["kind"], reward["amount_fen"], reward["status"]) == ("indirect", 500, "frozen")
    assert reward["commission_id"] < first["items"][0]["commission_id"]  # newest first
    assert body["next_cursor"] is None
    as_buyer = token_of(api, buyer)
    alone = await (await api.client.get("/api/promoter/team", headers=as_buyer)).json()
    assert (alone["direct_count"], alone["items"], alone["next_cursor"]) == (0, [], None)
    none = await (await api.client.get("/api/promoter/rewards", headers=as_buyer)).json()
    assert (none["items"], none["next_cursor"]) == ([], None)
    assert none["totals"] == {"frozen": 0, "released": 0, "reversed": 0}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=51", "limit"), ("cursor=x", "cursor"), ("cursor=0", "cursor")],
)
async def test_a_bad_page_is_a_400_naming_the_parameter(api: Api, query: str, field: str) -> None:
    member = await new_member("oPromoter")
    response = await api.client.get(
        f"/api/promoter/rewards?{query}", headers=token_of(api, member.id)
    )
    assert (response.status, (await response.json())["field"]) == (400, field)
