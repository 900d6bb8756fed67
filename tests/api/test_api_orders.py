"""Orders over HTTP: create and pay (v3 and v2 against the fake WeChat Pay), read, confirm,
request a refund — and every refusal. The flow also runs on SQLite without Redis."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from models import Entry, Order, OrderLine, OrderStatus, ProductKind, Refund, RefundStatus
from services.catalog.products import new_product, new_store
from services.orders.lifecycle import mark_paid
from tests.api.conftest import API_KEY, APPID, NOTIFY_URL, Api, Keys, bearer
from wechat_fake.notify import wechat_v2_sign


async def place(api: Api, token: str, body: dict[str, Any]) -> Any:
    return await api.client.post("/api/orders", json=body, headers=bearer(token))


async def mall_product(price_fen: int = 16800) -> int:
    return (await new_product("好物", price_fen)).id


async def mall_order(api: Api, token: str, *, full: bool = False) -> Any:
    """A new unpaid mall order of one new product: its JSON (``full``: with the payment)."""
    response = await place(
        api,
        token,
        {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]},
    )
    assert response.status == 201, await response.text()
    data = await response.json()
    return data if full else data["order"]


async def pay_now(api: Api, order_id: int) -> None:
    """The member pays at the fake WeChat Pay; then what the payment notification will do (not
    this module's job): mark the order paid."""
    order = await Order.get(id=order_id)
    api.wx.mark_paid(order.out_trade_no)
    await mark_paid(order_id, paid_fen=order.paid_fen, now=datetime.now(UTC))


def assert_v3_pay_sign(payment: dict[str, str], keys: Keys) -> None:
    message = (
        f"{payment['appId']}\n{payment['timeStamp']}\n{payment['nonceStr']}\n{payment['package']}\n"
    ).encode()
    keys.merchant.public_key().verify(
        base64.b64decode(payment["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


async def run_member_flow(api: Api, keys: Keys | None) -> None:
    """login → order → prepay → (paid) → read → confirm → refund request."""
    login = await api.login("oFlow")
    token = login["token"]
    product_id = await mall_product()
    created = await place(
        api, token, {"source": "mall", "items": [{"product_id": product_id, "quantity": 2}]}
    )
    assert created.status == 201, await created.text()
    data = await created.json()
    order, payment = data["order"], data["payment"]
    assert (order["status"], order["total_fen"], order["paid_fen"]) == ("created", 33600, 33600)
    assert payment["appId"] == APPID
    fake_order = api.wx.orders[order["out_trade_no"]]
    assert payment["package"] == f"prepay_id={fake_order.prepay_id}"
    assert (fake_order.total, fake_order.openid, fake_order.notify_url) == (
        33600,
        "oFlow",
        NOTIFY_URL,
    )
    if keys is not None:
        assert payment["signType"] == "RSA"
        assert_v3_pay_sign(payment, keys)

    await pay_now(api, order["id"])
    shown = await api.client.get(f"/api/orders/{order['id']}", headers=bearer(token))
    assert (await shown.json())["order"]["status"] == "paid"

    confirmed = await api.client.post(f"/api/orders/{order['id']}/confirm", headers=bearer(token))
    assert confirmed.status == 200
    assert (await confirmed.json())["order"]["status"] == "completed"
    assert await Entry.filter(order_id=order["id"]).count() == 1  # settled on completion

    line_id = order["lines"][0]["id"]
    refund = await api.client.post(
        f"/api/orders/{order['id']}/lines/{line_id}/refund",
        json={"reason": "不想要了"},
        headers=bearer(token),
    )
    assert refund.status == 202, await refund.text()
    requested = (await refund.json())["refund"]
    assert (requested["status"], requested["amount_fen"]) == ("requested", 33600)
    assert api.wx.refunds[requested["out_refund_no"]].refund == 33600
    line = await OrderLine.get(id=line_id)
    assert line.status == "settled"  # nothing changes until WeChat's refund notification


async def test_member_flow_on_postgres_with_redis_and_pay_v3(api: Api, keys: Keys) -> None:
    await run_member_flow(api, keys)


async def test_member_flow_on_sqlite_without_redis(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    await run_member_flow(await make_api("sqlite", redis=False), keys)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_pay_v2_returns_hmac_signed_request_payment_params(
    make_api: Callable[..., Any], backend: str
) -> None:
    api: Api = await make_api(backend, api_version="v2")
    token = await api.member_token("oV2")
    data = await mall_order(api, token, full=True)
    payment = data["payment"]
    assert payment["signType"] == "HMAC-SHA256"
    unsigned = {k: v for k, v in payment.items() if k != "paySign"}
    assert payment["paySign"] == wechat_v2_sign(unsigned, API_KEY, "HMAC-SHA256")
    assert api.wx.orders[data["order"]["out_trade_no"]].api == "v2"


async def test_cashier_order_pays_an_amount_to_a_store(api: Api) -> None:
    store = await new_store("一号店")
    token = await api.member_token()
    created = await place(
        api, token, {"source": "cashier", "store_id": store.id, "amount_fen": 5000}
    )
    assert created.status == 201
    order = (await created.json())["order"]
    assert (order["source"], order["store_id"], order["paid_fen"]) == ("cashier", store.id, 5000)
    assert order["lines"][0]["product_id"] is None


async def test_store_order_buys_a_stores_goods(api: Api) -> None:
    store = await new_store("二号店")
    product = await new_product("门店货", 990, kind=ProductKind.STORE, store_id=store.id)
    token = await api.member_token()
    created = await place(
        api, token, {"source": "store", "items": [{"product_id": product.id, "quantity": 3}]}
    )
    assert created.status == 201
    assert (await created.json())["order"]["store_id"] == store.id


async def test_pay_again_returns_fresh_params_for_an_unpaid_order(api: Api) -> None:
    token = await api.member_token()
    created = await mall_order(api, token, full=True)
    again = await api.client.post(
        f"/api/orders/{created['order']['id']}/pay", headers=bearer(token)
    )
    assert again.status == 200
    assert (await again.json())["payment"]["package"] == created["payment"]["package"]


# --- retries with an Idempotency-Key ----------------------------------------------------------


def keyed(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_a_retried_order_with_its_key_makes_one_order_and_one_out_trade_no(
    make_api: Callable[..., Any], backend: str
) -> None:
    api: Api = await make_api(backend)
    token = await api.member_token("oRetry")
    body = {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 2}]}
    first = await api.client.post("/api/orders", json=body, headers=keyed(token, "k-1"))
    again = await api.client.post("/api/orders", json=body, headers=keyed(token, "k-1"))
    assert (first.status, again.status) == (201, 201), await again.text()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    one, two = await first.json(), await again.json()
    assert one["order"] == two["order"]
    assert one["payment"]["package"] == two["payment"]["package"]  # WeChat's same prepay
    assert await Order.all().count() == 1 and len(api.wx.orders) == 1
    other = await api.client.post("/api/orders", json=body, headers=keyed(token, "k-2"))
    assert other.status == 201 and await Order.all().count() == 2


@pytest.mark.postgres
async def test_two_requests_with_one_key_at_once_make_one_order(api: Api) -> None:
    token = await api.member_token("oTwice")
    body = {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]}
    replies = await asyncio.gather(
        *(api.client.post("/api/orders", json=body, headers=keyed(token, "same")) for _ in range(4))
    )
    assert [r.status for r in replies] == [201] * 4
    ids = {(await r.json())["order"]["id"] for r in replies}
    assert len(ids) == 1 and await Order.all().count() == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == 3


async def test_a_key_is_the_members_own(api: Api) -> None:
    body = {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]}
    for openid in ("oKeyA", "oKeyB"):
        token = await api.member_token(openid)
        response = await api.client.post("/api/orders", json=body, headers=keyed(token, "k"))
        assert response.status == 201 and "Idempotent-Replayed" not in response.headers
    assert await Order.all().count() == 2


async def test_a_key_reused_for_another_order_is_refused(api: Api) -> None:
    token = await api.member_token()
    product = await mall_product()
    store = await new_store("一号店")
    first = {"source": "mall", "items": [{"product_id": product, "quantity": 1}]}
    assert (await api.client.post("/api/orders", json=first, headers=keyed(token, "k"))).ok
    for body in (
        {"source": "mall", "items": [{"product_id": product, "quantity": 2}]},
        {"source": "cashier", "store_id": store.id, "amount_fen": 5000},
    ):
        response = await api.client.post("/api/orders", json=body, headers=keyed(token, "k"))
        assert response.status == 409
        assert (await response.json())["field"] == "Idempotency-Key"
    assert await Order.all().count() == 1


async def test_a_retry_of_a_paid_order_is_a_409_naming_it(api: Api) -> None:
    token = await api.member_token()
    body = {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]}
    order = await (
        await api.client.post("/api/orders", json=body, headers=keyed(token, "k"))
    ).json()
    await pay_now(api, order["order"]["id"])
    response = await api.client.post("/api/orders", json=body, headers=keyed(token, "k"))
    assert response.status == 409
    answer = await response.json()
    assert (answer["code"], answer["order_id"]) == ("not_payable", order["order"]["id"])


async def test_the_key_is_documented_as_an_optional_header(api: Api) -> None:
    document = await (await api.client.get("/api/openapi.json")).json()
    params = document["paths"]["/api/orders"]["post"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("Idempotency-Key", "header", False)
    ]


@pytest.mark.parametrize("key", ["", "x" * 65, "含中文", "a b"])
async def test_a_malformed_key_is_a_400_and_creates_nothing(api: Api, key: str) -> None:
    token = await api.member_token()
    body = {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]}
    response = await api.client.post("/api/orders", json=body, headers=keyed(token, key))
    assert response.status == 400
    assert (await response.json())["field"] == "Idempotency-Key"
    assert await Order.all().count() == 0


