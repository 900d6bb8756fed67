"""The catalogue over HTTP (issue 18, item 1): an operator creates a supplier and products of the
three kinds, lists them with filters and pages, edits, delists and lists again — each change in
the operation log with the operator's name — and members see listed products only, with their
price and rebate terms and never their cost. Every bad input is a 400 (409 for a taken external
code) naming the field, with nothing changed. Stock, where a product counts it, is taken by an
order and given back when the order is closed unpaid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from tortoise import connections

from models import AuditLog, Member, Order, OrderStatus
from rebate.settings import OrderSource
from runtime.sql import fetch
from services.catalog.products import new_store
from services.clock import utcnow
from services.orders.lifecycle import Item, create_order
from services.orders.reconciliation import reconcile_unpaid
from services.queues.economics import NO_INFLOW_NOTE
from tests.api.conftest import Api, bearer
from web.keys import WECHAT

Product = dict[str, Any]  # a product (or supplier) as the admin API answers it
OPERATOR = "ops@test"  # Api.admin_token()'s operator
CATALOG_TABLES = ("supplier", "product", "audit_log")


async def admin(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, path, json=body, headers=bearer(api.admin_token()))
    return response.status, await response.json()


async def member_get(api: Api, path: str) -> tuple[int, Any]:
    response = await api.client.get(path)
    return response.status, await response.json()


async def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    status, data = await admin(api, "POST", "/api/admin/products", body)
    assert status == 201, data
    return dict(data["product"])


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in CATALOG_TABLES}


async def ids(api: Api, query: str) -> list[int]:
    status, data = await admin(api, "GET", f"/api/admin/products{query}")
    assert status == 200, data
    return [p["id"] for p in data["items"]]


async def audit_of(target: str) -> list[AuditLog]:
    return await AuditLog.filter(target=target).order_by("id")


async def mall_order(api: Api, token: str, product_id: int, quantity: int = 1) -> Any:
    body = {"source": "mall", "items": [{"product_id": product_id, "quantity": quantity}]}
    return await api.client.post("/api/orders", json=body, headers=bearer(token))


async def supplier_steps(api: Api) -> dict[str, Any]:
    """A supplier."""
    status, data = await admin(
        api, "POST", "/api/admin/suppliers", {"name": " 茶园 ", "contact": "老王"}
    )
    assert status == 201, data
    supplier = data["supplier"]
    assert (supplier["name"], supplier["contact"], supplier["phone"]) == ("茶园", "老王", "")
    status, data = await admin(
        api, "PATCH", f"/api/admin/suppliers/{supplier['id']}", {"phone": "+86 138-0000-0000"}
    )
    assert status == 200 and data["supplier"]["phone"] == "+86 138-0000-0000", data
    status, data = await admin(api, "GET", "/api/admin/suppliers?name=茶")
    assert [s["id"] for s in data["items"]] == [supplier["id"]]
    return dict(supplier)


async def three_kinds(api: Api, supplier: dict[str, Any]) -> list[dict[str, Any]]:
    """Products of the three kinds."""
    store = await new_store("一号店")
    tea = await create(
        api,
        {
            "kind": "self",
            "name": "茶叶礼盒",
            "price_fen": 16800,
            "cost_price_fen": 9000,
            "external_code": "TEA-1",
            "images": ["https://img.example.com/tea.jpg"],
        },
    )
    cup = await create(
        api,
        {
            "kind": "supplier",
            "supplier_id": supplier["id"],
            "name": "茶杯",
            "price_fen": 3000,
            "supply_price_fen": 2000,
            "cost_price_fen": 2000,
        },
    )
    noodles = await create(
        api, {"kind": "store", "store_id": store.id, "name": "牛肉面", "price_fen": 1800}
    )
    assert tea["rebate_enabled"] and cup["rebate_enabled"]  # 商品排队返利 is on by default
    assert (tea["images"], tea["external_code"], tea["stock"]) == (
        ["https://img.example.com/tea.jpg"],
        "TEA-1",
        None,
    )
    assert (cup["supplier_id"], cup["supply_price_fen"]) == (supplier["id"], 2000)
    assert noodles["store_id"] == store.id
    return [tea, cup, noodles]


async def lists(api: Api, tea: Product, cup: Product, noodles: Product) -> None:
    """Lists: filters and pages (newest first)."""
    assert await ids(api, "") == [noodles["id"], cup["id"], tea["id"]]
    assert await ids(api, "?kind=store") == [noodles["id"]]
    assert await ids(api, f"?store_id={noodles['store_id']}") == [noodles["id"]]
    assert await ids(api, f"?supplier_id={cup['supplier_id']}") == [cup["id"]]
    assert await ids(api, "?name=茶") == [cup["id"], tea["id"]]
    assert await ids(api, "?listed=false") == []
    assert await ids(api, "?rebate_enabled=true&kind=self") == [tea["id"]]
    _, first = await admin(api, "GET", "/api/admin/products?limit=2")
    assert [p["id"] for p in first["items"]] == [noodles["id"], cup["id"]]
    cursor = first["next_cursor"]
    assert await ids(api, f"?limit=2&cursor={cursor}") == [tea["id"]]


async def edit_and_show(api: Api, tea: Product, cup: Product) -> None:
    """An edit: one audit row with what changed."""
    status, data = await admin(
        api, "PATCH", f"/api/admin/products/{tea['id']}", {"price_fen": 15800, "name": "茶礼"}
    )
    assert status == 200 and (data["product"]["price_fen"], data["product"]["name"]) == (
        15800,
        "茶礼",
    )
    status, data = await admin(api, "GET", f"/api/admin/products/{tea['id']}")
    assert (data["product"]["price_fen"], data["product"]["cost_price_fen"]) == (15800, 9000)

    # members see listed products with their terms, never cost or supply price
    status, listed = await member_get(api, "/api/products?kind=supplier")
    assert status == 200 and [p["id"] for p in listed["items"]] == [cup["id"]]
    shown = listed["items"][0]
    assert "cost_price_fen" not in shown and "supply_price_fen" not in shown
    assert shown["rebate"] == {
        "applies": True,
        "reward_bp": 10_000,  # the base default
        "ratio_source": "base:default",
        "entitlement_fen": 3000,
        "extract_bp": 1_000,
        "lottery": False,
        "estimate": {  # its queue has nothing waiting and nothing flowing in yet
            "ahead": 0,
            "ahead_fen": 0,
            "eta_seconds": None,
            "estimated_full_at": None,
            "daily_inflow_fen": 0,
            "is_estimate": True,
            "note": NO_INFLOW_NOTE,
        },
    }
    status, data = await member_get(api, f"/api/products/{tea['id']}")
    assert status == 200 and data["product"]["price_fen"] == 15800


async def delist_and_list(api: Api, tea: Product, cup: Product, noodles: Product) -> None:
    """Bought once (the product's rules are cached now), then delisted."""
    token = await api.member_token()
    assert (await mall_order(api, token, cup["id"])).status == 201
    status, data = await admin(api, "POST", f"/api/admin/products/{cup['id']}/delist")
    assert status == 200 and data["product"]["listed"] is False
    status, data = await admin(api, "POST", f"/api/admin/products/{cup['id']}/delist")
    assert (status, data["field"]) == (400, "listed")
    assert (await member_get(api, f"/api/products/{cup['id']}"))[0] == 404
    status, listed = await member_get(api, "/api/products")
    assert [p["id"] for p in listed["items"]] == [noodles["id"], tea["id"]]
    refused = await mall_order(api, token, cup["id"])
    assert refused.status == 404 and (await refused.json())["field"] == "product_id"
    assert await ids(api, "?listed=false") == [cup["id"]]

    # listed again: sold again
    status, _ = await admin(api, "POST", f"/api/admin/products/{cup['id']}/list")
    assert status == 200
    assert (await mall_order(api, token, cup["id"])).status == 201


async def audited(tea: Product, cup: Product, supplier: Product) -> None:
    """The operation log names the operator of every change."""
    rows = await audit_of(f"product:{tea['id']}")
    assert [(r.section, r.operator) for r in rows] == [("product", OPERATOR)] * 2
    assert rows[0].old is None and rows[0].new["name"] == "茶叶礼盒"
    assert (rows[1].old, rows[1].new) == (
        {"name": "茶叶礼盒", "price_fen": 16800},
        {"name": "茶礼", "price_fen": 15800},
    )
    rows = await audit_of(f"product:{cup['id']}")
    assert [r.new.get("listed") for r in rows[1:]] == [False, True]
    assert {r.operator for r in rows} == {OPERATOR}
    rows = await audit_of(f"supplier:{supplier['id']}")
    assert [(r.section, r.operator, r.new.get("phone")) for r in rows] == [
        ("supplier", OPERATOR, ""),
        ("supplier", OPERATOR, "+86 138-0000-0000"),
    ]


async def operator_journey(api: Api) -> None:
    supplier = await supplier_steps(api)
    tea, cup, noodles = await three_kinds(api, supplier)
    await lists(api, tea, cup, noodles)
    await edit_and_show(api, tea, cup)
    await delist_and_list(api, tea, cup, noodles)
    await audited(tea, cup, supplier)


async def test_an_operator_opens_the_mall_on_postgres(api: Api) -> None:
    await operator_journey(api)


async def test_an_operator_opens_the_mall_on_sqlite(make_api: Callable[..., Any]) -> None:
    await operator_journey(await make_api("sqlite", redis=False))


async def test_new_products_follow_the_new_products_switch(api: Api) -> None:
    """商品排队返利 off: new products start with the rebate off, unless told otherwise."""
    status, _ = await admin(
        api, "PUT", "/api/admin/settings", {"base": {"new_products_enabled": False}}
    )
    assert status == 200
    off = await create(api, {"kind": "self", "name": "新品", "price_fen": 100})
    on = await create(
        api, {"kind": "self", "name": "新品", "price_fen": 100, "rebate_enabled": True}
    )
    assert (off["rebate_enabled"], on["rebate_enabled"]) == (False, True)
    assert (await member_get(api, f"/api/products/{off['id']}"))[1]["product"]["rebate"][
        "applies"
    ] is False


async def test_member_terms_follow_the_products_own_settings(api: Api) -> None:
    rebate = {"extract_bp": 6500, "ratios": {"default_bp": 13_000}}
    tea = await create(api, {"kind": "self", "name": "茶", "price_fen": 16800, "rebate": rebate})
    assert tea["rebate"]["extract_bp"] == 6500
    terms = (await member_get(api, f"/api/products/{tea['id']}"))[1]["product"]["rebate"]
    assert (terms["reward_bp"], terms["entitlement_fen"], terms["extract_bp"]) == (
        13_000,
        21_840,  # the seed's worked example: 168.00 × 130%
        6500,
    )
    assert terms["ratio_source"] == "product:default"


async def test_cost_above_price_is_stored_and_names_in_a_store_may_repeat(api: Api) -> None:
    store = await new_store("店")
    body = {"kind": "store", "store_id": store.id, "name": "面", "price_fen": 1000}
    first = await create(api, {**body, "cost_price_fen": 1500})
    second = await create(api, body)
    assert first["cost_price_fen"] == 1500 and second["name"] == first["name"]


async def test_a_taken_external_code_is_refused_naming_it(api: Api) -> None:
    tea = await create(api, {"kind": "self", "name": "茶", "price_fen": 100, "external_code": "X1"})
    other = await create(api, {"kind": "self", "name": "杯", "price_fen": 100})
    before = await snapshot()
    status, data = await admin(
        api, "POST", "/api/admin/products",
        {"kind": "self", "name": "茶2", "price_fen": 100, "external_code": "X1"},
    )  # fmt: skip
    assert (status, data["field"]) == (409, "external_code")
    status, data = await admin(
        api, "PATCH", f"/api/admin/products/{other['id']}", {"external_code": "X1"}
    )
    assert (status, data["field"]) == (409, "external_code")
    assert await snapshot() == before
    status, _ = await admin(  # its own code again is no conflict
        api, "PATCH", f"/api/admin/products/{tea['id']}", {"external_code": "X1"}
    )
    assert status == 200


GOOD = {"kind": "self", "name": "茶", "price_fen": 1000}
BAD_PRODUCTS = [
    ({**GOOD, "price_fen": -1}, "price_fen"),
    ({**GOOD, "price_fen": 0}, "price_fen"),
    ({**GOOD, "price_fen": 10.5}, "price_fen"),
    ({**GOOD, "price_fen": "1000"}, "price_fen"),
    ({**GOOD, "cost_price_fen": -5}, "cost_price_fen"),
    ({**GOOD, "cost_price_fen": 1.5}, "cost_price_fen"),
    ({**GOOD, "supply_price_fen": 500}, "supply_price_fen"),  # not supplier goods
    ({**GOOD, "name": "茶" * 129}, "name"),
    ({**GOOD, "name": "   "}, "name"),
    ({**GOOD, "images": ["ftp://img.example.com/a.jpg"]}, "images[0]"),
    ({**GOOD, "images": ["https://img.example.com/a.jpg", "not a url"]}, "images[1]"),
    ({**GOOD, "images": ["https://a.example.com/x.jpg"] * 10}, "images"),
    ({**GOOD, "stock": -1}, "stock"),
    ({**GOOD, "kind": "gift"}, "kind"),
    ({**GOOD, "store_id": "STORE"}, "store_id"),  # mall goods with a store
    ({**GOOD, "kind": "store"}, "store_id"),  # store goods without one
    ({**GOOD, "kind": "store", "store_id": 999_999}, "store_id"),
    ({**GOOD, "kind": "supplier"}, "supplier_id"),
    ({**GOOD, "kind": "supplier", "supplier_id": 999_999}, "supplier_id"),
    ({**GOOD, "supplier_id": "SUPPLIER"}, "supplier_id"),  # self-operated with a supplier
    ({**GOOD, "rebate": {"extract_bp": 20_000}}, "rebate.extract_bp"),
    ({**GOOD, "rebate": {"random_return": {"cash_places": 1}}}, "rebate.random_return"),
]


@pytest.mark.parametrize(("body", "field"), BAD_PRODUCTS)
async def test_a_bad_product_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    store = await new_store("店")
    status, data = await admin(
        api, "POST", "/api/admin/suppliers", {"name": "供应商"}
    )  # a real supplier, so that a refusal is about the rule, not a missing row
    refs = {"STORE": store.id, "SUPPLIER": data["supplier"]["id"]}
    body = {k: refs.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = await snapshot()
    status, data = await admin(api, "POST", "/api/admin/products", body)
    assert (status, data["field"]) == (400, field), data
    assert await snapshot() == before


BAD_EDITS = [
    ({"price_fen": -1}, "price_fen"),
    ({"price_fen": 99.9}, "price_fen"),
    ({"name": "x" * 129}, "name"),
    ({"images": ["javascript:alert(1)"]}, "images[0]"),
    ({"kind": "store"}, "kind"),
    ({"store_id": 1}, "store_id"),
    ({"supplier_id": 1}, "supplier_id"),  # self-operated goods have no supplier
    ({"supply_price_fen": 1}, "supply_price_fen"),
    ({"stock": -2}, "stock"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_EDITS)
async def test_a_bad_edit_is_refused_naming_the_field(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    tea = await create(api, GOOD)
    await admin(api, "POST", "/api/admin/suppliers", {"name": "供应商"})
    before = await snapshot()
    status, data = await admin(api, "PATCH", f"/api/admin/products/{tea['id']}", changes)
    assert (status, data["field"]) == (400, field), data
    assert await snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "a", "phone": "call me"}, "phone"),
    ],
)
async def test_a_bad_supplier_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = await snapshot()
    status, data = await admin(api, "POST", "/api/admin/suppliers", body)
    assert (status, data["field"]) == (400, field), data
    assert await snapshot() == before


