"""A server process killed while its writer loop holds a queue mid-batch (SIGKILL, PostgreSQL
for real), after it acknowledged payment notifications over HTTP: nothing of the batch shows,
and another server's writer loop takes the queue over within 5 s and settles every acknowledged
payment exactly once (issue 17).

The doomed server is a real app in its own OS process, whose writer stops half-way through
writing its first batch (after entries, extractions and postings were sent, before the outbox
events) and holds the transaction open, while the server goes on acknowledging notifications."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from models import Entry, Order, OrderStatus, PendingSettlement
from runtime.config import Settings
from services.checks import check_conservation
from tests.api.conftest import Api
from tests.api.test_api_notify import unpaid_order, v3_payment
from web.options import ApiOptions

pytestmark = pytest.mark.postgres

ORDERS = 12
TAKEOVER_SECONDS = 5.0
LIVENESS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_whose_writer_stops_mid_batch(settings: Settings, port: int, ready, stopped) -> None:
    from server.app import create_app
    from services.queues import pg_bulk

    copy = pg_bulk._copy

    async def copy_then_hold(raw, table, columns, rows):  # type: ignore[no-untyped-def]
        if table == "outbox_event":
            stopped.set()
            await asyncio.sleep(3600)  # the transaction stays open; the parent kills us here
        await copy(raw, table, columns, rows)

    pg_bulk._copy = copy_then_hold

    async def run() -> None:
        runner = web.AppRunner(create_app(settings, options=ApiOptions(run_writer=True)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.sleep(3600)

    asyncio.run(run())


async def test_a_killed_server_s_queue_is_taken_over_and_every_ack_settles_once(
    make_api: Any, make_settings: Any
) -> None:
    api: Api = await make_api("postgres")  # creates the orders; no writer loop of its own
    orders = [await unpaid_order(api, openid=f"oKill{i}") for i in range(ORDERS)]
    spawn = multiprocessing.get_context("spawn")
    ready, stopped = spawn.Event(), spawn.Event()
    port = _free_port()
    doomed = spawn.Process(
        target=_server_whose_writer_stops_mid_batch,
        args=(make_settings(api.db_url), port, ready, stopped),
    )
    doomed.start()
    try:
        assert await asyncio.to_thread(ready.wait, LIVENESS), "the server never started"
        async with aiohttp.ClientSession() as http:
            for order in orders:
                headers, body = v3_payment(api, order)
                url = f"http://127.0.0.1:{port}/api/pay/notify/v3"
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 204, await response.text()
        assert await asyncio.to_thread(stopped.wait, LIVENESS), "its writer never began a batch"
        successor: Api = await make_api("postgres", run_writer=True)  # polls every second
        await asyncio.sleep(1.5)  # it found the queue held by a writer at work: left to it
        assert not await Entry.filter(order_id__in=[o.id for o in orders]).exists()
        assert await PendingSettlement.all().count() == ORDERS
        doomed.kill()
        killed_at = time.monotonic()
        doomed.join(LIVENESS)
        while await PendingSettlement.all().exists():
            assert time.monotonic() - killed_at < TAKEOVER_SECONDS, "no writer took over"
            await asyncio.sleep(0.05)
        taken_over_in = time.monotonic() - killed_at
    finally:
        if doomed.is_alive():
            doomed.kill()
    assert successor.app is not None and taken_over_in < TAKEOVER_SECONDS
    ids = [o.id for o in orders]
    assert await Order.filter(id__in=ids, status=OrderStatus.PAID).count() == ORDERS
    entries = await Entry.filter(order_id__in=ids).values_list("order_id", flat=True)
    assert sorted(entries) == sorted(ids)  # one each, not two
    assert await check_conservation() == []