# --- refusals ----------------------------------------------------------------------------------


async def test_another_members_order_is_not_found(api: Api) -> None:
    owner = await api.member_token("oOwner")
    stranger = await api.member_token("oStranger")
    order = await mall_order(api, owner)
    await pay_now(api, order["id"])
    base = f"/api/orders/{order['id']}"
    attempts = [
        api.client.get(base, headers=bearer(stranger)),
        api.client.post(f"{base}/pay", headers=bearer(stranger)),
        api.client.post(f"{base}/confirm", headers=bearer(stranger)),
        api.client.post(f"{base}/lines/{order['lines'][0]['id']}/refund", headers=bearer(stranger)),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"
    assert (await Order.get(id=order["id"])).status == OrderStatus.PAID
    assert await Refund.all().count() == 0


async def test_an_unknown_or_non_numeric_order_id_is_404(api: Api) -> None:
    token = await api.member_token()
    for path in ("/api/orders/999999", "/api/orders/abc", "/api/orders/1e3"):
        response = await api.client.get(path, headers=bearer(token))
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"


async def test_confirming_an_unpaid_order_is_a_409(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    response = await api.client.post(f"/api/orders/{order['id']}/confirm", headers=bearer(token))
    assert response.status == 409
    body = await response.json()
    assert body["code"] == "not_allowed"
    assert body["message"] == "只有已支付的订单可以完成"


async def test_paying_a_paid_order_again_is_a_409(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    await pay_now(api, order["id"])
    response = await api.client.post(f"/api/orders/{order['id']}/pay", headers=bearer(token))
    assert response.status == 409
    assert (await response.json())["code"] == "not_payable"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"source": "mall", "items": [{"product_id": 999999, "quantity": 1}]},
            404,
            "not_found",
            "product_id",
        ),
        ({"source": "mall", "items": []}, 400, "invalid_amount", "items"),
        (
            {"source": "mall", "items": [{"product_id": 1, "quantity": 0}]},
            400,
            "invalid_field",
            "items[0].quantity",
        ),
        (
            {"source": "mall", "items": [{"product_id": 1, "quantity": 1.0}]},
            400,
            "invalid_field",
            "items[0].quantity",
        ),
        (
            {"source": "cashier", "store_id": 1, "amount_fen": 9.99},
            400,
            "invalid_field",
            "amount_fen",
        ),
        (
            {"source": "cashier", "store_id": 999999, "amount_fen": 100},
            404,
            "not_found",
            "store_id",
        ),
        ({"source": "shop", "items": []}, 400, "invalid_field", "source"),
        ({"items": []}, 400, "invalid_field", "source"),
        (
            {"source": "mall", "items": [{"product_id": 1, "quantity": 1}], "deduction_points": -1},
            400,
            "invalid_field",
            "deduction_points",
        ),
        (
            {"source": "mall", "items": [{"product_id": 1, "quantity": True}]},
            400,
            "invalid_field",
            "items[0].quantity",
        ),
    ],
)
async def test_an_invalid_order_is_refused_and_nothing_is_created(
    api: Api, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    token = await api.member_token()
    response = await place(api, token, body)
    assert response.status == status
    answer = await response.json()
    assert (answer["code"], answer["field"]) == (code, field)
    assert answer["message"]
    assert await Order.all().count() == 0
    assert not api.wx.orders


async def test_mixing_a_store_product_into_a_mall_order_is_a_409(api: Api) -> None:
    store = await new_store("三号店")
    product = await new_product("门店货", 100, kind=ProductKind.STORE, store_id=store.id)
    response = await place(
        api,
        await api.member_token(),
        {"source": "mall", "items": [{"product_id": product.id, "quantity": 1}]},
    )
    assert response.status == 409
    assert (await response.json())["field"] == "product_id"


async def test_without_wechat_pay_no_order_is_created(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api("postgres", pay=False)
    response = await place(
        api,
        await api.member_token(),
        {"source": "mall", "items": [{"product_id": await mall_product(), "quantity": 1}]},
    )
    assert response.status == 503
    assert (await response.json())["code"] == "payment_unavailable"
    assert await Order.all().count() == 0


async def test_a_wechat_pay_refusal_names_the_unpaid_order_for_a_retry(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    api.wx.mark_paid(order["out_trade_no"])  # WeChat now answers ORDERPAID to a new prepay
    response = await api.client.post(f"/api/orders/{order['id']}/pay", headers=bearer(token))
    assert response.status == 502
    body = await response.json()
    assert (body["code"], body["order_id"]) == ("wechat_pay_error", order["id"])


async def test_refunding_an_unpaid_order_is_a_409(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    response = await api.client.post(
        f"/api/orders/{order['id']}/lines/{order['lines'][0]['id']}/refund", headers=bearer(token)
    )
    assert response.status == 409
    assert await Refund.all().count() == 0


async def test_a_repeated_refund_request_reuses_its_refund_number(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    await pay_now(api, order["id"])
    url = f"/api/orders/{order['id']}/lines/{order['lines'][0]['id']}/refund"
    first = await (await api.client.post(url, headers=bearer(token))).json()
    second = await (await api.client.post(url, headers=bearer(token))).json()
    assert first["refund"]["out_refund_no"] == second["refund"]["out_refund_no"]
    assert await Refund.all().count() == 1
    assert len(api.wx.refunds) == 1

    await Refund.filter(id=first["refund"]["id"]).update(status=RefundStatus.SUCCEEDED)
    done = await api.client.post(url, headers=bearer(token))
    assert done.status == 409
    assert (await done.json())["code"] == "already_settled"


async def test_a_line_of_another_order_is_not_found(api: Api) -> None:
    token = await api.member_token()
    orders = [await mall_order(api, token) for _ in range(2)]
    await pay_now(api, orders[0]["id"])
    url = f"/api/orders/{orders[0]['id']}/lines/{orders[1]['lines'][0]['id']}/refund"
    response = await api.client.post(url, headers=bearer(token))
    assert response.status == 404
    assert (await response.json())["field"] == "line_id"


async def test_an_operator_can_request_a_members_refund(api: Api) -> None:
    token = await api.member_token()
    order = await mall_order(api, token)
    await pay_now(api, order["id"])
    url = f"/api/admin/orders/{order['id']}/lines/{order['lines'][0]['id']}/refund"
    response = await api.client.post(url, headers=bearer(api.admin_token()))
    assert response.status == 202
    assert (await Refund.get()).requested_by == "operator"