async def test_listing_a_listed_product_and_unknown_products_are_refused(api: Api) -> None:
    tea = await create(api, GOOD)
    status, data = await admin(api, "POST", f"/api/admin/products/{tea['id']}/list")
    assert (status, data["field"]) == (400, "listed")
    for method, path in (
        ("GET", "/api/admin/products/999999"),
        ("PATCH", "/api/admin/products/999999"),
        ("POST", "/api/admin/products/999999/delist"),
        ("PATCH", "/api/admin/suppliers/999999"),
    ):
        status, _ = await admin(api, method, path, {} if method == "PATCH" else None)
        assert status == 404, (method, path)
    assert (await member_get(api, "/api/products/999999"))[0] == 404
    status, data = await admin(api, "GET", "/api/admin/products?listed=maybe")
    assert (status, data["field"]) == (400, "listed")


async def test_the_catalogue_needs_an_admin_token_and_is_documented(api: Api) -> None:
    token = await api.member_token()
    response = await api.client.get("/api/admin/products", headers=bearer(token))
    assert response.status in (401, 403)
    document = await (await api.client.get("/api/openapi.json")).json()
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/api/admin/products"])
    assert {"get", "patch"} <= set(paths["/api/admin/products/{id}"])
    assert "post" in paths["/api/admin/products/{id}/delist"]
    assert {"post", "get"} <= set(paths["/api/admin/suppliers"])
    assert "get" in paths["/api/products"] and "get" in paths["/api/products/{id}"]


