"""A refund made in the merchant platform (商户平台), over HTTP with the fake WeChat: WeChat Pay
reports an ``out_refund_no`` this service never requested for one of its orders. When the
amount is the whole rest of the order, or exactly one remaining line, it is applied as an
operator refund of those lines (SPEC §4 once per line, a ``Refund`` row each); when it does not
add up, the operators are alerted and nothing changes; either way WeChat is answered with
success, since the notification is authentic. Both API versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from models import Entry, Order, OrderLine, OrderStatus, OutboxEvent, PaymentNotice, Refund
from rebate.settings import BaseSettings, SettleOn
from services.catalog.products import new_product
from services.checks import check_conservation
from services.orders.lifecycle import refund_line
from services.orders.merchant_refunds import (
    LineCash,
    apply_unrequested_refund,
    line_refund_no,
    lines_refunded,
)
from services.orders.payments import RefundNotice
from services.settings.base import save_base
from tests.api.conftest import Api, bearer
from tests.api.test_api_notify import (
    V2_REFUND,
    V3_REFUND,
    Unpaid,
    callbacks,
    post_v3,
    snapshot,
    v3_payment,
)
from wechat.xmlsafe import parse_flat_xml
from wechat_fake.server import send_v2_refund_notification, send_v3_refund_notification

BACKENDS = ("sqlite", "postgres")
WECHAT_NO = "50302000000000000000000000001"  # a refund number the merchant platform made up


async def paid_order(api: Api, prices: list[int], openid: str = "oPlatformBuyer") -> Unpaid:
    """An order of one line per price, paid by its notification, settled (an entry a line)."""
    await save_base(BaseSettings(settle_on=SettleOn.PAID))
    token = await api.member_token(openid)
    items = [
        {"product_id": (await new_product(f"货{i}", p)).id, "quantity": 1}
        for i, p in enumerate(prices)
    ]
    response = await api.client.post(
        "/api/orders", json={"source": "mall", "items": items}, headers=bearer(token)
    )
    assert response.status == 201, await response.text()
    data = (await response.json())["order"]
    order = Unpaid(data["id"], data["out_trade_no"], data["paid_fen"], openid, token)
    paid = api.wx.mark_paid(order.out_trade_no)
    headers, body = v3_payment(api, order, transaction_id=paid.transaction_id)
    assert (await post_v3(api, headers, body)).status == 204
    return order


async def platform_refund(
    api: Api,
    order: Unpaid,
    amount: int,
    version: str,
    *,
    status: str = "SUCCESS",
    no: str = WECHAT_NO,
) -> Any:
    """WeChat notifies a refund of ``amount`` made in the merchant platform; the delivery."""
    url = str(api.client.make_url(V2_REFUND if version == "v2" else V3_REFUND))
    fields: dict[str, Any] = {
        "out_trade_no": order.out_trade_no,
        "out_refund_no": no,
        "refund_id": no,
        "refund_status": status,
        "transaction_id": api.wx.orders[order.out_trade_no].transaction_id,
    }
    if version == "v2":
        delivery = await send_v2_refund_notification(
            api.wx, url, total_fee=order.total, refund_fee=amount, **fields
        )
        assert delivery.status == 200
        assert parse_flat_xml(delivery.body)["return_code"] == "SUCCESS"
    else:
        delivery = await send_v3_refund_notification(
            api.wx, url, total=order.total, refund=amount, **fields
        )
        assert delivery.status == 204, delivery.body
    return delivery


async def line_statuses(order: Unpaid) -> list[str]:
    return [str(line.status) for line in await OrderLine.filter(order_id=order.id).order_by("id")]


async def alerts() -> list[str]:
    return [e.payload["text"] for e in await OutboxEvent.filter(kind="operator_alert")]


# --- applied ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_platform_refund_of_the_whole_order_refunds_every_line_once(
    make_api: Callable[..., Any], backend: str, version: str
) -> None:
    api: Api = await make_api(backend, redis=backend == "postgres")
    order = await paid_order(api, [16800, 5000])
    assert [e.status for e in await Entry.filter(order_id=order.id)] == ["waiting", "waiting"]

    for _ in range(2):  # the second is WeChat retrying: acknowledged, nothing new
        await platform_refund(api, order, 21800, version)

    assert await line_statuses(order) == ["refunded", "refunded"]
    assert (await Order.get(id=order.id)).status == OrderStatus.REFUNDED
    assert {e.status for e in await Entry.filter(order_id=order.id)} == {"refunded"}
    refunds = await Refund.filter(order_id=order.id).order_by("line_id")
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    assert [(r.line_id, r.amount_fen, r.status, r.requested_by) for r in refunds] == [
        (line.id, line.paid_fen, "succeeded", "merchant_platform") for line in lines
    ]
    assert [r.out_refund_no for r in refunds] == [f"{WECHAT_NO}/{line.id}" for line in lines]
    assert await PaymentNotice.filter(key=f"refund:{WECHAT_NO}").count() == 1
    kind = f"{version}.refund"
    assert (callbacks(kind, "merchant_refund"), callbacks(kind, "duplicate")) == (1, 1)
    assert await check_conservation() == []
    assert await alerts() == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_platform_refund_of_one_line_refunds_exactly_that_line(
    make_api: Callable[..., Any], backend: str
) -> None:
    api: Api = await make_api(backend, redis=False)
    order = await paid_order(api, [16800, 5000, 3000])
    await platform_refund(api, order, 5000, "v3")
    assert await line_statuses(order) == ["settled", "refunded", "settled"]
    assert (await Order.get(id=order.id)).status == OrderStatus.PAID
    [refund] = await Refund.filter(order_id=order.id)
    assert (refund.amount_fen, refund.requested_by) == (5000, "merchant_platform")

    await platform_refund(api, order, 19800, "v3", no="50302000000000000000000000002")  # the rest
    assert await line_statuses(order) == ["refunded", "refunded", "refunded"]
    assert await check_conservation() == []


async def test_a_line_with_a_refund_of_ours_in_flight_is_not_counted(api: Api) -> None:
    order = await paid_order(api, [16800, 5000])
    line = (await OrderLine.filter(order_id=order.id).order_by("id"))[0]
    response = await api.client.post(
        f"/api/orders/{order.id}/lines/{line.id}/refund", headers=bearer(order.token)
    )
    assert response.status == 202, await response.text()
    await platform_refund(api, order, 5000, "v3")  # what is left besides the requested line
    assert await line_statuses(order) == ["settled", "refunded"]
    assert (await Refund.get(line_id=line.id)).status == "requested"  # its own notice settles it


# --- not applied: acknowledged, alerted, nothing changed --------------------------------------


@pytest.mark.parametrize("version", ["v2", "v3"])
@pytest.mark.parametrize(
    ("prices", "amount"),
    [
        ([16800, 5000], 3000),  # partial: no line of that amount, not the whole rest
        ([5000, 5000, 3000], 5000),  # two lines of that amount: which entry leaves is a guess
        ([16800], 16801),  # more than was paid
    ],
)
async def test_a_platform_refund_that_does_not_add_up_changes_nothing_and_alerts(
    api: Api, version: str, prices: list[int], amount: int
) -> None:
    order = await paid_order(api, prices)
    before = await snapshot()
    await platform_refund(api, order, amount, version)
    assert await snapshot() == before
    assert await Refund.all().count() == 0
    assert await PaymentNotice.filter(key__startswith="refund:").count() == 0
    assert callbacks(f"{version}.refund", "unmatched") == 1
    [alert] = await alerts()
    assert WECHAT_NO in alert and order.out_trade_no in alert


@pytest.mark.parametrize("status", ["CLOSED", "ABNORMAL"])
async def test_a_platform_refund_that_did_not_go_through_changes_nothing(
    api: Api, status: str
) -> None:
    order = await paid_order(api, [16800])
    before = await snapshot()
    await platform_refund(api, order, 16800, "v3", status=status)
    assert await snapshot() == before
    assert callbacks("v3.refund", "result_fail") == 1
    assert await alerts() == []


async def test_a_refund_of_an_unknown_order_is_still_refused(api: Api) -> None:
    order = await paid_order(api, [16800])
    before = await snapshot()
    unknown = Unpaid(0, "QRNOSUCHORDER0000000000000000000", order.total, order.openid, "")
    url = str(api.client.make_url(V3_REFUND))
    delivery = await send_v3_refund_notification(
        api.wx,
        url,
        out_trade_no=unknown.out_trade_no,
        out_refund_no=WECHAT_NO,
        refund_id=WECHAT_NO,
        total=order.total,
        refund=order.total,
    )
    assert delivery.status == 404  # WeChat retries; nothing changed
    assert callbacks("v3.refund", "unknown_order") == 1
    assert await snapshot() == before


# --- the rule, and a notification that finds its refund half done ----------------------------


def test_the_rule_takes_the_whole_rest_or_exactly_one_line() -> None:
    a, b, c = LineCash(1, 100), LineCash(2, 50), LineCash(3, 50)
    assert lines_refunded(200, [a, b, c]) == [a, b, c]
    assert lines_refunded(100, [a, b, c]) == [a]
    assert lines_refunded(50, [a, b, c]) is None  # two lines of 50
    assert lines_refunded(150, [a, b, c]) is None  # a + b or a + c: not the rule
    assert lines_refunded(100, []) is None


def test_a_line_refund_number_is_never_a_wechat_number_and_fits() -> None:
    assert line_refund_no("RF1", 7) == "RF1/7"
    long = line_refund_no("9" * 64, 123456789012345678)
    assert len(long) <= 64 and long.endswith("/123456789012345678")


async def test_a_redelivery_finishes_a_refund_stopped_between_two_lines(api: Api) -> None:
    order = await paid_order(api, [16800, 5000])
    first, _ = await OrderLine.filter(order_id=order.id).order_by("id")
    notice = RefundNotice(
        api_version="v3",
        mchid=api.wx.mch_id,
        out_trade_no=order.out_trade_no,
        out_refund_no=WECHAT_NO,
        refund_id=WECHAT_NO,
        refund_fen=21800,
        success=True,
    )
    row = await Order.get(id=order.id)
    # as if the process had stopped after the first line's transaction committed
    await Refund.create(
        order_id=order.id,
        line_id=first.id,
        out_refund_no=line_refund_no(WECHAT_NO, first.id),
        amount_fen=first.paid_fen,
        status="succeeded",
        requested_by="merchant_platform",
    )
    now = datetime.now(UTC)
    await refund_line(first.id, now=now)
    assert await line_statuses(order) == ["refunded", "settled"]

    assert await apply_unrequested_refund(notice, row, now=now) == "merchant_refund"
    assert await line_statuses(order) == ["refunded", "refunded"]
    assert await Refund.filter(order_id=order.id).count() == 2
    assert await apply_unrequested_refund(notice, row, now=now) == "duplicate"
    assert await check_conservation() == []
