"""The console in a real browser: Debian's headless Chromium driven by Selenium (its own
chromedriver, named explicitly, so Selenium Manager never downloads anything), against the real
app on PostgreSQL. An operator opens the dashboard, changes 提取比例 in 基础设置 (a refused value
is shown under its field and saves nothing; the next settlement extracts at the saved ratio),
approves a merchant application and a withdrawal, and adjusts a member's balance and sees it.

The pages authenticate with an admin bearer token kept in sessionStorage (the console's API
client mode); the cookie login is the operators' session API's. Screenshots of each page go to
the test's directory, and to ``$QR_CONSOLE_SCREENSHOTS`` (e.g. docs/console) when it is set.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from models import (
    ApplicationStatus,
    Extraction,
    GuardrailAck,
    MerchantApplication,
    Order,
    Posting,
    Statement,
    Store,
    TeamStanding,
    Withdrawal,
)
from services.checks import check_conservation
from services.clock import utcnow
from services.distribution.settings import load_distribution
from services.members.accounts import new_member
from services.merchants.settlement import close_statements
from services.operators.accounts import add_operator
from services.operators.roles import Role
from services.settings.base import load_base
from tests.api.conftest import Api
from tests.api.test_api_member_entries import buy, lottery_base, member, recent_clock
from tests.api.test_api_member_wallet import with_cash, withdraw
from tests.api.test_api_merchant_admin import pending_application, store_at_30_percent
from tests.distribution.support import configure, pay_cashier
from tests.services.helpers import Clock

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20
RERENDERED = (StaleElementReferenceException,)  # a page re-rendered while it was read


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    # a missing browser fails the suite, never skips it: .ci/run installs both from Debian
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"install Debian's chromium and chromium-driver (missing {missing})"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


class Console:
    """The console in the browser: every Selenium call runs in a thread, so the app under test
    keeps serving on the test's event loop."""

    def __init__(self, api: Api, driver: WebDriver, shots: list[Path]) -> None:
        self.api, self.driver, self.shots = api, driver, shots
        self.base = str(api.client.make_url("")).rstrip("/")

    async def run(self, step: Callable[[WebDriver], Any]) -> Any:
        return await asyncio.to_thread(step, self.driver)

    async def open(self, hash_path: str, page: str) -> None:
        """Sign in with an admin token and show ``#/<hash_path>``; wait for its page."""
        token = self.api.admin_token()

        def go(d: WebDriver) -> None:
            d.get(f"{self.base}/admin/login")
            d.execute_script("sessionStorage.setItem('qr_admin_token', arguments[0])", token)
            d.get(f"{self.base}/admin/#/{hash_path}")

        await self.run(go)
        await self.wait_page(page)

    async def wait_page(self, page: str) -> None:
        await self.wait(f"#page[data-page='{page}']")

    async def wait(self, css: str) -> WebElement:
        def found(d: WebDriver) -> WebElement:
            try:
                return WebDriverWait(d, WAIT_S, ignored_exceptions=RERENDERED).until(
                    lambda d: d.find_element(By.CSS_SELECTOR, css)
                )
            except TimeoutException:
                raise AssertionError(f"{css} never appeared: {d.page_source[:3000]}") from None

        element: WebElement = await self.run(found)
        return element

    async def wait_text(self, css: str, text: str) -> None:
        def shown(d: WebDriver) -> None:
            try:
                WebDriverWait(d, WAIT_S, ignored_exceptions=RERENDERED).until(
                    lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css))
                )
            except TimeoutException:
                seen = [e.text for e in d.find_elements(By.CSS_SELECTOR, css)]
                raise AssertionError(f"{text!r} never in {css}: {seen}") from None

        await self.run(shown)

    async def text(self, css: str) -> str:
        return str(await self.run(lambda d: d.find_element(By.CSS_SELECTOR, css).text))

    async def type_into(self, css: str, value: str) -> None:
        def typed(d: WebDriver) -> None:
            field = d.find_element(By.CSS_SELECTOR, css)
            field.clear()
            field.send_keys(value)

        await self.run(typed)

    async def click(self, css: str) -> None:
        await self.run(lambda d: d.find_element(By.CSS_SELECTOR, css).click())

    async def shoot(self, name: str, tmp: Path) -> None:
        def shot(d: WebDriver) -> None:
            d.execute_script("window.scrollTo(0, 0)")
            for folder in (tmp, *self.shots):
                folder.mkdir(parents=True, exist_ok=True)
                assert d.save_screenshot(str(folder / f"{name}.png"))

        await self.run(shot)
        assert (tmp / f"{name}.png").stat().st_size > 10_000

    async def errors(self, *, refused: tuple[str, ...] = ()) -> list[str]:
        """What the browser logged as errors, but for the answers of ``refused`` paths (a
        refusal the test asked for is logged as a failed resource too)."""
        logs = await self.run(lambda d: d.get_log("browser"))
        expected = tuple(f"{path} - " for path in refused)
        return [
            e["message"]
            for e in logs
            if e["level"] == "SEVERE" and not any(p in e["message"] for p in expected)
        ]


