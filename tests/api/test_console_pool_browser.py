"""工会排队's console page in a real browser (headless Chromium through Selenium, the fixtures
of ``test_console_browser``), against the app on PostgreSQL: an operator opens the page after a
few daily closes and sees the liability report, the days' statements and their charts, and the pool's
queue in order; then changes 返利池比例 — a refused value is shown under its field and saves
nothing, a good one is saved and shown. Screenshots as the other browser tests take them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from selenium.webdriver.common.by import By

from services.clock import utcnow
from services.members.accounts import new_member
from services.pool.close import close_day
from services.pool.settings import load_pool
from tests.api.conftest import Api
from tests.api.test_console_browser import Console, console, driver  # noqa: F401 (fixtures)
from tests.services.test_pool_views import SPEED, a_pool
from tests.services.test_union_pool import DAY, bought

PAGE = "union-pool"


async def test_the_pool_page_shows_the_days_statement_and_the_queue(
    console: Console,  # noqa: F811
    api: Api,
    tmp_path: Path,
) -> None:
    now = utcnow()
    await a_pool(now)  # 2,200 in the pool, 5 entries waiting
    await close_day(DAY - timedelta(days=2), now)  # pays ref's first (900 owed): 1,300 carried
    for n, day in enumerate((DAY - timedelta(days=1), DAY)):  # two more days, 11 元 flowing in
        await bought(await new_member(f"later{n}"), 1_100, cost=0, settings=SPEED, now=now)
        await close_day(day, now)
    await console.open(PAGE, PAGE)
    assert await console.text("#pool-last-day .value") == DAY.isoformat()
    first = (await console.text("#pool-days tbody tr:last-child")).split()  # newest first
    # 日期, 期初, 贡献 商城/门店/收银台, 退款收回, 加速, 分红, 期末, 分红人数, 排队中 …
    assert first[:11] == [
        (DAY - timedelta(days=2)).isoformat(), "¥0.00", "¥24.00", "¥0.00", "¥0.00", "¥0.00",
        "¥2.00", "¥9.00", "¥13.00", "1", "4",
    ]  # fmt: skip
    # the next day: 1,300 + 1,100 pays other's 2,200; the last: 200 + 1,100 pays ref's second
    balances = (await console.text("#pool-days tbody tr:first-child")).split()
    assert balances[1] == "¥2.00" and balances[7:11] == ["¥11.00", "¥2.00", "1", "4"]
    assert await console.text("#pool-balance .value") == "¥2.00"
    assert await console.text("#pool-waiting .value") == "4"  # each day one in, one out
    lines = await console.run(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#page svg.chart polyline"))
    )
    assert lines == 5  # balance, inflow, payouts; waiting, paid
    await console.wait_text("#pool-entries td", "排队中")
    positions = await console.run(
        lambda d: [
            r.text.split()[0] for r in d.find_elements(By.CSS_SELECTOR, "#pool-entries tbody tr")
        ]
    )
    assert positions == ["1", "2", "3", "4"]  # waiting, in the order the closes pay
    await console.shoot("union-pool", tmp_path)
    assert await console.errors() == []


async def test_the_operator_changes_the_pool_ratio_and_a_bad_value_is_refused_in_place(
    console: Console,  # noqa: F811
    api: Api,
) -> None:
    await console.open(PAGE, PAGE)
    field = "[data-path='pool_bp']"
    value = await console.run(
        lambda d: d.find_element(By.CSS_SELECTOR, f"{field} input").get_attribute("value")
    )
    assert value == "60"
    await console.type_into(f"{field} input", "150")  # over 100%: the API refuses it
    await console.click("#pool-settings-save")
    await console.wait_text(f"{field} .field-error", "返利池比例")  # the API's words, in place
    assert (await load_pool()).pool_bp == 6_000  # nothing saved

    await console.type_into(f"{field} input", "55")
    await console.type_into("[data-path='daily_cap_fen'] input", "3000")
    await console.click("#pool-settings-save")
    await console.wait_text("#toast", "已保存")
    await console.wait_page(PAGE)
    saved = await load_pool()
    assert (saved.pool_bp, saved.daily_cap_fen, saved.quota_bp) == (5_500, 300_000, 11_000)
    assert await console.errors(refused=("/api/admin/union-pool/settings",)) == []