async def stock_of(api: Api, product_id: int) -> Any:
    return (await admin(api, "GET", f"/api/admin/products/{product_id}"))[1]["product"]["stock"]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_orders_take_stock_and_a_closed_order_gives_it_back(
    make_api: Callable[..., Any], backend: str
) -> None:
    api: Api = await make_api(backend, redis=backend == "postgres")
    counted = await create(api, {**GOOD, "stock": 3})
    unlimited = await create(api, GOOD)
    token = await api.member_token("oStock")
    both = {
        "source": "mall",
        "items": [
            {"product_id": counted["id"], "quantity": 1},
            {"product_id": unlimited["id"], "quantity": 5},
            {"product_id": counted["id"], "quantity": 1},
        ],
    }
    assert (await api.client.post("/api/orders", json=both, headers=bearer(token))).status == 201
    assert (await stock_of(api, counted["id"]), await stock_of(api, unlimited["id"])) == (1, None)
    before = await Order.all().count()
    refused = await mall_order(api, token, counted["id"], 2)
    data = await refused.json()
    assert (refused.status, data["field"]) == (409, "items") and str(counted["id"]) in data[
        "message"
    ]
    assert await Order.all().count() == before and await stock_of(api, counted["id"]) == 1

    # the last unit goes to an order that is never paid: closing it gives its unit back
    member = await Member.get(openid="oStock")
    order = await create_order(member.id, OrderSource.MALL, items=[Item(counted["id"])])
    assert await stock_of(api, counted["id"]) == 0
    await Order.filter(id=order.id).update(created_at=utcnow() - timedelta(hours=25))
    report = await reconcile_unpaid(api.app[WECHAT].pay, now=utcnow())
    assert order.out_trade_no in report.closed
    assert (await Order.get(id=order.id)).status == OrderStatus.CLOSED
    assert await stock_of(api, counted["id"]) == 1

    # the operator restocks; unlimited again with null
    status, _ = await admin(api, "PATCH", f"/api/admin/products/{counted['id']}", {"stock": None})
    assert status == 200
    assert (await mall_order(api, token, counted["id"], 50)).status == 201


