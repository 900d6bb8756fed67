"""An operator adjusts a member's balance over HTTP: with a reason, once per request id, never
below zero; every refusal names the field and changes nothing."""

from __future__ import annotations

from typing import Any

from ledger.balances import balances_of
from models import AuditLog, Member, Posting
from tests.api.conftest import Api, bearer
from web.keys import SETTINGS


async def post_adjustment(
    api: Api, member_id: int, body: dict[str, Any], token: str | None = None
) -> tuple[int, Any]:
    response = await api.client.post(
        f"/api/admin/members/{member_id}/adjustments", json=body,
        headers=bearer(token or api.admin_token()),
    )  # fmt: skip
    return response.status, await response.json()


ADJUST = {"balance": "cash", "amount": 2_000, "reason": "活动补偿", "request_id": "ops-req-0001"}


async def test_an_operator_gives_cash_once_per_request_and_it_is_logged(api: Api) -> None:
    await api.login("o-adjust")
    member = await Member.get(openid="o-adjust")
    status, data = await post_adjustment(api, member.id, ADJUST)
    assert status == 200, data
    assert (
        data["adjustment"]["balance_after"] == 2_000
        and data["adjustment"]["operator"] == "ops@test"
    )
    again, _ = await post_adjustment(api, member.id, ADJUST)
    assert again == 200 and (await balances_of(member.id)).cash_fen == 2_000
    assert await Posting.filter(kind="adjustment").count() == 1
    assert (await AuditLog.get(section="wallet_adjustment")).operator == "ops@test"


async def test_refusals_name_the_field_and_change_nothing(api: Api) -> None:
    await api.login("o-adjust")
    member = await Member.get(openid="o-adjust")
    cases = [
        ({**ADJUST, "amount": -1}, 409, "amount"),  # more than the member holds
        ({**ADJUST, "amount": 0}, 400, "amount"),
        ({**ADJUST, "balance": "gold"}, 400, "balance"),
        ({**ADJUST, "reason": ""}, 400, "reason"),
        ({**ADJUST, "request_id": "x"}, 400, "request_id"),
        ({k: v for k, v in ADJUST.items() if k != "reason"}, 400, "reason"),
    ]
    for body, status, field in cases:
        got, data = await post_adjustment(api, member.id, body)
        assert (got, data.get("field")) == (status, field), (body, data)
    missing, _ = await post_adjustment(api, 999_999, ADJUST)
    assert missing == 404
    assert await Posting.filter(kind="adjustment").count() == 0


async def test_a_member_token_cannot_adjust_balances(api: Api) -> None:
    token = await api.member_token("o-adjust")
    member = await Member.get(openid="o-adjust")
    status, _ = await post_adjustment(api, member.id, ADJUST, token=token)
    assert status in (401, 403)
    assert (await balances_of(member.id)).cash_fen == 0


async def test_a_finance_operator_adjusts_within_the_roles_limit_and_an_owner_beyond(
    api: Api,
) -> None:
    from tests.api.test_api_operators import operator, token_for

    await api.login("o-limit")
    member = await Member.get(openid="o-limit")
    await operator("fiona", "finance")
    await operator("olga", "owner")
    _, finance = await token_for(api, "fiona")
    _, owner = await token_for(api, "olga")
    limit = api.app[SETTINGS].auth.finance_adjustment_limit  # 1000 元 by default
    over = {**ADJUST, "amount": limit + 1, "request_id": "ops-req-limit-1"}
    status, refused = await post_adjustment(api, member.id, over, finance)
    assert (status, refused["field"]) == (409, "amount"), refused
    assert "上限" in refused["message"] and not await Posting.filter(kind="adjustment").exists()
    within = {**ADJUST, "amount": limit, "request_id": "ops-req-limit-2"}
    assert (await post_adjustment(api, member.id, within, finance))[0] == 200
    status, done = await post_adjustment(api, member.id, over, owner)
    assert status == 200 and done["adjustment"]["operator"] == "olga", done
    assert (await balances_of(member.id)).cash_fen == 2 * limit + 1
