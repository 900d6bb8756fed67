"""会员等级 over HTTP: the operator defines the ladder, members rise by completing orders (told,
recorded), an operator sets a level by hand (audited), the level at order time gives the ratio
(SPEC §5), nothing lowers a level by itself, and every bad input is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditLog, Entry, MemberLevel, MemberLevelChange, OutboxEvent
from tests.api.conftest import Api, bearer
from tests.api.test_api_orders import mall_product, pay_now, place

SILVER = {"rank": 1, "name": "银卡", "spend_fen": 300_00, "days": 30}
GOLD = {"rank": 2, "name": "金卡", "spend_fen": 1000_00, "orders": 5, "days": 30}
VIP = {"rank": 9, "name": "特邀"}


async def admin(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, path, json=body, headers=bearer(api.admin_token()))
    return response.status, await response.json()


async def define(api: Api, *levels: dict[str, Any]) -> None:
    for level in levels or (SILVER, GOLD, VIP):
        status, body = await admin(api, "POST", "/api/admin/member-levels", level)
        assert status == 201, body


async def use_ratios(api: Api, level_bp: dict[str, int] | None = None) -> None:
    ratios = {"default_bp": 10000, "level_bp": level_bp or {}}
    status, body = await admin(
        api, "PUT", "/api/admin/settings", {"base": {"extract_bp": 1000, "ratios": ratios}}
    )
    assert status == 200, body


async def order(api: Api, token: str, price_fen: int = 150_00) -> int:
    product = await mall_product(price_fen)
    response = await place(
        api, token, {"source": "mall", "items": [{"product_id": product, "quantity": 1}]}
    )
    assert response.status == 201, await response.text()
    order_id: int = (await response.json())["order"]["id"]
    await pay_now(api, order_id)
    return order_id


async def confirm(api: Api, token: str, order_id: int) -> None:
    response = await api.client.post(f"/api/orders/{order_id}/confirm", headers=bearer(token))
    assert response.status == 200, await response.text()


async def me(api: Api, token: str, path: str = "/api/me") -> Any:
    response = await api.client.get(path, headers=bearer(token))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_members_rise_through_the_operators_ladder_by_completing_orders(api: Api) -> None:
    await use_ratios(api)
    await define(api)
    status, listed = await admin(api, "GET", "/api/admin/member-levels")
    assert status == 200
    assert [(lv["rank"], lv["name"], lv["automatic"], lv["members"]) for lv in listed["items"]] == [
        (1, "银卡", True, 0), (2, "金卡", True, 0), (9, "特邀", False, 0),
    ]  # fmt: skip
    _, first = await admin(api, "GET", "/api/admin/member-levels?limit=2")
    _, rest = await admin(
        api, "GET", f"/api/admin/member-levels?limit=2&cursor={first['next_cursor']}"
    )
    assert [lv["rank"] for lv in first["items"] + rest["items"]] == [1, 2, 9]
    assert rest["next_cursor"] is None
    login = await api.login()
    token, member_id = login["token"], login["member"]["id"]
    assert (login["member"]["level"], login["member"]["level_name"]) == (0, None)
    await confirm(api, token, await order(api, token))
    progress = await me(api, token, "/api/me/level")
    assert progress["next"]["name"] == "银卡"
    assert progress["progress"]["spend_fen_needed"] == 150_00
    await confirm(api, token, await order(api, token))  # 300 元 completed within 30 days
    profile = (await me(api, token))["member"]
    assert (profile["level"], profile["level_name"]) == (1, "银卡")
    event = await OutboxEvent.get(kind="member_level_changed", member_id=member_id)
    assert (event.payload["to_level"], event.payload["source"]) == (1, "auto")
    status, changes = await admin(api, "GET", f"/api/admin/members/{member_id}/level-changes")
    assert status == 200
    assert [(c["from_level"], c["to_level"], c["source"], c["operator"]) for c in changes["items"]] == [
        (0, 1, "auto", "system"),
    ]  # fmt: skip
    upgraded = await me(api, token, "/api/me/level")
    assert upgraded["level"] == {"rank": 1, "name": "银卡"} and upgraded["next"]["rank"] == 2
    assert upgraded["progress"]["orders"] == 2 and upgraded["progress"]["orders_needed"] == 3


async def test_an_operator_sets_a_level_by_hand_with_a_reason_in_the_operation_log(
    api: Api,
) -> None:
    await define(api)
    login = await api.login()
    member_id = login["member"]["id"]
    path = f"/api/admin/members/{member_id}/level"
    status, set_ = await admin(api, "POST", path, {"level": 9, "reason": "重要客户"})
    assert (status, set_) == (
        200,
        {"member_id": member_id, "from_level": 0, "to_level": 9, "changed": True},
    )
    status, lowered = await admin(api, "POST", path, {"level": 0, "reason": "活动结束"})
    assert status == 200 and lowered["to_level"] == 0
    status, trail = await admin(api, "GET", "/api/admin/audit?section=member_level")
    assert status == 200
    assert [(a["operator"], a["old"]["level"], a["new"]["level"], a["new"]["reason"]) for a in trail["items"]] == [
        ("ops@test", 9, 0, "活动结束"),
        ("ops@test", 0, 9, "重要客户"),
    ]  # fmt: skip
    kinds = await OutboxEvent.filter(member_id=member_id, kind="member_level_changed").count()
    assert kinds == 2
    status, ladder_trail = await admin(api, "GET", "/api/admin/audit?section=member_levels")
    assert len(ladder_trail["items"]) == 3  # the three levels defined


async def test_a_level_ratio_applies_to_the_next_order_not_to_one_placed_before(api: Api) -> None:
    await use_ratios(api, {"1": 20000})
    await define(api)
    login = await api.login()
    token, member_id = login["token"], login["member"]["id"]
    before = await order(api, token)  # placed at level 0
    status, _ = await admin(
        api, "POST", f"/api/admin/members/{member_id}/level", {"level": 1, "reason": "活动"}
    )
    assert status == 200
    after = await order(api, token)
    await confirm(api, token, before)
    await confirm(api, token, after)
    first, second = await Entry.get(order_id=before), await Entry.get(order_id=after)
    assert (first.ratio_bp, first.ratio_source) == (10000, "base:default")
    assert (second.ratio_bp, second.ratio_source) == (20000, "base:level")


async def test_nothing_lowers_a_level_by_itself(api: Api) -> None:
    await use_ratios(api)
    await define(api)
    login = await api.login()
    token, member_id = login["token"], login["member"]["id"]
    await confirm(api, token, await order(api, token, 300_00))
    stronger = {k: v for k, v in SILVER.items() if k != "rank"} | {"spend_fen": 900_00}
    status, _ = await admin(api, "PUT", "/api/admin/member-levels/1", stronger)
    assert status == 200
    await confirm(api, token, await order(api, token, 1_00))  # re-evaluated: below 银卡 now
    assert (await me(api, token))["member"]["level"] == 1
    assert await MemberLevelChange.filter(member_id=member_id).count() == 1
    status, body = await admin(api, "DELETE", "/api/admin/member-levels/1")
    assert (status, body["field"]) == (409, "rank")
    status, body = await admin(api, "DELETE", "/api/admin/member-levels/9")
    assert (status, body) == (200, {"deleted": 9})


async def test_after_the_ladder_changes_an_evaluation_raises_who_already_qualifies(
    api: Api,
) -> None:
    await use_ratios(api)
    login = await api.login()
    token, member_id = login["token"], login["member"]["id"]
    for _ in range(2):
        await confirm(api, token, await order(api, token))  # no ladder yet: nothing to reach
    assert (await me(api, token))["member"]["level"] == 0
    await define(api)
    status, result = await admin(api, "POST", "/api/admin/member-levels/evaluate")
    assert (status, result) == (200, {"evaluated": 1, "raised": 1})
    assert (await me(api, token))["member"]["level"] == 1
    change = await MemberLevelChange.get(member_id=member_id)
    assert (change.source, change.detail["evaluated_by"]) == ("auto", "ops@test")
    status, again = await admin(api, "POST", "/api/admin/member-levels/evaluate")
    assert again == {"evaluated": 1, "raised": 0}


BAD_LEVELS = [
    ({"rank": 0, "name": "零"}, "rank"),
    ({"rank": 100, "name": "百"}, "rank"),
    ({"rank": "3", "name": "字符串"}, "rank"),
    ({"rank": 1, "name": "重复编号"}, "rank"),
    ({"rank": 3, "name": "银卡", "orders": 99}, "name"),
    ({"rank": 3, "name": ""}, "name"),
    ({"rank": 3, "name": "长" * 17}, "name"),
    ({"rank": 3, "name": "钻石", "spend_fen": -1}, "spend_fen"),
    ({"rank": 3, "name": "钻石", "spend_fen": 1.5}, "spend_fen"),
    ({"rank": 3, "name": "钻石", "spend_fen": True}, "spend_fen"),
    ({"rank": 3, "name": "钻石", "orders": 0}, "orders"),
    ({"rank": 3, "name": "钻石", "spend_fen": 2000_00, "days": 0}, "days"),
    ({"rank": 3, "name": "钻石", "days": 30}, "days"),
    ({"rank": 3, "name": "钻石", "spend_fen": 2000_00, "match": "some"}, "match"),
    ({"rank": 3, "name": "钻石", "spend_fen": 100_00, "days": 30}, "spend_fen"),  # below 银卡
    ({"rank": 3, "name": "钻石", "spend_fen": 300_00, "days": 90}, "spend_fen"),  # longer window
    ({"rank": 3, "name": "钻石", "color": "金"}, "color"),
    ({"name": "无编号"}, "rank"),
]


@pytest.mark.parametrize(("body", "field"), BAD_LEVELS)
async def test_a_bad_level_is_a_400_naming_the_field_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    await define(api, SILVER, GOLD)
    audits = await AuditLog.all().count()
    status, reply = await admin(api, "POST", "/api/admin/member-levels", body)
    assert (status, reply["field"]) == (400, field), reply
    assert await MemberLevel.all().count() == 2 and await AuditLog.all().count() == audits


BAD_EDITS = [
    ("PUT", "/api/admin/member-levels/2", {"name": "金卡", "spend_fen": 200_00, "days": 30}, 400, "spend_fen"),
    ("PUT", "/api/admin/member-levels/1", {"name": "金卡", "spend_fen": 300_00}, 400, "name"),
    ("PUT", "/api/admin/member-levels/1", {"name": "银卡", "orders": -2}, 400, "orders"),
    ("PUT", "/api/admin/member-levels/1", {"rank": 5, "name": "银卡"}, 400, "rank"),
    ("PUT", "/api/admin/member-levels/7", {"name": "七"}, 404, "rank"),
    ("DELETE", "/api/admin/member-levels/7", None, 404, "rank"),
    ("POST", "/api/admin/members/{m}/level", {"level": 5, "reason": "无此等级"}, 400, "level"),
    ("POST", "/api/admin/members/{m}/level", {"level": -1, "reason": "负数"}, 400, "level"),
    ("POST", "/api/admin/members/{m}/level", {"level": 1}, 400, "reason"),
    ("POST", "/api/admin/members/{m}/level", {"level": 1, "reason": ""}, 400, "reason"),
    ("POST", "/api/admin/members/{m}/level", {"level": 1, "reason": "   "}, 400, "reason"),
    ("POST", "/api/admin/members/999999/level", {"level": 1, "reason": "无此会员"}, 404, "member_id"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), BAD_EDITS)
async def test_a_bad_change_or_assignment_is_refused_naming_the_field(
    api: Api, method: str, path: str, body: Any, status: int, field: str
) -> None:
    await define(api, SILVER, GOLD)
    member_id = (await api.login())["member"]["id"]
    ladder = await MemberLevel.all().order_by("rank").values()
    audits = await AuditLog.all().count()
    got, reply = await admin(api, method, path.format(m=member_id), body)
    assert (got, reply["field"]) == (status, field), reply
    assert await MemberLevel.all().order_by("rank").values() == ladder
    assert await AuditLog.all().count() == audits and not await MemberLevelChange.exists()


async def test_the_routes_are_documented(api: Api) -> None:
    response = await api.client.get("/api/openapi.json")
    paths = (await response.json())["paths"]
    assert {"get", "post"} <= set(paths["/api/admin/member-levels"])
    assert {"put", "delete"} <= set(paths["/api/admin/member-levels/{rank}"])
    assert "post" in paths["/api/admin/members/{id}/level"]
    assert "get" in paths["/api/admin/members/{id}/level-changes"]
    assert "get" in paths["/api/me/level"]
    assert "post" in paths["/api/admin/member-levels/evaluate"]