async def test_a_store_products_own_extraction_goes_through_the_guardrail(api: Api) -> None:
    """Store goods whose own extraction exceeds the store's commission are refused unless the
    operator acknowledges it, on creation as on an edit."""
    store = await new_store("店", commission_bp=500)
    body = {
        "kind": "store",
        "store_id": store.id,
        "name": "面",
        "price_fen": 1000,
        "rebate": {"extract_bp": 2000},
    }
    before = await snapshot()
    status, data = await admin(api, "POST", "/api/admin/products", body)
    assert (status, data["field"]) == (400, "rebate.extract_bp"), data
    assert await snapshot() == before
    made = await create(api, {**body, "acknowledge": True})
    assert made["rebate"]["extract_bp"] == 2000
    plain = await create(api, {**body, "rebate": None})
    path = f"/api/admin/products/{plain['id']}"
    status, data = await admin(api, "PATCH", path, {"rebate": {"extract_bp": 3000}})
    assert (status, data["field"]) == (400, "rebate.extract_bp"), data
    status, data = await admin(
        api, "PATCH", path, {"rebate": {"extract_bp": 3000}, "acknowledge": True}
    )
    assert status == 200 and data["product"]["rebate"]["extract_bp"] == 3000


async def test_an_edit_may_move_supplier_goods_and_switch_the_rebate(api: Api) -> None:
    first, second = [
        (await admin(api, "POST", "/api/admin/suppliers", {"name": n}))[1]["supplier"]["id"]
        for n in ("甲", "乙")
    ]
    cup = await create(
        api, {"kind": "supplier", "supplier_id": first, "name": "杯", "price_fen": 100}
    )
    status, data = await admin(
        api,
        "PATCH",
        f"/api/admin/products/{cup['id']}",
        {"supplier_id": second, "rebate_enabled": False, "images": None},
    )
    assert status == 200, data
    assert (data["product"]["supplier_id"], data["product"]["rebate_enabled"]) == (second, False)
    row = (await audit_of(f"product:{cup['id']}"))[-1]
    assert (row.old, row.new) == (
        {"supplier_id": first, "rebate_enabled": True},
        {"supplier_id": second, "rebate_enabled": False},
    )
    terms = (await member_get(api, f"/api/products/{cup['id']}"))[1]["product"]["rebate"]
    assert terms["applies"] is False