@pytest.fixture
def console(api: Api, driver: WebDriver) -> Console:
    target = os.environ.get("QR_CONSOLE_SCREENSHOTS")
    driver.get_log("browser")  # what an earlier test left
    return Console(api, driver, [Path(target)] if target else [])


async def test_the_dashboard_shows_orders_extraction_and_the_queues(
    console: Console, api: Api, tmp_path: Path
) -> None:
    await buys(api, (10_000, 30_000, 50_000))
    await console.open("", "dashboard")
    # today: 3 orders, 900 元 paid, 10% extracted = 90 元: the first order's 10 元 found no
    # entry waiting before it (unallocated), the others' 80 元 were paid to waiting entries
    rows = {
        "orders": "3",
        "orders_paid_fen": "¥900.00",
        "extracted_fen": "¥90.00",
        "paid_fen": "¥80.00",
        "withheld_fen": "¥0.00",
        "unallocated_fen": "¥10.00",
    }
    for figure, today in rows.items():
        cells = (await console.text(f"#dashboard-windows tr[data-figure='{figure}']")).split()
        assert cells[1:] == [today] * 3, (figure, cells)
    assert await console.text("#stat-waiting .value") == "3"
    assert await console.text("#stat-outstanding .value") == "¥820.00"  # 900 owed − 80 paid
    charts = await console.run(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.chart polyline"))
    )
    assert charts == 5  # four money series, one depth
    await console.wait_text("#page table.grid td a", "mall")
    await console.shoot("dashboard", tmp_path)
    await console.click("#page table.grid td a[href^='#/queues/']")
    await console.wait_page("queues")
    await console.wait_text("#page td", "前面 0 人")
    assert await console.run(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".progress"))) == 3
    await console.shoot("queue", tmp_path)
    await console.click("#page table.grid td a[href*='/entry/']")  # the first entry's payouts
    await console.wait_text("#page h2", "的返现")
    await console.wait_text("#page table.grid", "¥50.00")
    paid = await console.run(
        lambda d: [td.text for td in d.find_elements(By.CSS_SELECTOR, "#page table.grid td")]
    )
    assert [cell for cell in paid if cell.startswith("¥")] == ["¥30.00", "¥50.00"]
    assert await console.errors() == []


async def test_the_extraction_ratio_is_changed_in_the_settings_and_used_next(
    console: Console, api: Api, tmp_path: Path
) -> None:
    await buys(api, ())
    await console.open("settings", "settings")
    field = "[data-path='base.extract_bp']"
    assert (
        await console.run(
            lambda d: d.find_element(By.CSS_SELECTOR, f"{field} input").get_attribute("value")
        )
        == "10"
    )
    await console.shoot("settings", tmp_path)

    await console.type_into(f"{field} input", "150")  # over 100%: the API refuses it
    await console.click("#settings-save")
    await console.wait_text(f"{field} .field-error", "超出范围")  # the API's words, in place
    assert (await load_base()).extract_bp == 1_000  # nothing saved

    await console.type_into(f"{field} input", "20")
    await console.click("#settings-save")
    await console.wait_text("#toast", "已保存")
    await console.wait_page("settings")
    assert (await load_base()).extract_bp == 2_000
    value = await console.run(
        lambda d: d.find_element(By.CSS_SELECTOR, f"{field} input").get_attribute("value")
    )
    assert value == "20"

    await buys(api, (10_000,), rules=False)
    [extraction] = await Extraction.all()
    assert extraction.amount_fen == 2_000  # 20% of 100 元
    assert await console.errors(refused=("/api/admin/settings",)) == []


