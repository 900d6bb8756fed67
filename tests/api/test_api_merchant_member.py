"""Merchants over HTTP, member side: the promoter's invite QR, the application filed through
its scene (every refusal its own test, filing nothing), and a merchant's view of its own
store — and nothing of any other store."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from models import MerchantApplication, MerchantInvite, Statement
from services.members.accounts import new_member
from services.merchants.settlement import close_statements
from tests.api.conftest import Api, bearer
from tests.distribution.support import (
    MERCHANT_FORM,
    approved_store,
    base_rules,
    configure,
    days,
    pay_cashier,
)
from tests.services.helpers import T0, Clock
from web.keys import TOKENS

QR = "/api/merchant-invites/qr"
APPLY = "/api/merchant-applications"


def token_of(api: Api, member_id: int) -> dict[str, str]:
    return bearer(api.app[TOKENS].issue_member(member_id))


async def invite_of(api: Api, promoter_id: int) -> str:
    """The promoter's invite scene, as the QR carries it."""
    response = await api.client.get(QR, headers=token_of(api, promoter_id))
    assert response.status == 200, await response.text()
    return str(json.loads(api.wx.calls_to("/wxa/getwxacodeunlimit")[-1].body)["scene"])


def form(**changes: Any) -> dict[str, Any]:
    return {**asdict(MERCHANT_FORM), **changes}


async def apply(api: Api, member_id: int, body: dict[str, Any]) -> Any:
    return await api.client.post(APPLY, json=body, headers=token_of(api, member_id))


# --- the invite QR and the application ----------------------------------------------------------


async def test_the_invite_qr_carries_the_promoters_one_invite(api: Api) -> None:
    promoter = await new_member("oPromoter")
    first = await api.client.get(QR, headers=token_of(api, promoter.id))
    again = await api.client.get(QR, headers=token_of(api, promoter.id))
    assert first.status == again.status == 200 and first.content_type == "image/png"
    assert (await first.read()).startswith(b"\x89PNG")
    (invite,) = await MerchantInvite.all()
    assert invite.inviter_id == promoter.id  # type: ignore[attr-defined]
    (call,) = api.wx.calls_to("/wxa/getwxacodeunlimit")  # the second answer came from the cache
    sent = json.loads(call.body)
    assert (sent["scene"], sent["page"]) == (f"m:{invite.token}", "pages/index/index")


async def test_the_scanner_files_an_application_with_the_inviter_recorded(api: Api) -> None:
    promoter, merchant = await new_member("oPromoter"), await new_member("oMerchant")
    scene = await invite_of(api, promoter.id)
    response = await apply(api, merchant.id, form(scene=scene, name="  老王茶叶店 "))
    assert response.status == 201, await response.text()
    filed = (await response.json())["application"]
    assert (filed["status"], filed["name"], filed["inviter_id"]) == (
        "pending",
        "老王茶叶店",
        promoter.id,
    )
    mine = await api.client.get(f"{APPLY}/mine", headers=token_of(api, merchant.id))
    assert [a["id"] for a in (await mine.json())["items"]] == [filed["id"]]
    other = await api.client.get(f"{APPLY}/mine", headers=token_of(api, promoter.id))
    assert await other.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"phone": "12345678901"}, "phone", "手机号"),
        ({"licence_no": "91350100M000100Y44"}, "licence_no", "统一社会信用代码"),
        ({"name": "店"}, "name", "商家名称"),
        ({"address": 5}, "address", "字符串"),
    ],
)
async def test_a_bad_field_is_a_400_naming_it_and_files_nothing(
    api: Api, changes: dict[str, Any], field: str, words: str
) -> None:
    promoter, merchant = await new_member("oPromoter"), await new_member("oMerchant")
    response = await apply(
        api, merchant.id, form(scene=await invite_of(api, promoter.id), **changes)
    )
    assert response.status == 400
    refusal = await response.json()
    assert refusal["field"] == field and words in refusal["message"]
    assert await MerchantApplication.all().count() == 0


async def test_a_missing_field_is_a_400_naming_it(api: Api) -> None:
    merchant = await new_member("oMerchant")
    body = form(scene="m:whatever")
    del body["contact"]
    response = await apply(api, merchant.id, body)
    assert (response.status, (await response.json())["field"]) == (400, "contact")
    assert await MerchantApplication.all().count() == 0


async def test_an_unknown_scene_is_a_404_and_files_nothing(api: Api) -> None:
    merchant = await new_member("oMerchant")
    response = await apply(api, merchant.id, form(scene="m:NoSuchInvite2345"))
    assert (response.status, (await response.json())["field"]) == (404, "scene")
    assert await MerchantApplication.all().count() == 0


