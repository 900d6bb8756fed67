"""Subscribe-message consents (订阅消息) over HTTP, end to end: the member records what
``wx.requestSubscribeMessage`` answered, the notifier sends the payout notice through the fake
WeChat while a consent is counted and takes one per message; a member who rejected hears
nothing. Forged template ids and bad results are refused with nothing changed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from bot.notifier import build_notifier
from models import Member
from rebate.settings import RatioSettings, SettleOn
from runtime.bot_settings import BotSettings, Template
from runtime.config import Settings
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_entries import buy, member, recent_clock, snapshot
from tests.services.helpers import use_base
from web.keys import HTTP, REDIS, SETTINGS

PAYOUT = "TPL-payout-0001"
DONE = "TPL-done-0002"
TEMPLATES = {
    "payout_received": Template(PAYOUT, {"amount1": "amount"}, "pages/queue/index"),
    "entry_completed": Template(DONE),
    "commission_released": Template(DONE),  # one template may carry two kinds
}


def with_templates(prefix: str) -> Callable[[Settings], Settings]:
    def edit(settings: Settings) -> Settings:
        bot = BotSettings(subscribe_templates=TEMPLATES, redis_prefix=f"{prefix}bot:")
        return dataclasses.replace(settings, bot=bot)

    return edit


@pytest.fixture
async def sub_api(make_api: Callable[..., Any], redis_prefix: str) -> Api:
    started: Api = await make_api("postgres", edit_settings=with_templates(redis_prefix))
    return started


async def answer(api: Api, token: str, results: Any) -> tuple[int, Any]:
    response = await api.client.post(
        "/api/me/subscriptions", json={"results": results}, headers=bearer(token)
    )
    return response.status, await response.json()


async def counts(api: Api, token: str) -> dict[str, int]:
    response = await api.client.get("/api/me/subscriptions", headers=bearer(token))
    assert response.status == 200
    return {t: s["remaining"] for t, s in (await response.json())["subscriptions"].items()}


async def notify(api: Api) -> None:
    app = api.app
    notifier = build_notifier(app[SETTINGS], app[HTTP], app[REDIS])
    while await notifier.run_once():
        pass


def payouts_to(api: Api, openid: str) -> list[dict[str, Any]]:
    return [m for m in api.wx.sent_messages if m["touser"] == openid and m["template_id"] == PAYOUT]


async def test_the_configured_templates_with_their_purpose(sub_api: Api) -> None:
    _, token = await member(sub_api)
    response = await sub_api.client.get("/api/me/subscriptions", headers=bearer(token))
    assert response.status == 200
    found = (await response.json())["subscriptions"]
    assert list(found) == [PAYOUT, DONE]  # in configuration order
    assert found == {
        PAYOUT: {"kinds": ["payout_received"], "purpose": "返利到账通知", "remaining": 0},
        DONE: {
            "kinds": ["entry_completed", "commission_released"],
            "purpose": "权益返完通知、佣金到账通知",
            "remaining": 0,
        },
    }
    assert (await sub_api.client.get("/api/me/subscriptions")).status == 401


async def test_accept_counts_reject_and_ban_stop_filter_changes_nothing(sub_api: Api) -> None:
    _, token = await member(sub_api)
    status, body = await answer(sub_api, token, {PAYOUT: "accept", DONE: "accept"})
    assert status == 200, body
    assert {t: s["remaining"] for t, s in body["subscriptions"].items()} == {PAYOUT: 1, DONE: 1}
    await answer(sub_api, token, {PAYOUT: "accept", DONE: "filter"})
    assert await counts(sub_api, token) == {PAYOUT: 2, DONE: 1}
    await answer(sub_api, token, {PAYOUT: "reject", DONE: "ban"})
    assert await counts(sub_api, token) == {PAYOUT: 0, DONE: 0}
    await answer(sub_api, token, {DONE: "accept"})
    assert await counts(sub_api, token) == {PAYOUT: 0, DONE: 1}
    # one member's answers are theirs alone
    _, other = await member(sub_api)
    assert await counts(sub_api, other) == {PAYOUT: 0, DONE: 0}


@pytest.mark.parametrize(
    ("results", "field"),
    [
        ({PAYOUT: "accept", "FORGED-TEMPLATE": "accept"}, "results.FORGED-TEMPLATE"),
        ({"OA_PAYOUT": "accept"}, "results.OA_PAYOUT"),
        ({PAYOUT: "maybe"}, f"results.{PAYOUT}"),
        ({PAYOUT: 1}, f"results.{PAYOUT}"),
        ({"bad\u0000id": "accept"}, "results"),  # refused where every body is validated
        ({}, "results"),
        ([PAYOUT], "results"),
        ("accept", "results"),
    ],
)
async def test_a_bad_answer_is_refused_naming_the_field_and_changes_nothing(
    sub_api: Api, results: Any, field: str
) -> None:
    _, token = await member(sub_api)
    await answer(sub_api, token, {PAYOUT: "accept"})
    before = await snapshot()
    status, body = await answer(sub_api, token, results)
    assert status == 400, body
    assert body["field"] == field
    assert body["message"]
    assert await snapshot() == before
    assert await counts(sub_api, token) == {PAYOUT: 1, DONE: 0}


async def test_without_results_or_token(sub_api: Api) -> None:
    _, token = await member(sub_api)
    response = await sub_api.client.post("/api/me/subscriptions", json={}, headers=bearer(token))
    assert response.status == 400
    assert (await response.json())["field"] == "results"
    response = await sub_api.client.post("/api/me/subscriptions", json={"results": {}})
    assert response.status == 401


async def test_a_consented_member_receives_the_payout_notice_a_rejecting_one_does_not(
    sub_api: Api,
) -> None:
    """Every order pays the one before it in full (100% reward, 100% extraction)."""
    await use_base(
        settle_on=SettleOn.PAID, extract_bp=10_000, ratios=RatioSettings(default_bp=10_000)
    )
    clock = recent_clock()
    logins = [await sub_api.login() for _ in range(3)]
    (a, a_token), (b, _), (c, c_token) = [(int(x["member"]["id"]), str(x["token"])) for x in logins]
    openid = dict(await Member.filter(id__in=[a, b, c]).values_list("id", "openid"))
    assert (await answer(sub_api, a_token, {PAYOUT: "accept"}))[0] == 200
    assert (await answer(sub_api, a_token, {PAYOUT: "accept"}))[0] == 200
    await answer(sub_api, c_token, {PAYOUT: "accept"})
    await answer(sub_api, c_token, {PAYOUT: "reject"})  # asked again, said no: stopped

    await buy(a, 10_000, clock)
    await buy(c, 10_000, clock)  # pays A in full
    await notify(sub_api)
    [notice] = payouts_to(sub_api, openid[a])
    assert notice["data"] == {"amount1": {"value": "100.00元"}}
    assert notice["page"] == "pages/queue/index"
    assert await counts(sub_api, a_token) == {PAYOUT: 1, DONE: 0}  # one message, one consent

    await buy(b, 10_000, clock)  # pays C: C rejected, nothing is sent
    await buy(a, 10_000, clock)  # pays B: B never consented
    await buy(b, 10_000, clock)  # pays A: A's second consent
    await notify(sub_api)
    assert len(payouts_to(sub_api, openid[a])) == 2
    assert payouts_to(sub_api, openid[c]) == []
    assert payouts_to(sub_api, openid[b]) == []
    assert await counts(sub_api, a_token) == {PAYOUT: 0, DONE: 0}

    await buy(a, 10_000, clock)  # pays B
    await buy(c, 10_000, clock)  # pays A again: no consent left
    await notify(sub_api)
    assert len(payouts_to(sub_api, openid[a])) == 2
