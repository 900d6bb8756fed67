"""The operators' loose ends (issue 18, items 3–6): every id and code an operator needs is
returned by some endpoint; jobs run for the slot they are given, each operator run its own; the
commission guardrail judges only the change and the stores it touches; the operation log
records every change an operator makes and filters by section, operator and date."""

from __future__ import annotations

from typing import Any

from models import AuditLog, Cashier, MerchantApplication, MerchantInvite
from services.members.accounts import new_member
from services.merchants.onboarding import apply_for_merchant
from tests.api.conftest import Api, bearer
from tests.distribution.support import (
    MERCHANT_FORM,
    approved_store,
    base_rules,
    pay_cashier,
)
from tests.services.helpers import T0, Clock


async def get(api: Api, path: str) -> Any:
    return await api.client.get(path, headers=bearer(api.admin_token()))


async def post(api: Api, path: str, body: dict[str, Any] | None = None) -> Any:
    return await api.client.post(path, json=body, headers=bearer(api.admin_token()))


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def refused(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["field"] == field, body
    return body


# --- 3. ids and codes ------------------------------------------------------------------------------


async def test_an_operator_invite_is_a_text_code_a_merchant_applies_with(api: Api) -> None:
    made = (await ok(await post(api, "/api/admin/merchant-invites"), 201))["invite"]
    assert made["code"].startswith("m:") and made["inviter_id"] is None
    assert made["created_by"] == "operator:ops@test" and made["applications"] == 0
    applicant = await new_member("oApplicant")
    await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0, scene=made["code"])
    listed = await ok(await get(api, "/api/admin/merchant-invites"))
    assert [(i["id"], i["code"], i["applications"]) for i in listed["items"]] == [
        (made["id"], made["code"], 1)
    ]
    assert (await MerchantApplication.get(applicant_id=applicant.id)).invite_id == made["id"]  # type: ignore[attr-defined]
    (row,) = await AuditLog.filter(section="merchant_invite")
    assert (row.operator, row.target) == ("ops@test", f"invite:{made['id']}")


async def test_the_invite_qr_carries_its_code_as_text_too(api: Api) -> None:
    response = await get(api, "/api/admin/merchant-invites/qr")
    assert (response.status, response.content_type) == (200, "image/png")
    (invite,) = await MerchantInvite.all()
    assert response.headers["X-Invite-Code"] == f"m:{invite.token}"


async def test_stores_are_listed_with_their_cashier_ids(api: Api) -> None:
    await base_rules()
    owner = await new_member("oOwner")
    first = await approved_store(owner.id, commission_bp=3000)
    second = await approved_store((await new_member("oOther")).id, commission_bp=2000)
    listed = await ok(await get(api, "/api/admin/stores?limit=1"))
    cashier = await Cashier.get(store_id=first)
    assert [(s["id"], s["cashier_id"], s["owner_id"]) for s in listed["items"]] == [
        (first, cashier.id, owner.id)
    ]
    rest = await ok(await get(api, f"/api/admin/stores?cursor={listed['next_cursor']}"))
    assert [s["id"] for s in rest["items"]] == [second] and rest["next_cursor"] is None
    store = (await ok(await get(api, f"/api/admin/stores/{first}")))["store"]
    assert (store["commission_bp"], store["cashier"]["id"], store["merchant"]["owner_id"]) == (
        3000,
        cashier.id,
        owner.id,
    )
    # the cashier id is the one the cashier's rebate settings are changed by
    changed = await api.client.put(
        f"/api/admin/cashiers/{store['cashier_id']}/rebate",
        json={"enabled": False},
        headers=bearer(api.admin_token()),
    )
    assert changed.status == 200, await changed.text()
    assert (await Cashier.get(id=cashier.id)).rebate_enabled is False


async def test_a_store_that_does_not_exist_is_a_404_and_bad_paging_a_400(api: Api) -> None:
    await refused(await get(api, "/api/admin/stores/999"), 404, "id")
    await refused(await get(api, "/api/admin/stores?limit=0"), 400, "limit")
    await refused(await get(api, "/api/admin/queues?scope=shop"), 400, "scope")
    await refused(await get(api, "/api/admin/merchant-invites?cursor=x"), 400, "cursor")


async def test_queues_are_listed_with_their_key_scope_and_what_they_owe(api: Api) -> None:
    await base_rules()
    store_id = await approved_store((await new_member("oOwner")).id, commission_bp=3000)
    await pay_cashier((await new_member("oBuyer")).id, store_id, 10_000, Clock())
    listed = await ok(await get(api, "/api/admin/queues"))
    (queue,) = listed["items"]
    assert (queue["key"], queue["scope"], queue["target_id"]) == (
        f"cashier:{store_id}",
        "cashier",
        store_id,
    )
    assert (queue["waiting_entries"], queue["outstanding_fen"]) == (1, 13_000)
    by_scope = await ok(await get(api, "/api/admin/queues?scope=cashier"))
    by_key = await ok(await get(api, f"/api/admin/queues?key=cashier:{store_id}"))
    none = await ok(await get(api, "/api/admin/queues?scope=mall"))
    assert by_scope["items"] == by_key["items"] == [queue] and none["items"] == []
