"""Operators over HTTP (SPEC §8): applications approved or rejected, the distribution settings,
the commission guardrail (refused unless acknowledged, and then audited), the operator's
invite QR, team levels, and running a job now — payouts through the fake WeChat's 商家转账.
Every refusal is its own test and leaves the database as it was."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestServer

from models import (
    ApplicationStatus,
    Cashier,
    DistributionConfig,
    GuardrailAck,
    Merchant,
    MerchantApplication,
    MerchantInvite,
    Statement,
    Store,
    TeamLevelChange,
)
from services.distribution.settings import load_distribution
from services.members.accounts import new_member
from services.merchants.onboarding import apply_for_merchant, create_invite
from tests.api.conftest import Api, bearer
from tests.distribution.support import (
    LEVELS,
    MERCHANT_FORM,
    approved_store,
    base_rules,
    configure,
    pay_cashier,
)
from tests.services.helpers import T0, Clock
from wechat_fake.transfer import TRANSFER_KEY

APPLICATIONS = "/api/admin/merchant-applications"
SETTINGS = "/api/admin/distribution-settings"


async def admin_post(api: Api, path: str, body: dict[str, Any] | None = None) -> Any:
    return await api.client.post(path, json=body or {}, headers=bearer(api.admin_token()))


async def admin_patch(api: Api, path: str, body: dict[str, Any]) -> Any:
    return await api.client.patch(path, json=body, headers=bearer(api.admin_token()))


async def admin_get(api: Api, path: str) -> Any:
    return await api.client.get(path, headers=bearer(api.admin_token()))


async def pending_application() -> tuple[int, int, int]:
    """(application, applicant, inviter) of an application filed through a promoter's invite."""
    promoter, applicant = await new_member("oPromoter"), await new_member("oMerchant")
    scene = await create_invite(now=T0, inviter_id=promoter.id)
    filed = await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0, scene=scene)
    return filed.id, applicant.id, promoter.id