async def test_a_promoter_cannot_apply_through_their_own_invite(api: Api) -> None:
    promoter = await new_member("oPromoter")
    response = await apply(api, promoter.id, form(scene=await invite_of(api, promoter.id)))
    assert (response.status, (await response.json())["field"]) == (409, "scene")
    assert await MerchantApplication.all().count() == 0


async def test_a_second_pending_application_is_a_409(api: Api) -> None:
    promoter, merchant = await new_member("oPromoter"), await new_member("oMerchant")
    body = form(scene=await invite_of(api, promoter.id))
    assert (await apply(api, merchant.id, body)).status == 201
    again = await apply(api, merchant.id, {**body, "name": "老王茶叶二店"})
    assert (again.status, (await again.json())["code"]) == (409, "conflict")
    assert await MerchantApplication.all().count() == 1


# --- a merchant's own store -----------------------------------------------------------------------


async def store_with_a_statement(owner_id: int, paid_fen: int, clock: Clock) -> int:
    """An approved store (commission 30%), a cashier payment today and one after the
    statement closed the next day."""
    store_id = await approved_store(owner_id, commission_bp=3000)
    buyer = await new_member(f"oBuyer{store_id}")
    await pay_cashier(buyer.id, store_id, paid_fen, clock)
    await close_statements(T0 + days(1))
    return store_id


async def test_a_merchant_sees_its_orders_queue_turnover_and_statements(api: Api) -> None:
    await base_rules()
    await configure(statement_days=1)
    owner = await new_member("oOwner")
    store_id = await store_with_a_statement(owner.id, 10_000, Clock())
    me, base = token_of(api, owner.id), f"/api/merchant/stores/{store_id}"
    stores = await (await api.client.get("/api/merchant/stores", headers=me)).json()
    assert [s["id"] for s in stores["items"]] == [store_id] and stores["next_cursor"] is None
    orders = await (await api.client.get(f"{base}/orders?limit=5", headers=me)).json()
    (order,) = orders["items"]
    assert (order["source"], order["paid_fen"], orders["next_cursor"]) == ("cashier", 10_000, None)
    queue = await (await api.client.get(f"{base}/queue", headers=me)).json()
    assert queue["waiting"] == len(queue["items"]) == 1 and queue["next_cursor"] is None
    turnover = await api.client.get(
        f"{base}/turnover?date_from=2026-11-25&date_to=2026-11-25", headers=me
    )
    assert await turnover.json() == {
        "store_id": store_id,
        "date_from": "2026-11-25",
        "date_to": "2026-11-25",
        "orders": 1,
        "paid_fen": 10_000,
        "credited_fen": 7000,
    }
    statements = await (await api.client.get(f"{base}/statements", headers=me)).json()
    (statement,) = statements["items"]
    assert (statement["total_fen"], statement["status"]) == (7000, "unpaid")
    detail = await (await api.client.get(f"{base}/statements/{statement['id']}", headers=me)).json()
    assert detail["statement"] == statement and detail["next_cursor"] is None
    assert detail["statement"]["total_fen"] == sum(line["amount_fen"] for line in detail["items"])


async def test_another_merchants_store_and_statements_are_not_found(api: Api) -> None:
    await base_rules()
    await configure(statement_days=1)
    clock = Clock()
    alice, bob = await new_member("oAlice"), await new_member("oBob")
    mine = await store_with_a_statement(alice.id, 10_000, clock)
    theirs = await store_with_a_statement(bob.id, 20_000, clock)
    their_statement = await Statement.get(store_id=theirs)
    as_alice = token_of(api, alice.id)
    for path in (
        f"/api/merchant/stores/{theirs}/orders",
        f"/api/merchant/stores/{theirs}/queue",
        f"/api/merchant/stores/{theirs}/turnover",
        f"/api/merchant/stores/{theirs}/statements",
        f"/api/merchant/stores/{theirs}/statements/{their_statement.id}",
        f"/api/merchant/stores/{mine}/statements/{their_statement.id}",
    ):
        response = await api.client.get(path, headers=as_alice)
        assert response.status == 404, path
    nobody = token_of(api, (await new_member("oNobody")).id)
    response = await api.client.get(f"/api/merchant/stores/{mine}/orders", headers=nobody)
    assert response.status == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-13-01", "date_from"),
        ("date_from=2026-11-25&date_to=2026-11-24", "date_to"),
        ("date_from=2025-01-01&date_to=2026-11-25", "date_to"),
    ],
)
async def test_turnover_dates_are_checked(api: Api, query: str, field: str) -> None:
    owner = await new_member("oOwner")
    store_id = await approved_store(owner.id)
    response = await api.client.get(
        f"/api/merchant/stores/{store_id}/turnover?{query}", headers=token_of(api, owner.id)
    )
    assert (response.status, (await response.json())["field"]) == (400, field)
