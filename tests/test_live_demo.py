"""The live demo, quickly (no pauses): every order goes through the HTTP API and WeChat Pay's
notification (one deliberately through the reconciliation job instead), the refund through
WeChat Pay's refund notification, the page is served, and the money adds up."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from tortoise import Tortoise

from demo.live import run_live_demo
from models import Order, PaymentNotice
from runtime.db import tortoise_config


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
    assert len(report.orders) == 9
    assert len(report.reconciled) == 1  # the lost notification, found by asking WeChat Pay
    notified = set(report.orders) - set(report.reconciled)
    assert report.notified.keys() == notified
    assert set(report.notified.values()) == {204}
    assert list(report.refunds.values()) == [204]
    assert "运营后台账号:         demo / " in text and "/api/admin/session" in text
    console_line = text.split("运营后台（浏览器）:", 1)[1].split("\n", 1)[0]
    assert console_line.strip().endswith("/admin/")  # the console's URL
    assert report.operator_login == 200 and "运营后台登录成功：demo（所有者）" in text

    ctx = await Tortoise.init(config=tortoise_config(f"sqlite://{path}"))
    try:
        orders = await Order.all()
        assert sorted(o.out_trade_no for o in orders) == sorted(report.orders)  # all via HTTP
        assert {str(o.status) for o in orders} <= {"completed", "refunded"}
        paid = await PaymentNotice.filter(key__startswith="pay:").values_list("order_id", flat=True)
        assert sorted(paid) == sorted(o.id for o in orders)  # each paid once, by its notice
    finally:
        await ctx.close_connections()
