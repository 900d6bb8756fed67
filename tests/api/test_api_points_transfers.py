"""积分转让 over HTTP: a member sends points to another by referral code — both sides and the
fee in one posting call, once per request id, audited, the receiver told; every refusal names
its field and changes nothing (a snapshot of the tables compared); the operator's settings are
validated and audited. Also on SQLite without Redis."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from models import AuditLog, Member, OutboxEvent, Posting
from runtime.sql import fetch
from services.checks import check_conservation
from services.clock import utcnow
from services.settings.changes import change_settings
from services.wallets.adjustments import adjust_balance
from tests.api.conftest import Api
from tests.api.test_api_member_entries import get, member, post

TABLES = ("posting", "wallet", "outbox_event", "points_transfer", "audit_log")

PATH = "/api/me/points-transfers"
ON = {"enabled": True, "min_points": 10, "max_points": 600, "daily_points": 800}


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


async def configure(**doc: Any) -> None:
    await change_settings({"points_transfer": doc}, operator="ops@test", now=utcnow())


async def give_points(member_id: int, points: int) -> None:
    await adjust_balance(
        member_id, balance="points", amount=points, reason="测试发放",
        request_id=f"seed-{member_id}-{points}", operator="ops@test", now=utcnow(),
    )  # fmt: skip


async def code_of(member_id: int) -> str:
    return (await Member.get(id=member_id)).referral_code


async def points_of(api: Api, token: str) -> int:
    status, data = await get(api, "/api/wallet", token)
    assert status == 200, data
    return int(data["balances"]["points"])


async def two_members(api: Api) -> tuple[tuple[int, str], tuple[int, str]]:
    sender, receiver = await member(api, "转出方"), await member(api, "转入方")
    await give_points(sender[0], 1_000)
    return sender, receiver


def body(to_code: str, points: Any, request_id: str = "req-00000001") -> dict[str, Any]:
    return {"to_code": to_code, "points": points, "request_id": request_id}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_a_transfer_moves_both_sides_and_the_fee_once_per_request_id(
    make_api: Any, backend: str
) -> None:
    api: Api = await make_api(backend, redis=backend == "postgres")
    (sender, s_token), (receiver, r_token) = await two_members(api)
    await configure(**ON, fee_bp=150)  # 1.5% of 333 is 4.995: the fee is 4
    request = body(await code_of(receiver), 333)
    status, data = await post(api, PATH, s_token, request)
    assert status == 201, data
    sent = data["transfer"]
    assert (sent["direction"], sent["points"], sent["fee"]) == ("sent", 333, 4)
    assert sent["counterpart_nickname"] == "转入方"
    assert await points_of(api, s_token) == 1_000 - 333 - 4
    assert await points_of(api, r_token) == 333
    moves = {p.kind: p for p in await Posting.filter(kind__startswith="points_transfer")}
    assert {k: (p.debit, p.credit, p.amount) for k, p in moves.items()} == {
        "points_transfer": (f"member:{sender}:points", f"member:{receiver}:points", 333),
        "points_transfer_fee": (f"member:{sender}:points", "platform:points", 4),
    }
    log = await AuditLog.get(section="points_transferred")
    assert (log.operator, log.target) == (f"member:{sender}", f"points_transfer:{sent['id']}")
    told = await OutboxEvent.get(kind="points_received")
    assert told.member_id == receiver and told.payload["points"] == 333  # type: ignore[attr-defined]

    before = await snapshot()
    again, replay = await post(api, PATH, s_token, request)
    assert (again, replay["transfer"]) == (200, sent)
    assert await snapshot() == before

    status, mine = await get(api, PATH, s_token)
    assert status == 200 and [t["id"] for t in mine["items"]] == [sent["id"]]
    status, theirs = await get(api, PATH, r_token)
    received = theirs["items"][0]
    assert (received["direction"], received["points"], received["fee"]) == ("received", 333, 0)
    assert received["counterpart_nickname"] == "转出方" and received["request_id"] == ""
    assert await check_conservation() == []


async def test_without_a_fee_there_is_one_posting(api: Api) -> None:
    (_, s_token), (receiver, _) = await two_members(api)
    await configure(**ON, fee_bp=150)
    lower = (await code_of(receiver)).lower()  # codes are read aloud: any case will do
    status, data = await post(api, PATH, s_token, body(lower, 66))
    assert status == 201 and data["transfer"]["fee"] == 0  # 66 × 1.5% < 1 point
    assert await Posting.filter(kind="points_transfer_fee").count() == 0
    assert await check_conservation() == []


async def test_every_refusal_names_its_field_and_changes_nothing(api: Api) -> None:
    (sender, s_token), (receiver, _) = await two_members(api)
    to = await code_of(receiver)
    before = await snapshot()
    status, data = await post(api, PATH, s_token, body(to, 100))  # off by default
    assert (status, data["field"]) == (409, "points"), data
    await configure(**ON, keep_points=100)
    status, data = await post(api, PATH, s_token, body(to, 500, "req-first-1"))
    assert status == 201, data
    before = await snapshot()
    cases = [
        (body(await code_of(sender), 100, "req-self-01"), 400, "to_code"),
        (body("NOSUCHCODE", 100, "req-unknown"), 404, "to_code"),
        (body("AB\u0000CD", 100, "req-nul-code"), 400, "to_code"),
        (body("", 100, "req-no-code0"), 400, "to_code"),
        (body(to, 100, "req-\u0000-nul"), 400, "request_id"),
        (body(to, 2**63, "req-huge-000"), 400, "points"),
        (body(to, 9, "req-too-low"), 400, "points"),
        (body(to, 601, "req-too-high"), 400, "points"),
        (body(to, 401, "req-over-bal"), 409, "points"),  # 500 left, 100 to keep
        (body(to, 301, "req-daily-01"), 409, "points"),  # 500 + 301 > 800 today
        (body(to, -5, "req-negative"), 400, "points"),
        (body(to, 0, "req-zero-000"), 400, "points"),
        (body(to, 1.5, "req-fraction"), 400, "points"),
        (body(to, "100", "req-string-1"), 400, "points"),
        (body(to, 100, "short"), 400, "request_id"),
        (body(to, 499, "req-first-1"), 409, "request_id"),  # replay, another amount
        (body(to, 500, "req-first-1") | {"to_code": await code_of(sender)}, 409, "request_id"),
        ({"to_code": to, "points": 100}, 400, "request_id"),
    ]
    for request, status, field in cases:
        got, data = await post(api, PATH, s_token, request)
        assert (got, data.get("field")) == (status, field), (request, data)
    assert await snapshot() == before
    assert await check_conservation() == []


async def test_operators_change_the_transfer_and_love_settings_with_validation_and_audit(
    api: Api,
) -> None:
    token = api.admin_token()
    response = await api.client.put(
        "/api/admin/settings",
        json={"points_transfer": {"min_points": 50, "max_points": 10}},
        headers={"Authorization": f"Bearer {token}"},
    )
    data = await response.json()
    assert (response.status, data["field"]) == (400, "points_transfer.max_points"), data
    response = await api.client.put(
        "/api/admin/settings",
        json={"points_transfer": {"enabled": True, "fee_bp": 100}, "love": {"release_days": 3}},
        headers={"Authorization": f"Bearer {token}"},
    )
    data = await response.json()
    assert response.status == 200, data
    assert data["points_transfer"]["enabled"] is True and data["love"]["release_days"] == 3
    sections = {row.section for row in await AuditLog.all()}
    assert {"points_transfer", "love"} <= sections