async def test_the_guardrail_refuses_an_extraction_over_a_commission_until_acknowledged(
    console: Console, tmp_path: Path
) -> None:
    store_id = await store_at_30_percent()  # base extraction 10%
    await console.open("settings", "settings")
    field = "[data-path='base.extract_bp']"
    await console.type_into(f"{field} input", "40")
    await console.click("#settings-save")
    await console.wait_text(f"{field} .field-error", f"门店 {store_id}")
    assert (await load_base()).extract_bp == 1_000 and await GuardrailAck.all().count() == 0
    await console.shoot("settings-guardrail", tmp_path)
    await console.click(f"{field} .field-error button#acknowledge")  # 确认并保存
    await console.wait_text("#toast", "已保存")
    assert (await load_base()).extract_bp == 4_000
    (ack,) = await GuardrailAck.all()
    assert ack.store_id == store_id  # type: ignore[attr-defined]
    assert await console.errors(refused=("/api/admin/settings",)) == []


async def test_an_operator_approves_a_merchant_application(
    console: Console, tmp_path: Path
) -> None:
    application_id, _, _ = await pending_application()
    await console.open("applications", "applications")
    row = f"[data-application='{application_id}']"
    await console.wait_text("#page td", "老王茶叶店")
    await console.shoot("applications", tmp_path)
    await console.type_into(f"{row} input.commission", "30")
    await console.click(f"{row} button.approve")
    await console.wait_text("#toast", "已通过")
    application = await MerchantApplication.get(id=application_id)
    assert application.status == ApplicationStatus.APPROVED
    store = await Store.get(id=application.store_id)
    assert (store.name, store.commission_bp) == ("老王茶叶店", 3_000)
    await console.wait_text("#page", "没有入驻申请")  # the pending list is empty now
    assert await console.errors() == []


async def test_an_operator_approves_a_withdrawal(
    console: Console, api: Api, tmp_path: Path
) -> None:
    _, token = await with_cash(api)
    status, asked = await withdraw(api, token, 3_000)
    assert status == 201, asked
    withdrawal_id = asked["withdrawal"]["id"]
    await console.open("withdrawals", "withdrawals")
    row = f"[data-withdrawal='{withdrawal_id}']"
    await console.wait(row)
    await console.shoot("withdrawals", tmp_path)
    await console.click(f"{row} button.approve")
    await console.wait_text("#toast", "已到账")
    assert (await Withdrawal.get(id=withdrawal_id)).status == "succeeded"
    assert await check_conservation() == []
    assert await console.errors() == []


async def test_an_operator_rejects_a_withdrawal_with_a_reason(console: Console, api: Api) -> None:
    member_id, token = await with_cash(api)
    status, asked = await withdraw(api, token, 2_000)
    assert status == 201, asked
    withdrawal_id = asked["withdrawal"]["id"]
    await console.open("withdrawals", "withdrawals")
    row = f"[data-withdrawal='{withdrawal_id}']"
    await console.wait(row)
    await console.click(f"{row} button.reject")
    await console.type_into(f"{row} input.reason", "信息不符")
    await console.click(f"{row} .reason-form button[type=submit]")
    await console.wait_text("#toast", "已驳回")
    withdrawal = await Withdrawal.get(id=withdrawal_id)
    assert (withdrawal.status, withdrawal.reject_reason) == ("rejected", "信息不符")
    answer = await api.client.get(f"/api/admin/members/{member_id}", headers=auth(api))
    assert (await answer.json())["wallet"]["balances"]["cash_fen"] == 10_000  # held, given back
    assert await check_conservation() == []
    assert await console.errors() == []


