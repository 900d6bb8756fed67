"""Operators' settings over HTTP: every section read and changed, each change audited; every
refusal names the field and leaves the database as it was; products', stores' and cashiers' own
settings with the commission guardrail; 一键启用; queue economics and job runs. The main flow
runs on SQLite without Redis too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from models import AuditLog, GuardrailAck, Product, ProductKind, Store
from runtime.sql import fetch
from services.catalog.products import new_product, new_store
from services.jobs import run_job
from services.members.views import load_display
from services.queues.clearing import load_schedule
from services.settings.base import load_base
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_entries import three_entries

SETTINGS_TABLES = (
    "rebate_config",
    "setting_doc",
    "job_setting",
    "audit_log",
    "product",
    "store",
    "cashier",
    "guardrail_ack",
)


async def settings_snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in SETTINGS_TABLES}


async def admin(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, path, json=body, headers=bearer(api.admin_token()))
    return response.status, await response.json()


CHANGE = {
    "base": {
        "extract_bp": 900,
        "paused": True,
        "ratios": {
            "level_bp": {"1": 12_000, "2": 15_000},
            "tiers": [{"days": 30, "min_amount_fen": 100_000, "ratio_bp": 14_000}],
            "lottery": {"mode": "range", "low_bp": 1000, "high_bp": 5000},
        },
        "random_return": {"group_size": 3, "cash_places": 1, "points_places": 2},
        "exchange_points_bp": 20_000,
    },
    "clearing": {"enabled": True, "kind": "weekly", "weekday": 1, "at": "03:30"},
    "display": {"pending_amount": False, "rebate_name": "排队免单"},
    "withdrawal": {"min_fen": 1000, "daily_cap_fen": 100_000},
    "points_transfer": {"enabled": True, "fee_bp": 100},
    "love": {"release_days": 3},
}
SECTIONS = ["base", "clearing", "display", "withdrawal", "points_transfer", "love"]


async def change_every_section(api: Api) -> None:
    status, before = await admin(api, "GET", "/api/admin/settings")
    assert status == 200 and list(before) == SECTIONS
    assert before["base"]["extract_bp"] == 1000 and before["clearing"]["enabled"] is False
    status, after = await admin(api, "PUT", "/api/admin/settings", CHANGE)
    assert status == 200, after
    assert after["base"]["ratios"]["default_bp"] == 10_000  # kept: ratios merge their keys
    assert after["base"]["ratios"]["level_bp"] == {"1": 12_000, "2": 15_000}
    assert after["base"]["random_return"] == {"cash_places": 1, "points_places": 2}
    base = await load_base()
    assert (base.extract_bp, base.paused, base.exchange_points_bp) == (900, True, 20_000)
    assert base.ratios.lottery is not None and base.ratios.lottery.high_bp == 5000
    schedule = await load_schedule()
    assert (schedule.enabled, schedule.kind.value, schedule.at.hour) == (True, "weekly", 3)
    display = await load_display()
    assert (display.pending_amount, display.rebate_name) == (False, "排队免单")
    assert after["withdrawal"]["min_fen"] == 1000 and after["withdrawal"]["max_fen"] == 200_000

    rows = await AuditLog.all().order_by("id")
    assert [r.section for r in rows] == SECTIONS
    assert after["points_transfer"]["enabled"] is True and after["points_transfer"]["fee_bp"] == 100
    assert after["love"] == {"release_enabled": True, "release_days": 3}
    for row in rows:
        assert row.operator == "ops@test" and row.target == ""
        assert (row.old, row.new) == (before[row.section], after[row.section])
    status, again = await admin(api, "PUT", "/api/admin/settings", CHANGE)
    assert status == 200 and again == after and await AuditLog.all().count() == 6  # no change
    status, trail = await admin(api, "GET", "/api/admin/audit?section=display")
    assert status == 200 and [r["new"]["rebate_name"] for r in trail["items"]] == ["排队免单"]


async def test_operators_read_and_change_every_section_and_each_change_is_audited(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    await change_every_section(api)
    token = await api.member_token()
    response = await api.client.get("/api/entries", headers=bearer(token))
    assert (await response.json())["names"]["rebate_name"] == "排队免单"


REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"base": {"extract_bp": 10_001}}, "base.extract_bp"),
    ({"base": {"ratios": {"default_bp": -1}}}, "base.ratios.default_bp"),
    ({"base": {"ratios": {"level_bp": {"1": 2_000_000}}}}, "base.ratios.level_bp.1"),
    (
        {"base": {"ratios": {"lottery": {"mode": "fixed", "ratios_bp": []}}}},
        "base.ratios.lottery.ratios_bp",
    ),
    (
        {"base": {"ratios": {"lottery": {"mode": "range", "low_bp": 5000, "high_bp": 1000}}}},
        "base.ratios.lottery.low_bp",
    ),
    (
        {"base": {"ratios": {"tiers": [{"days": 0, "min_amount_fen": 1, "ratio_bp": 1}]}}},
        "base.ratios.tiers.days",
    ),
    (
        {"base": {"random_return": {"group_size": 3, "cash_places": 1, "points_places": 1}}},
        "base.random_return.group_size",
    ),
    ({"base": {"random_return": {"cash_places": 0, "points_places": 0}}}, "base.random_return"),
    ({"base": {"settle_on": "never"}}, "base.settle_on"),
    ({"base": {"bogus": 1}}, "base.bogus"),
    ({"base": {"enabled": "yes"}}, "base.enabled"),
    ({"clearing": {"weekday": 8}}, "clearing.weekday"),
    ({"clearing": {"at": "25:00"}}, "clearing.at"),
    ({"clearing": {"kind": "once"}}, "clearing.once_at"),
    ({"display": {"rebate_name": " "}}, "display.rebate_name"),
    ({"withdrawal": {"min_fen": 0}}, "withdrawal.min_fen"),
    ({"withdrawal": {"max_fen": 300_000}}, "withdrawal.max_fen"),
    ({"display": {"pending_amount": False}, "base": {"extract_bp": -1}}, "base.extract_bp"),
    ({"points_transfer": {"fee_bp": 5_001}}, "points_transfer.fee_bp"),
    ({"points_transfer": {"keep_points": -1}}, "points_transfer.keep_points"),
    ({"points_transfer": {"daily_points": 0}}, "points_transfer.daily_points"),
    ({"love": {"release_days": -1}}, "love.release_days"),
]


async def test_a_refused_setting_names_the_field_and_nothing_is_saved(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    await admin(api, "PUT", "/api/admin/settings", {"display": {"rebate_name": "原名"}})
    before = await settings_snapshot()
    for body, field in REFUSALS:
        status, error = await admin(api, "PUT", "/api/admin/settings", body)
        assert (status, error["field"]) == (400, field), (body, error)
        assert error["message"], body
        assert await settings_snapshot() == before, body


async def test_product_store_and_cashier_settings_under_the_guardrail(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api("postgres")
    store = await new_store("门店", commission_bp=1000)
    mall = await new_product("自营", 10_000)
    store_goods = await new_product("门店货", 5000, kind=ProductKind.STORE, store_id=store.id)
    cashier_id = (await store.cashier).id  # type: ignore[attr-defined]

    token = await api.member_token()
    for method in ("GET", "PUT"):
        response = await api.client.request(
            method, "/api/admin/settings", json={}, headers=bearer(token)
        )
        assert response.status == 403
    assert (await api.client.get("/api/admin/settings")).status == 401

    # raising the base ratio above the store's commission, which the store falls back to
    before = await settings_snapshot()
    status, error = await admin(api, "PUT", "/api/admin/settings", {"base": {"extract_bp": 1100}})
    assert (status, error["field"]) == (400, "base.extract_bp") and "超过佣金" in error["message"]
    assert await settings_snapshot() == before
    body = {"base": {"extract_bp": 1100}, "acknowledge": True}
    status, _ = await admin(api, "PUT", "/api/admin/settings", body)
    assert status == 200 and await GuardrailAck.filter(store_id=store.id).count() == 1

    path = f"/api/admin/products/{mall.id}/rebate"
    status, read = await admin(api, "GET", path)
    assert status == 200 and read == {"target": {"enabled": True, "settings": None}}
    own = {"extract_bp": 2000, "ratios": {"default_bp": 15_000}}
    status, changed = await admin(api, "PUT", path, {"enabled": False, "settings": own})
    assert status == 200, changed
    saved = await Product.get(id=mall.id)
    assert saved.rebate_enabled is False and saved.rebate == changed["target"]["settings"]
    assert saved.rebate["extract_bp"] == 2000 and saved.rebate["ratios"]["default_bp"] == 15_000
    audit = await AuditLog.get(target=f"product:{mall.id}")
    assert audit.old == {"enabled": True, "settings": None} and audit.new == changed["target"]

    before = await settings_snapshot()
    for target_path, body, field in (
        (path, {"settings": {"random_return": {"cash_places": 1, "points_places": 1}}}, "settings.random_return"),
        (path, {"settings": {"ratios": {"lottery": {"mode": "fixed", "ratios_bp": []}}}}, "settings.ratios.lottery.ratios_bp"),
        (path, {"settings": {"extract_bp": 10_001}}, "settings.extract_bp"),
        (path, {"settings": {"windows": [{"start": "9am", "end": "10:00"}]}}, "settings.windows.start"),
        (path, {"settings": {"limits": {"per_day": -1}}}, "settings.limits.per_day"),
        (f"/api/admin/stores/{store.id}/rebate", {"settings": {"extract_bp": 1500}}, "settings.extract_bp"),
        (f"/api/admin/products/{store_goods.id}/rebate", {"settings": {"extract_bp": 1200}}, "settings.extract_bp"),
        (
            f"/api/admin/cashiers/{cashier_id}/rebate",
            {"settings": {"random_return": {"group_size": 5, "cash_places": 1, "points_places": 1}}},
            "settings.random_return.group_size",
        ),
    ):  # fmt: skip
        status, error = await admin(api, "PUT", target_path, body)
        assert (status, error["field"]) == (400, field), (target_path, body, error)
        assert await settings_snapshot() == before, body
    status, _ = await admin(api, "PUT", "/api/admin/stores/999999/rebate", {"enabled": False})
    assert status == 404

    store_path = f"/api/admin/stores/{store.id}/rebate"
    body = {"settings": {"extract_bp": 1500}, "acknowledge": True}
    status, changed = await admin(api, "PUT", store_path, body)
    assert status == 200 and (await Store.get(id=store.id)).rebate["extract_bp"] == 1500
    assert await GuardrailAck.filter(store_id=store.id).count() == 2
    rr = {"group_size": 2, "cash_places": 1, "points_places": 1}
    body = {"settings": {"extract_bp": 800, "random_return": rr}}
    status, changed = await admin(api, "PUT", f"/api/admin/cashiers/{cashier_id}/rebate", body)
    assert status == 200, changed
    assert changed["target"]["settings"]["random_return"] == {"cash_places": 1, "points_places": 1}
    # back to base 1100: still over the commission, but less than its own 1500 — the guardrail
    # judges the change, and this one raises nothing: saved, nothing to acknowledge
    status, changed = await admin(api, "PUT", store_path, {"settings": None})
    assert status == 200 and changed["target"]["settings"] is None
    assert await GuardrailAck.filter(store_id=store.id).count() == 2

    status, enabled = await admin(api, "POST", "/api/admin/products/enable-rebate")
    assert status == 200 and enabled == {"enabled": 1}
    assert (await Product.get(id=mall.id)).rebate_enabled is True
    sections = [r.section for r in await AuditLog.all().order_by("id")]
    assert sections == [
        *("guardrail_ack", "base"),  # an acknowledgement in the transaction of its change
        "product",
        *("guardrail_ack", "store"),
        *("cashier", "store", "product"),
    ]


async def test_operators_see_queue_economics_and_job_runs(make_api: Callable[..., Any]) -> None:
    api = await make_api("postgres")
    _, _, (a1, _, _) = await three_entries(api)
    status, economics = await admin(api, "GET", "/api/admin/queues/economics")
    assert status == 200, economics
    [queue] = economics["items"]
    assert (queue["key"], queue["waiting_entries"], queue["outstanding_fen"]) == ("mall", 3, 28_000)
    assert queue["inflow_fen"] == {"1": 3000, "7": 3000, "30": 3000}
    assert queue["until_newest_full_seconds"] > 0 and "不是承诺" in economics["note"]
    status, one = await admin(api, "GET", f"/api/admin/queues/economics?queue_id={a1.queue_id}")  # type: ignore[attr-defined]
    assert status == 200 and one["items"] == economics["items"] and one["next_cursor"] is None
    status, _ = await admin(api, "GET", "/api/admin/queues/economics?queue_id=999999")
    assert status == 404

    await run_job("clearing", now=datetime.now(UTC))
    status, runs = await admin(api, "GET", "/api/admin/jobs/runs?name=clearing")
    assert status == 200 and [(r["trigger"], r["status"]) for r in runs["items"]] == [
        ("operator", "succeeded")
    ]
    assert runs["items"][0]["changes"]["entries"] == 3
    status, error = await admin(api, "GET", "/api/admin/jobs/runs?name=bogus")
    assert status == 400 and error["field"] == "name"


async def test_the_settings_flow_on_sqlite_without_redis(make_api: Callable[..., Any]) -> None:
    api = await make_api("sqlite", redis=False)
    await change_every_section(api)
    store = await new_store("门店", commission_bp=2000)
    body = {"enabled": False, "settings": {"extract_bp": 1500}}
    status, changed = await admin(api, "PUT", f"/api/admin/stores/{store.id}/rebate", body)
    assert status == 200 and changed["target"]["enabled"] is False
    status, error = await admin(api, "PUT", "/api/admin/settings", REFUSALS[3][0])
    assert (status, error["field"]) == (400, REFUSALS[3][1])
    assert await AuditLog.all().count() == 7
