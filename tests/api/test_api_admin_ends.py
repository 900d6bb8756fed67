"""The operators' loose ends (issue 18, items 3–6): every id and code an operator needs is
returned by some endpoint; jobs run for the slot they are given, each operator run its own; the
commission guardrail judges only the change and the stores it touches; the operation log
records every change an operator makes and filters by section, operator and date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from models import (
    AuditLog,
    Cashier,
    GuardrailAck,
    JobRun,
    MerchantApplication,
    MerchantInvite,
    OrderLine,
    Statement,
    Store,
)
from services.clock import LOCAL_TZ, utcnow
from services.distribution.settings import load_distribution
from services.members.accounts import new_member
from services.merchants.onboarding import apply_for_merchant
from tests.api.conftest import Api, bearer
from tests.api.test_api_merchant_refunds import paid_order
from tests.distribution.support import (
    LEVELS,
    MERCHANT_FORM,
    approved_store,
    base_rules,
    configure,
    pay_cashier,
)
from tests.services.helpers import T0, Clock
from web.keys import TOKENS


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


# --- 4. jobs through the API -----------------------------------------------------------------


async def test_a_job_run_through_the_api_is_for_the_slot_in_its_body(api: Api) -> None:
    await base_rules()
    await configure(statement_days=0)
    store_id = await approved_store((await new_member("oOwner")).id, commission_bp=3000)
    await pay_cashier((await new_member("oBuyer")).id, store_id, 10_000, Clock())  # 2026-11-25
    path = "/api/admin/jobs/merchant-statements/run"
    job = (await ok(await post(api, path, {"slot": "2026-11-26T02:00+08:00"})))["job"]
    assert (job["status"], job["slot"], job["trigger"]) == (
        "succeeded",
        "2026-11-25T18:00Z",
        "operator",
    )
    assert job["ran_for"] == "2026-11-26T02:00:00+08:00"
    assert job["changes"] == {
        "period": "2026-11-26",
        "statements": 1,
        "total_fen": 7000,
        "carried_stores": 0,
    }
    assert (await Statement.get(store_id=store_id)).period == "2026-11-26"
    again = (await ok(await post(api, path, {"slot": "2026-11-26T02:00+08:00"})))["job"]
    assert (again["ran"], again["status"], again["run_id"]) == (False, "skipped", job["run_id"])
    assert "已运行过" in again["error"]
    (row,) = await AuditLog.filter(section="job")
    assert (row.operator, row.target, row.new["run_id"]) == (
        "ops@test",
        "job:merchant-statements",
        job["run_id"],
    )


async def test_a_bad_or_future_slot_is_a_400_and_runs_nothing(api: Api) -> None:
    path = "/api/admin/jobs/clearing/run"
    later = (utcnow() + timedelta(hours=1)).isoformat()
    for slot in ("tomorrow", "2026-11-26T02:00", later, 5):
        await refused(await post(api, path, {"slot": slot}), 400, "slot")
    assert await JobRun.all().count() == 0 and await AuditLog.all().count() == 0


async def test_operator_runs_in_one_second_each_run(api: Api) -> None:
    runs = [(await ok(await post(api, "/api/admin/jobs/clearing/run")))["job"] for _ in range(3)]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert len({r["slot"] for r in runs}) == 3
    assert await JobRun.filter(name="clearing", trigger="operator").count() == 3


# --- 5. the guardrail judges the change, and the stores it touches ---------------------------


async def patch(api: Api, path: str, body: dict[str, Any]) -> Any:
    return await api.client.patch(path, json=body, headers=bearer(api.admin_token()))


async def put(api: Api, path: str, body: dict[str, Any]) -> Any:
    return await api.client.put(path, json=body, headers=bearer(api.admin_token()))


async def one_store_over_its_commission() -> tuple[int, int]:
    """(a store paying out 10% on a 5% commission, acknowledged; a store within its 30%)."""
    await base_rules(extract_bp=1000)
    over = await approved_store((await new_member("oOver")).id, commission_bp=500, acknowledge=True)
    within = await approved_store((await new_member("oWithin")).id, commission_bp=3000)
    return over, within


async def test_a_change_that_raises_no_payout_passes_while_a_store_is_over(api: Api) -> None:
    await one_store_over_its_commission()
    current = (await ok(await get(api, "/api/admin/distribution-settings")))["settings"]
    acks = await GuardrailAck.all().count()
    same = await patch(
        api, "/api/admin/distribution-settings", {"statement_days": current["statement_days"]}
    )
    assert (await ok(same))["acknowledged"] == []
    for change in ({"statement_days": 3}, {"freeze_days": 10}, {"team_depth": 1}):
        assert (await ok(await patch(api, "/api/admin/distribution-settings", change)))[
            "acknowledged"
        ] == []
    assert (await load_distribution()).statement_days == 3
    assert await GuardrailAck.all().count() == acks  # nothing acknowledged: nothing raised


async def test_a_raised_payout_is_refused_naming_the_raised_field(api: Api) -> None:
    over, _ = await one_store_over_its_commission()
    before = await load_distribution()
    body = await refused(
        await patch(api, "/api/admin/distribution-settings", {"direct_bp": 100}), 400, "direct_bp"
    )
    assert f"门店 {over}" in body["message"]
    levels = [{"level": 1, "name": "经理", "rate_bp": 300}]
    await refused(
        await patch(api, "/api/admin/distribution-settings", {"levels": levels}), 400, "levels"
    )
    assert await load_distribution() == before
    done = await ok(
        await patch(
            api, "/api/admin/distribution-settings", {"direct_bp": 100, "acknowledge": True}
        )
    )
    assert [n["store_id"] for n in done["acknowledged"]] == [over]


async def test_a_store_over_its_commission_may_lower_its_extraction_or_raise_its_commission(
    api: Api,
) -> None:
    over, within = await one_store_over_its_commission()
    lower = await put(api, f"/api/admin/stores/{over}/rebate", {"settings": {"extract_bp": 800}})
    assert (await ok(lower))["target"]["settings"][
        "extract_bp"
    ] == 800  # 8% > 5%: still over, but less
    assert await ok(await post(api, f"/api/admin/stores/{over}/commission", {"commission_bp": 600}))
    # the other store is judged on its own numbers
    await refused(
        await put(api, f"/api/admin/stores/{within}/rebate", {"settings": {"extract_bp": 3500}}),
        400,
        "settings.extract_bp",
    )
    await refused(
        await post(api, f"/api/admin/stores/{within}/commission", {"commission_bp": 900}),
        400,
        "commission_bp",
    )
    assert (await Store.get(id=within)).commission_bp == 3000


# --- 6. the operation log ---------------------------------------------------------------------


async def audit_rows(api: Api, query: str = "") -> list[dict[str, Any]]:
    body = await ok(await get(api, f"/api/admin/audit?limit=50{query}"))
    return list(body["items"])


async def test_every_operator_change_is_in_the_operation_log(api: Api) -> None:
    await base_rules()
    await configure(levels=LEVELS)
    promoter, applicant = await new_member("oPromoter"), await new_member("oApplicant")
    filed = await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0)
    approve = f"/api/admin/merchant-applications/{filed.id}/approve"
    await ok(await post(api, approve, {"commission_bp": 500, "acknowledge": True}))
    rejected = await apply_for_merchant(promoter.id, MERCHANT_FORM, now=T0)
    reject = f"/api/admin/merchant-applications/{rejected.id}/reject"
    await ok(await post(api, reject, {"reason": "资料不全"}))
    await ok(await patch(api, "/api/admin/distribution-settings", {"statement_days": 2}))
    await ok(await post(api, f"/api/admin/members/{promoter.id}/team-level", {"level": 1}))
    await ok(await post(api, "/api/admin/jobs/team-levels/run"))
    sections = {row["section"]: row for row in await audit_rows(api)}
    assert {"merchant_application", "guardrail_ack", "distribution", "team_level", "job"} <= set(
        sections
    )
    decisions = await audit_rows(api, "&section=merchant_application")
    assert [(r["target"], r["new"]["status"]) for r in decisions] == [
        (f"application:{rejected.id}", "rejected"),
        (f"application:{filed.id}", "approved"),
    ]
    assert all(r["operator"] == "ops@test" and r["old"] == {"status": "pending"} for r in decisions)
    distribution = sections["distribution"]
    assert (distribution["old"]["statement_days"], distribution["new"]["statement_days"]) == (1, 2)
    assert (sections["team_level"]["old"], sections["team_level"]["new"]["level"]) == (
        {"level": 0},
        1,
    )
    assert sections["guardrail_ack"]["new"]["context"] == "approve"


async def test_an_operators_refund_is_in_the_operation_log(api: Api) -> None:
    order = await paid_order(api, [5000])
    line = await OrderLine.get(order_id=order.id)
    path = f"/api/admin/orders/{order.id}/lines/{line.id}/refund"
    await ok(await post(api, path, {"reason": "质量问题"}), 202)
    (row,) = await audit_rows(api, "&section=refund")
    assert (row["operator"], row["target"]) == ("ops@test", f"order:{order.id}")
    assert (row["new"]["line_id"], row["new"]["amount_fen"], row["new"]["reason"]) == (
        line.id,
        5000,
        "质量问题",
    )


async def test_the_log_filters_by_operator_and_date(api: Api) -> None:
    other = {"Authorization": f"Bearer {api.app[TOKENS].issue_admin('other@test')}"}
    await ok(await patch(api, "/api/admin/distribution-settings", {"statement_days": 2}))
    response = await api.client.patch(
        "/api/admin/distribution-settings", json={"statement_days": 3}, headers=other
    )
    await ok(response)
    mine = await audit_rows(api, "&operator=ops@test")
    theirs = await audit_rows(api, "&operator=other@test&section=distribution")
    assert [r["new"]["statement_days"] for r in mine] == [2]
    assert [r["new"]["statement_days"] for r in theirs] == [3]
    today = utcnow().astimezone(LOCAL_TZ).date()
    assert len(await audit_rows(api, f"&from={today}&to={today}")) == 2
    assert await audit_rows(api, f"&to={today - timedelta(days=1)}") == []
    since = quote((utcnow() + timedelta(minutes=1)).isoformat())
    assert await audit_rows(api, f"&from={since}") == []


async def test_bad_log_filters_are_a_400_naming_them(api: Api) -> None:
    for query, field in (
        ("from=yesterday", "from"),
        ("from=2026-12-01T08:00", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("section=nonsense", "section"),
    ):
        await refused(await get(api, f"/api/admin/audit?{query}"), 400, field)
