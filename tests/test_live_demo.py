"""The live demo, quickly (no pauses): every order goes through the HTTP API and WeChat Pay's
notification (one deliberately through the reconciliation job instead), the refund through
WeChat Pay's refund notification, a day of 工会排队 through the operators' API, the page is
served, and the money adds up."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
from pathlib import Path

import aiohttp
from tortoise import Tortoise

from demo.live import run_live_demo
from demo.parts import StoryReport
from models import Order, PaymentNotice
from runtime.db import tortoise_config

ROOT = Path(__file__).resolve().parent.parent


async def test_the_live_demo_drives_every_order_through_http_and_notifications(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    out = io.StringIO()

    report = await run_live_demo(out, db_url=f"sqlite://{path}", pause=0)

    text = out.getvalue()
    assert "/demo" in text.splitlines()[1]  # the browser URL is printed first
    assert report.problems == [], text  # conservation holds
    assert 'http-equiv="refresh" content="2"' in report.page  # the browser view, same data
    assert "队列 mall（商城统一队列）" in report.page and "cashier:1" in report.page
    assert len(report.orders) == 12
    assert len(report.reconciled) == 1  # the lost notification, found by asking WeChat Pay
    notified = set(report.orders) - set(report.reconciled)
    assert report.notified.keys() == notified
    assert set(report.notified.values()) == {204}
    assert list(report.refunds.values()) == [204]
    assert "运营后台账号:         demo / " in text and "/api/admin/session" in text
    console_line = text.split("运营后台（浏览器）:", 1)[1].split("\n", 1)[0]
    assert console_line.strip().endswith("/admin/")  # the console's URL
    assert report.operator_login == 200 and "运营后台登录成功：demo（所有者）" in text
    assert_pool_day(report, text)

    ctx = await Tortoise.init(config=tortoise_config(f"sqlite://{path}"))
    try:
        orders = await Order.all()
        assert sorted(o.out_trade_no for o in orders) == sorted(report.orders)  # all via HTTP
        assert {str(o.status) for o in orders} <= {"completed", "refunded"}
        paid = await PaymentNotice.filter(key__startswith="pay:").values_list("order_id", flat=True)
        assert sorted(paid) == sorted(o.id for o in orders)  # each paid once, by its notice
    finally:
        await ctx.close_connections()


def assert_pool_day(report: StoryReport, text: str) -> None:
    """The union pool's chapter: one entry from each order source, one of them accelerated by
    its owner's direct referral, a closed day whose statement adds up, shown on the page."""
    entries = report.pool_entries
    assert sorted(e["source"] for e in entries) == ["cashier", "mall", "store"], text
    assert all(e["contribution_fen"] > 0 and e["quota_fen"] > 0 for e in entries)
    sped = [e for e in entries if e["accelerated_in_fen"] > 0]
    assert len(sped) == 1 and sped[0]["source"] == "cashier"  # the referrer's oldest entry
    day = report.pool_day
    assert day["contributed"] == {e["source"]: e["contribution_fen"] for e in entries}
    assert day["accelerated_fen"] == sped[0]["accelerated_in_fen"]
    assert day["taken_back_fen"] == 0 and day["paid_count"] >= 1
    flows = sum(day["contributed"].values()) - day["accelerated_fen"] - day["paid_fen"]
    assert day["opening_fen"] + flows == day["closing_fen"] >= 0
    paid = sum(e["paid_fen"] - e["accelerated_in_fen"] for e in entries)
    assert paid == day["paid_fen"]  # the close paid the entries what the statement says
    assert any(e["status"] == "paid" for e in entries)  # someone left the queue
    assert any(e["status"] == "waiting" and e["position"] == 1 for e in entries)
    assert "工会返利池日结单" in text and "仍在排队：位次 1" in text
    assert "<h2>工会排队</h2>" in report.page


class Lines(io.StringIO):
    """The demo's output, with a wake-up when a line containing ``until`` is written."""

    def __init__(self, until: str) -> None:
        super().__init__()
        self.until, self.seen = until, asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.until in self.getvalue():
            self.seen.set()
        return written


async def test_make_demo_keeps_serving_so_the_story_is_seen_in_the_console(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """``make demo`` runs with ``--keep-serving``: after the story the console answers with the
    printed login, and its order list holds the story's orders."""
    assert "DEMO_ARGS ?= --keep-serving" in (ROOT / "Makefile").read_text()
    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    out = Lines(until="演示结束，服务继续运行")
    run = asyncio.create_task(
        run_live_demo(out, db_url=f"sqlite://{path}", pause=0, keep_serving=True)
    )
    try:
        await asyncio.wait_for(out.seen.wait(), timeout=60)
        last = out.getvalue().split("演示结束，服务继续运行", 1)[1]
        console, login = re.search(r"运营后台 (\S+/admin/)（demo / (\S+)）", last).groups()  # type: ignore[union-attr]
        api_url = console.removesuffix("/admin/")
        jar = aiohttp.CookieJar(unsafe=True)  # a browser keeps a cookie set by 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(console) as page:
                assert page.status == 200 and "运营后台" in await page.text()
            body = {"name": "demo", "password": login}
            async with http.post(f"{api_url}/api/admin/session", json=body) as signed_in:
                assert signed_in.status == 200
            async with http.get(f"{api_url}/api/admin/orders?limit=50") as listed:
                assert listed.status == 200
                shown = {o["out_trade_no"] for o in (await listed.json())["items"]}
        assert len(shown) == 12  # the story's orders, in the console's list
        assert not run.done()  # still serving
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