async def refused(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["field"] == field
    return body


# --- applications ---------------------------------------------------------------------------------


async def test_approval_creates_the_store_its_cashier_and_records_the_inviter(api: Api) -> None:
    await base_rules()
    application_id, applicant, inviter = await pending_application()
    listed = await (await admin_get(api, APPLICATIONS)).json()
    assert [a["id"] for a in listed["items"]] == [application_id]
    assert listed["items"][0]["applicant_id"] == applicant
    response = await admin_post(
        api, f"{APPLICATIONS}/{application_id}/approve", {"commission_bp": 3000}
    )
    assert response.status == 200, await response.text()
    store = (await response.json())["store"]
    assert (store["name"], store["commission_bp"]) == (MERCHANT_FORM.name, 3000)
    merchant = await Merchant.get(store_id=store["id"])
    assert (merchant.owner_id, merchant.inviter_id) == (applicant, inviter)  # type: ignore[attr-defined]
    assert await Cashier.exists(store_id=store["id"])
    decided = await MerchantApplication.get(id=application_id)
    assert (decided.status, decided.decided_by) == (ApplicationStatus.APPROVED, "ops@test")
    assert await (await admin_get(api, APPLICATIONS)).json() == {"items": [], "next_cursor": None}


async def test_approval_over_the_guardrail_is_refused_and_creates_nothing(api: Api) -> None:
    await base_rules(extract_bp=1000)
    await configure(direct_bp=1000)
    application_id, _, _ = await pending_application()
    response = await admin_post(
        api, f"{APPLICATIONS}/{application_id}/approve", {"commission_bp": 1500}
    )
    body = await refused(response, 400, "commission_bp")
    assert body["code"] == "invalid_setting" and "确认" in body["message"]
    assert (await MerchantApplication.get(id=application_id)).status == ApplicationStatus.PENDING
    assert await Store.all().count() == 0 and await GuardrailAck.all().count() == 0


async def test_an_acknowledged_approval_over_the_guardrail_is_audited(api: Api) -> None:
    await base_rules(extract_bp=1000)
    await configure(direct_bp=1000)
    application_id, _, _ = await pending_application()
    response = await admin_post(
        api,
        f"{APPLICATIONS}/{application_id}/approve",
        {"commission_bp": 1500, "acknowledge": True},
    )
    assert response.status == 200, await response.text()
    (ack,) = await GuardrailAck.all()
    assert (ack.operator, ack.context, ack.commission_bp, ack.payout_bp) == (
        "ops@test",
        "approve",
        1500,
        2000,
    )


async def test_a_rejection_records_the_reason_and_a_decided_application_stays_decided(
    api: Api,
) -> None:
    application_id, _, _ = await pending_application()
    response = await admin_post(
        api, f"{APPLICATIONS}/{application_id}/reject", {"reason": "营业执照照片不清晰"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["application"]["reject_reason"] == "营业执照照片不清晰"
    again = await admin_post(
        api, f"{APPLICATIONS}/{application_id}/approve", {"commission_bp": 3000}
    )
    await refused(again, 409, None)
    assert (await MerchantApplication.get(id=application_id)).status == ApplicationStatus.REJECTED
    assert await Store.all().count() == 0


async def test_the_operator_invite_qr_has_no_inviter(api: Api) -> None:
    for _ in range(2):
        response = await admin_get(api, "/api/admin/merchant-invites/qr")
        assert (response.status, response.content_type) == (200, "image/png")
    (invite,) = await MerchantInvite.all()
    assert (invite.inviter_id, invite.created_by) == (None, "operator:ops@test")  # type: ignore[attr-defined]
    sent = json.loads(api.wx.calls_to("/wxa/getwxacodeunlimit")[0].body)
    assert sent["scene"] == f"m:{invite.token}"


# --- distribution settings and the guardrail ------------------------------------------------------


async def test_distribution_settings_are_read_and_changed(api: Api) -> None:
    before = (await (await admin_get(api, SETTINGS)).json())["settings"]
    assert (before["team_depth"], before["direct_bp"]) == (2, 0)
    levels = [{"level": 1, "name": "经理", "rate_bp": 300, "min_direct_referrals": 2}]
    response = await admin_patch(
        api, SETTINGS, {"direct_bp": 800, "indirect_bp": 300, "levels": levels, "team_depth": 3}
    )
    assert response.status == 200, await response.text()
    after = (await (await admin_get(api, SETTINGS)).json())["settings"]
    assert (after["direct_bp"], after["indirect_bp"], after["team_depth"]) == (800, 300, 3)
    assert after["levels"][0]["rate_bp"] == 300 and after["freeze_days"] == before["freeze_days"]
    assert (await DistributionConfig.get(id=1)).updated_by == "ops@test"


async def test_a_depth_limit_above_three_is_refused_as_pyramid_selling(api: Api) -> None:
    response = await admin_patch(api, SETTINGS, {"team_depth": 4, "direct_bp": 500})
    body = await refused(response, 400, "team_depth")
    assert "传销" in body["message"]
    assert await DistributionConfig.all().count() == 0


async def test_a_bad_level_table_is_refused_naming_the_level(api: Api) -> None:
    levels = [
        {"level": 1, "name": "经理", "rate_bp": 500},
        {"level": 2, "name": "总监", "rate_bp": 300},
    ]
    await refused(await admin_patch(api, SETTINGS, {"levels": levels}), 400, "levels.1.rate_bp")
    assert await DistributionConfig.all().count() == 0


async def store_at_30_percent() -> int:
    """A store whose 30% commission covers the 10% extraction and nothing much more."""
    await base_rules(extract_bp=1000)
    return await approved_store((await new_member("oOwner")).id, commission_bp=3000)


async def test_settings_over_a_stores_commission_are_refused_unless_acknowledged(
    api: Api,
) -> None:
    store_id = await store_at_30_percent()
    response = await admin_patch(api, SETTINGS, {"direct_bp": 1500, "indirect_bp": 600})
    body = await refused(response, 400, "direct_bp")  # the first field the change raised
    assert f"门店 {store_id}" in body["message"]
    assert (await load_distribution()).direct_bp == 0
    assert await GuardrailAck.all().count() == 0


async def test_acknowledged_settings_over_a_stores_commission_are_audited(api: Api) -> None:
    store_id = await store_at_30_percent()
    response = await admin_patch(
        api, SETTINGS, {"direct_bp": 1500, "indirect_bp": 600, "acknowledge": True}
    )
    assert response.status == 200, await response.text()
    (over,) = (await response.json())["acknowledged"]
    assert (over["store_id"], over["payout_bp"], over["commission_bp"]) == (store_id, 3100, 3000)
    assert (await load_distribution()).direct_bp == 1500
    (ack,) = await GuardrailAck.all()
    assert (ack.store_id, ack.context) == (store_id, "distribution")  # type: ignore[attr-defined]


async def test_a_commission_below_the_payouts_is_refused_unless_acknowledged(api: Api) -> None:
    store_id = await store_at_30_percent()
    response = await admin_post(
        api, f"/api/admin/stores/{store_id}/commission", {"commission_bp": 900}
    )
    await refused(response, 400, "commission_bp")
    assert (await Store.get(id=store_id)).commission_bp == 3000
    assert await GuardrailAck.all().count() == 0


async def test_an_acknowledged_commission_change_is_saved_and_audited(api: Api) -> None:
    store_id = await store_at_30_percent()
    response = await admin_post(
        api, f"/api/admin/stores/{store_id}/commission", {"commission_bp": 900, "acknowledge": True}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["guardrail"]["payout_bp"] == 1000
    assert (await Store.get(id=store_id)).commission_bp == 900
    (ack,) = await GuardrailAck.all()
    assert (ack.context, ack.operator, ack.commission_bp) == ("commission", "ops@test", 900)


# --- team levels and jobs -------------------------------------------------------------------------


async def test_an_operator_sets_a_team_level_and_the_change_is_recorded(api: Api) -> None:
    await configure(levels=LEVELS)
    member = await new_member("oShareholder")
    response = await admin_post(
        api, f"/api/admin/members/{member.id}/team-level", {"level": 3, "note": "股东"}
    )
    assert await response.json() == {"member_id": member.id, "from_level": 0, "to_level": 3}
    (change,) = await TeamLevelChange.filter(member_id=member.id)
    assert (change.to_level, change.reason, change.detail["operator"]) == (
        3,
        "operator",
        "ops@test",
    )


async def test_an_unconfigured_team_level_is_refused(api: Api) -> None:
    await configure(levels=LEVELS)
    member = await new_member("oMember")
    response = await admin_post(api, f"/api/admin/members/{member.id}/team-level", {"level": 9})
    await refused(response, 400, "level")
    assert await TeamLevelChange.all().count() == 0


async def test_running_the_payout_job_now_pays_due_statements_by_merchant_transfer(
    api: Api, fake_wechat: TestServer
) -> None:
    await configure(statement_days=0)
    store_id = await store_at_30_percent()
    await pay_cashier((await new_member("oBuyer")).id, store_id, 10_000, Clock())
    closing = await admin_post(api, "/api/admin/jobs/merchant-statements/run")
    assert (await closing.json())["job"]["changes"]["statements"] == 1
    response = await admin_post(api, "/api/admin/jobs/merchant-payouts/run")
    job = (await response.json())["job"]
    assert (job["status"], job["changes"]) == ("succeeded", {"paid": 1}), job
    statement = await Statement.get(store_id=store_id)
    assert statement.status == "paid"
    (bill,) = fake_wechat.app[TRANSFER_KEY].created()
    assert (bill.out_bill_no, bill.amount, bill.openid) == (f"MS{statement.id}N1", 7000, "oOwner")


async def test_an_unknown_job_is_a_404(api: Api) -> None:
    response = await admin_post(api, "/api/admin/jobs/no-such-job/run")
    body = await refused(response, 404, "name")
    assert "merchant-payouts" in body["message"]
