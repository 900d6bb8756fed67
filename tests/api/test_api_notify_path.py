"""The payment path as the server runs it (issue 17): a notification does its work in one
short transaction and replies; the server's writer loop settles what it enqueued."""

from __future__ import annotations

from typing import Any

import pytest

from models import Entry, PendingSettlement
from services.checks import check_conservation
from tests.api.conftest import Api
from tests.api.test_api_notify import post_v3, unpaid_order, v3_payment
from tests.sql_count import counting

pytestmark = pytest.mark.postgres


async def test_a_notification_is_one_short_transaction_and_the_loop_settles_it(
    make_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api: Api = await make_api("postgres", run_writer=True)
    for _ in range(2):  # the first payment creates the queue, the second learns its id
        warm = await unpaid_order(api)
        assert (await post_v3(api, *v3_payment(api, warm))).status == 204
        await api.settled()
    order = await unpaid_order(api)
    headers, body = v3_payment(api, order)
    await api.settled()
    with counting(monkeypatch) as statements:
        response = await post_v3(api, headers, body)
    assert response.status == 204
    texts = [t.rstrip(";") for t in statements.texts]
    assert texts[0] == "BEGIN" and texts.count("BEGIN") == 1, (
        texts
    )  # one transaction, nothing before
    assert texts[-1] == "COMMIT", texts  # nothing after the transaction
    assert len(texts) <= 7, texts  # settings, products and queue ids come from the process;
    # the order, its buyer and lines are one read; the pending rows mark their lines (a CTE)
    assert not [t for t in texts if "FROM queue" in t], texts
    await api.settled()
    assert await Entry.filter(order_id=order.id).count() == 1
    assert not await PendingSettlement.exists()
    assert await check_conservation() == []