async def test_an_operator_adjusts_a_members_balance_and_sees_it(
    console: Console, api: Api, tmp_path: Path
) -> None:
    member_id, _ = await member(api, "小李")
    await console.open("members", "members")
    await console.type_into("#member-query", "小李")
    await console.click("#page form.filters button")
    await console.wait_text("#page td", "小李")
    await console.click(f"#page td a[href='#/members/{member_id}']")
    await console.wait_page("members")
    await console.wait("#adjust-form")
    await console.type_into("#adjust-amount", "12.5")
    await console.click("#adjust-form button[type=submit]")  # no reason: the browser asks
    assert (
        await api.client.get(f"/api/admin/members/{member_id}", headers=auth(api))
    ).status == 200
    await console.type_into("#adjust-reason", "活动补发")
    await console.click("#adjust-form button[type=submit]")
    await console.wait_text("#toast", "已调整")
    await console.wait_page("members")
    await console.wait_text("#member-balances [data-asset='cash'] .value", "¥12.50")
    await console.wait_text("#member-ledger td", "活动补发")
    await console.wait_text("#member-ledger td", "余额调整")
    await console.shoot("member", tmp_path)
    answer = await api.client.get(f"/api/admin/members/{member_id}", headers=auth(api))
    assert (await answer.json())["wallet"]["balances"]["cash_fen"] == 1_250
    assert await check_conservation() == []
    assert await console.errors() == []


async def test_the_distribution_settings_and_team_levels_are_changed(
    console: Console, api: Api, tmp_path: Path
) -> None:
    await console.open("distribution", "distribution")
    field = "[data-path='direct_bp']"
    await console.type_into(f"{field} input", "5")
    await console.click("#distribution-save")
    await console.wait_text("#toast", "已保存")
    assert (await load_distribution()).direct_bp == 500
    await console.shoot("distribution", tmp_path)

    await console.open("team-levels", "team-levels")
    rows = "[data-path='levels'] tbody tr"
    before = await console.run(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)))
    await console.click("[data-path='levels'] .rows > button")  # ＋ 添加
    cells = f"{rows}:last-child input"

    def fill(d: WebDriver) -> None:
        for element, value in zip(
            d.find_elements(By.CSS_SELECTOR, cells), ("9", "钻石", "4", "100000", ""), strict=True
        ):
            element.send_keys(value)

    await console.run(fill)
    await console.click("#levels-save")
    await console.wait_text("#toast", "已保存")
    levels = (await load_distribution()).levels
    assert len(levels) == before + 1
    diamond = levels[-1]
    assert (diamond.level, diamond.name, diamond.rate_bp) == (9, "钻石", 400)
    assert diamond.min_team_turnover_fen == 10_000_000 and diamond.min_direct_referrals is None
    await console.shoot("team-levels", tmp_path)

    member_id, _ = await member(api, "小王")  # an operator gives a member the new level
    await console.open(f"members/{member_id}", "members")
    await console.run(lambda d: Select(d.find_element(By.ID, "team-level")).select_by_value("9"))
    await console.type_into("#team-level-note", "线下大客户")
    await console.click("#team-level-form button")
    await console.wait_text("#toast", "团队等级 0 → 9")
    assert (await TeamStanding.get(member_id=member_id)).level == 9
    assert await console.errors() == []


async def test_orders_are_listed_and_filtered(console: Console, api: Api, tmp_path: Path) -> None:
    await buys(api, (10_000, 30_000))
    first = await Order.filter().order_by("id").first()
    assert first is not None
    await console.open("orders", "orders")
    await console.wait_text("#order-rows td", first.out_trade_no)
    rows = "#order-rows tbody tr"
    assert await console.run(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows))) == 2
    await console.shoot("orders", tmp_path)
    await console.type_into("#page input[name=member_id]", str(first.member_id))  # type: ignore[attr-defined]
    await console.click("#page form.filters button")
    await console.wait_text("#order-rows", first.out_trade_no)

    def one_row(d: WebDriver) -> None:
        WebDriverWait(d, WAIT_S, ignored_exceptions=RERENDERED).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 1
        )

    await console.run(one_row)
    assert await console.errors() == []


