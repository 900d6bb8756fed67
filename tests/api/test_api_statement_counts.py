"""How many statements the hot requests send to PostgreSQL (issue 17): a login, an order with
its prepay, a confirmation that settles the order. Every statement the app's connections run
during the request is counted (``tests.sql_count``: BEGIN, COMMIT and the pool's reset on
release included, each a round trip — the numbers the server's log shows with
``log_statement = 'all'``).

The bounds are today's numbers: a change that sends more statements fails here and says which.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.catalog.products import new_product, new_store
from tests.api.conftest import Api, bearer
from tests.api.test_api_orders import pay_now
from tests.sql_count import Statements, counting

pytestmark = pytest.mark.postgres
SETTINGS_ROWS = re.compile(r'FROM "(rebate_config|distribution_config|product|store|cashier)"')


def report(what: str, statements: Statements) -> None:
    print(f"\n{what}: {len(statements)} statements")
    for text in statements.texts:
        print(f"    {text[:90]}")


async def login(
    api: Api, monkeypatch: pytest.MonkeyPatch, openid: str, code: str | None = None
) -> tuple[dict[str, Any], int]:
    with counting(monkeypatch) as seen:
        data = await api.login(openid, referral_code=code)
    report(f"login {openid} (referral code: {code})", seen)
    return data, len(seen)


async def test_login_statements(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """New member: one read, then one transaction (member and wallet). Seen before: one read.
    A new member's referral code is bound in the same transaction; an existing member's takes
    the binding's own (locked, cycle-checked) transaction."""
    first, new = await login(api, monkeypatch, "oCountA")
    _, again = await login(api, monkeypatch, "oCountA")
    code = first["member"]["referral_code"]
    _, referred = await login(api, monkeypatch, "oCountB", code)
    await login(api, monkeypatch, "oCountC")
    bound, bound_later = await login(api, monkeypatch, "oCountC", code)
    assert bound["member"]["referrer_id"] == first["member"]["id"]
    assert [new, again, referred, bound_later] == [5, 1, 6, 8]  # before: 5, 1, 14, 10


async def place(
    api: Api, monkeypatch: pytest.MonkeyPatch, token: str, body: dict[str, Any], what: str
) -> int:
    with counting(monkeypatch) as seen:
        response = await api.client.post("/api/orders", json=body, headers=bearer(token))
    assert response.status == 201, await response.text()
    report(what, seen)
    return len(seen)


async def test_order_statements(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Goods and cashier from the settings cache; member, order and lines in one transaction;
    the prepay after it; the reply from what was written (no read back)."""
    token = await api.member_token("oCountC")
    products = [(await new_product(f"P{i}", 1000 + i)).id for i in range(3)]
    store = await new_store("店")
    mall = {"source": "mall", "items": [{"product_id": p, "quantity": 1} for p in products]}
    cashier = {"source": "cashier", "store_id": store.id, "amount_fen": 5000}
    counts = [
        await place(api, monkeypatch, token, mall, "mall order of 3 products (cold cache)"),
        await place(api, monkeypatch, token, mall, "mall order of 3 products + prepay"),
        await place(api, monkeypatch, token, cashier, "cashier order (cold cache)"),
        await place(api, monkeypatch, token, cashier, "cashier order + prepay"),
    ]
    assert counts == [6, 5, 6, 5]  # before: 13, 13, 9, 9


async def test_goods_that_count_stock_cost_one_statement_more(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stock of every counted product of the order is taken by one conditional UPDATE in
    the order's transaction; unlimited goods cost nothing."""
    token = await api.member_token("oCountE")
    counted = [(await new_product(f"S{i}", 1000 + i, stock=10)).id for i in range(2)]
    free = (await new_product("F", 900)).id
    items = [{"product_id": p, "quantity": 2} for p in (*counted, free)]
    body = {"source": "mall", "items": items}
    counts = [
        await place(api, monkeypatch, token, body, "mall order, 2 of 3 counting stock (cold)"),
        await place(api, monkeypatch, token, body, "mall order, 2 of 3 counting stock + prepay"),
    ]
    assert counts == [7, 6]


async def test_settlement_reads_no_settings_row_once_cached(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Confirming an order of 3 products settles it: base, distribution and the products'
    rebate settings come from the cache once warm."""
    token = await api.member_token("oCountD")
    products = [(await new_product(f"P{i}", 1000 + i)).id for i in range(3)]
    body = {"source": "mall", "items": [{"product_id": p, "quantity": 1} for p in products]}
    for _ in range(2):  # the first warms the cache
        response = await api.client.post("/api/orders", json=body, headers=bearer(token))
        order = (await response.json())["order"]
        await pay_now(api, order["id"])
        with counting(monkeypatch) as seen:
            url = f"/api/orders/{order['id']}/confirm"
            response = await api.client.post(url, headers=bearer(token))
        assert response.status == 200, await response.text()
        report("confirm (settle) an order of 3 products", seen)
    assert [t for t in seen.texts if SETTINGS_ROWS.search(t)] == []  # before: 4 of 37