async def test_a_due_statement_is_paid_from_the_statements_page(
    console: Console, tmp_path: Path
) -> None:
    await configure(statement_days=0)
    store_id = await store_at_30_percent()
    await pay_cashier((await new_member("oBuyer")).id, store_id, 10_000, Clock())
    await close_statements(utcnow())
    await console.open("statements", "statements")
    await console.wait_text("#page td", "待打款")
    await console.shoot("statements", tmp_path)
    await console.click("#pay-statements")
    await console.wait_text("#toast", "已完成")
    assert (await Statement.get(store_id=store_id)).status == "paid"
    await console.wait_page("statements")
    await console.wait_text("#page td", "已打款")
    assert await console.errors() == []


async def test_the_jobs_and_the_operation_log(console: Console, tmp_path: Path) -> None:
    await console.open("jobs", "jobs")
    await console.click("button.run[data-job='auto_complete']")
    await console.wait_text("#toast", "订单自动完成")
    await console.wait_page("jobs")
    await console.wait_text("#page td", "订单自动完成")
    await console.shoot("jobs", tmp_path)
    await console.open("audit", "audit")
    await console.wait_text("#audit-rows td", "任务")
    await console.shoot("audit", tmp_path)
    assert await console.errors() == []


def auth(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.admin_token()}"}


async def buys(api: Api, prices: tuple[int, ...], *, rules: bool = True) -> None:
    """One member buys at each price; ``rules``: first settle on payment, 10% extraction, 100%
    reward."""
    if rules:
        await lottery_base()
    clock = recent_clock()
    for price in prices:
        buyer, _ = await member(api)
        await buy(buyer, price, clock)


async def test_an_operator_signs_in_with_a_password_and_out_again(
    console: Console, api: Api
) -> None:
    """The login page: a wrong password is refused in place; the right one opens the dashboard
    with the operator's name (a session cookie, no token in the page); 退出 ends it."""
    await add_operator("alice", Role.FINANCE, "correct horse battery", by="test", now=utcnow())

    def sign_in(password: str) -> Callable[[WebDriver], None]:
        def step(d: WebDriver) -> None:
            d.get(f"{console.base}/admin/login")
            d.execute_script("sessionStorage.clear()")  # no bearer token: the cookie alone
            form = d.find_element(By.ID, "login")
            form.find_element(By.NAME, "name").send_keys("alice")
            form.find_element(By.NAME, "password").send_keys(password)
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        return step

    await console.run(sign_in("wrong password"))
    refusal = await console.run(
        lambda d: WebDriverWait(d, WAIT_S).until(
            lambda d: d.find_element(By.ID, "login-error").text.strip()
        )
    )
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refusal), refusal  # in Chinese, in place
    await console.run(sign_in("correct horse battery"))
    await console.wait_text("#operator-name", "alice")
    assert await console.run(lambda d: d.execute_script("return sessionStorage.length")) == 0
    cookies = await console.run(lambda d: d.get_cookies())
    assert cookies and all(c.get("httpOnly") for c in cookies)
    assert await console.errors(refused=("/api/admin/session",)) == []


async def test_an_export_is_downloaded_and_its_totals_match_the_books(
    console: Console, api: Api, tmp_path: Path
) -> None:
    await buys(api, (100_00, 200_00, 300_00))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    await console.run(
        lambda d: d.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
    )
    await console.open("exports", "exports")
    await console.click("#export button[type=submit]")  # 资金流水, every date
    await console.wait_text("#export-outcome", "已导出")
    saved = downloads / "postings.csv"
    for _ in range(100):
        if saved.exists() and saved.stat().st_size:
            break
        await asyncio.sleep(0.1)
    head, *rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    amount = head.index("金额")
    books = await Posting.all()
    assert len(rows) == len(books) > 0
    assert sum(int(r[amount]) for r in rows) == sum(p.amount for p in books)
    assert await console.errors() == []
