"""The console's catalogue pages in a real browser (the fixtures of ``test_console_browser``):
an operator creates a product with its 成本价, edits its price, sets its own 提取比例 and a paid
order of it extracts at that ratio; suppliers and supplier goods; a store's and a cashier's own
settings (the store's under the commission guardrail); a 客服 (support) operator sees no edit
buttons. A refused value is shown under its field and nothing is saved. Screenshots go where
``test_console_browser``'s go (``$QR_CONSOLE_SCREENSHOTS``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from models import Cashier, Extraction, GuardrailAck, Product, Store, Supplier
from rebate.settings import OrderSource
from services.catalog.products import new_product
from services.clock import utcnow
from services.operators.accounts import add_operator
from services.operators.roles import Role
from services.orders.lifecycle import Item, create_order, mark_paid
from tests.api import test_console_browser as browser
from tests.api.conftest import Api
from tests.api.test_api_member_entries import lottery_base, member, recent_clock
from tests.api.test_api_merchant_admin import store_at_30_percent
from tests.api.test_console_browser import WAIT_S, Console
from tests.services.helpers import seeded

# the browser tests' fixtures: a module-scoped Chromium of this module's own, and its Console
driver = browser.driver
console = browser.console


async def typed(console: Console, path: str, value: str) -> None:
    await console.type_into(f"[data-path='{path}'] input", value)


async def save(console: Console, button: str) -> None:
    """Click ``button`` with the toast emptied first, so that the next wait sees this answer."""
    await console.run(
        lambda d: d.execute_script("document.getElementById('toast').textContent = ''")
    )
    await console.click(button)


async def field_error(console: Console, path: str, text: str = "") -> None:
    """The refusal shown under the field of ``path`` (with ``text`` in it)."""
    css = f"[data-path='{path}'] .field-error:not([hidden])"
    await console.wait(css)
    await console.wait_text(css, text)


def choose(css: str, value: str) -> Callable[[WebDriver], None]:
    return lambda d: Select(d.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


async def test_a_product_is_created_edited_and_settles_at_its_own_extraction(
    console: Console, api: Api, tmp_path: Path
) -> None:
    await lottery_base()  # settle when paid, base extraction 10%
    await console.open("products/new", "products")
    await typed(console, "name", "金骏眉 100g")
    await typed(console, "price_fen", "128.00")
    await typed(console, "cost_price_fen", "60.05")
    await typed(console, "stock", "200")
    box = "[data-path='rebate_enabled'] input"
    if not await console.run(lambda d: d.find_element(By.CSS_SELECTOR, box).is_selected()):
        await console.click(box)
    await console.shoot("product-new", tmp_path)
    await save(console, "#product-save")
    await console.wait_text("#toast", "已保存")
    await console.wait_text("#product-form h2", "金骏眉 100g #")
    [product] = await Product.all()
    assert (product.price_fen, product.cost_price_fen, product.stock) == (12_800, 6_005, 200)
    assert product.rebate_enabled and product.rebate is None

    await typed(console, "price_fen", "0")  # the API refuses it, naming price_fen
    await save(console, "#product-save")
    await field_error(console, "price_fen")
    assert (await Product.get(id=product.id)).price_fen == 12_800  # nothing saved

    await typed(console, "price_fen", "100.00")
    await save(console, "#product-save")
    await console.wait_text("#toast", "已保存")
    assert (await Product.get(id=product.id)).price_fen == 10_000
    await console.shoot("product-edit", tmp_path)

    await console.click("#product-rebate")  # 排队返利设置
    await console.wait("#rebate-form[data-kind='product']")
    await typed(console, "settings.extract_bp", "150")  # over 100%
    await save(console, "#rebate-save")
    await field_error(console, "settings.extract_bp", "超出范围")
    assert (await Product.get(id=product.id)).rebate is None
    await typed(console, "settings.extract_bp", "25")
    await save(console, "#rebate-save")
    await console.wait_text("#toast", "已保存")
    assert (await Product.get(id=product.id)).rebate["extract_bp"] == 2_500
    await console.shoot("product-rebate", tmp_path)

    buyer, _ = await member(api)
    order = await create_order(buyer, OrderSource.MALL, items=[Item(product.id, 1)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=recent_clock().tick(), rng=seeded())
    [extraction] = await Extraction.all()
    assert extraction.amount_fen == 2_500  # the product's own 25% of 100 元, not base's 10%

    await console.open("products", "products")
    await console.wait_text("#product-rows td", "金骏眉 100g")
    await console.wait_text("#product-rows td", "¥60.05")
    await console.shoot("products", tmp_path)
    refused = (f"/api/admin/products/{product.id}", f"/api/admin/products/{product.id}/rebate")
    assert await console.errors(refused=refused) == []


async def test_a_supplier_is_created_and_edited_and_sells_goods(
    console: Console, tmp_path: Path
) -> None:
    await console.open("suppliers", "suppliers")
    await typed(console, "name", "云南茶叶合作社")
    await typed(console, "phone", "call me")  # not a phone number: refused by the API
    await save(console, "#supplier-save")
    await field_error(console, "phone")
    assert await Supplier.all().count() == 0
    await typed(console, "phone", "13900139000")
    await save(console, "#supplier-save")
    await console.wait_text("#toast", "已保存")
    await console.wait_text("#supplier-rows td", "云南茶叶合作社")
    [supplier] = await Supplier.all()
    await console.shoot("suppliers", tmp_path)

    await console.click(f"[data-supplier='{supplier.id}'] a.edit")
    await console.wait("#supplier-form")
    await typed(console, "contact", "李华")
    await save(console, "#supplier-save")
    await console.wait_text("#supplier-rows td", "李华")
    assert (await Supplier.get(id=supplier.id)).contact == "李华"

    await console.open("products/new", "products")
    await console.run(choose("[data-path='kind'] select", "supplier"))
    await console.run(choose("[data-path='supplier_id'] select", str(supplier.id)))
    await typed(console, "name", "普洱 357g")
    await typed(console, "price_fen", "88")
    await typed(console, "supply_price_fen", "45.5")
    await save(console, "#product-save")
    await console.wait_text("#toast", "已保存")
    [product] = await Product.all()
    assert (product.kind, product.supplier_id, product.supply_price_fen) == (  # type: ignore[attr-defined]
        "supplier",
        supplier.id,
        4_550,
    )
    assert product.price_fen == 8_800 and product.cost_price_fen is None
    assert await console.errors(refused=("/api/admin/suppliers",)) == []


async def test_a_stores_and_a_cashiers_own_settings(console: Console, tmp_path: Path) -> None:
    store_id = await store_at_30_percent()  # base extraction 10%
    cashier = await Cashier.get(store_id=store_id)
    await console.open("stores", "stores")
    await console.wait(f"[data-store='{store_id}']")
    await console.shoot("stores", tmp_path)
    await console.click(f"[data-store='{store_id}'] a.store-rebate")
    await console.wait("#rebate-form[data-kind='store']")
    await typed(console, "settings.extract_bp", "40")  # over the store's 30% commission
    await save(console, "#rebate-save")
    await field_error(console, "settings.extract_bp", f"门店 {store_id}")
    assert (await Store.get(id=store_id)).rebate is None and await GuardrailAck.all().count() == 0
    await console.shoot("store-rebate-guardrail", tmp_path)
    await console.click("[data-path='settings.extract_bp'] button#acknowledge")  # 确认并保存
    await console.wait_text("#toast", "已保存")
    assert (await Store.get(id=store_id)).rebate["extract_bp"] == 4_000
    assert await GuardrailAck.all().count() == 1

    await console.open(f"stores/{store_id}/cashier/{cashier.id}", "stores")
    await console.wait("#rebate-form[data-kind='cashier']")
    await console.click("[data-path='settings.random_return'] input[type=checkbox]")
    group = "[data-path='settings.random_return'] .sub input"

    def places(d: WebDriver) -> None:
        for element, value in zip(d.find_elements(By.CSS_SELECTOR, group), "312", strict=True):
            element.clear()
            element.send_keys(value)

    await console.run(places)
    await typed(console, "settings.limits.per_day", "2")
    await save(console, "#rebate-save")
    await console.wait_text("#toast", "已保存")
    saved = (await Cashier.get(id=cashier.id)).rebate
    assert saved["random_return"] == {"cash_places": 1, "points_places": 2}
    assert saved["limits"] == {"per_day": 2, "total": None}
    await console.shoot("cashier-rebate", tmp_path)
    assert await console.errors(refused=(f"/api/admin/stores/{store_id}/rebate",)) == []


async def test_a_support_operator_sees_the_products_without_edit_buttons(
    console: Console,
) -> None:
    """客服 lacks ``operations``: no 新增, 编辑, 上架/下架 or 保存 (the API refuses them with 403,
    tests/api/test_api_operators.py)."""
    product = await new_product("茉莉花茶", 3_000)
    await add_operator("susan", Role.SUPPORT, "correct horse battery", by="test", now=utcnow())

    def sign_in(d: WebDriver) -> None:
        d.get(f"{console.base}/admin/login")
        d.execute_script("sessionStorage.clear()")  # the cookie session alone
        form = d.find_element(By.ID, "login")
        form.find_element(By.NAME, "name").send_keys("susan")
        form.find_element(By.NAME, "password").send_keys("correct horse battery")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(d, WAIT_S).until(lambda d: d.find_element(By.ID, "operator-name"))
        d.get(f"{console.base}/admin/#/products")

    try:
        await console.run(sign_in)
        await console.wait_page("products")
        await console.wait_text("#product-rows td", "茉莉花茶")
        buttons = "#product-new, #product-rows .edit, #product-rows button"
        assert await console.run(lambda d: d.find_elements(By.CSS_SELECTOR, buttons)) == []
        await console.click(f"[data-product='{product.id}'] a.rebate")  # a read-only view
        await console.wait("#rebate-form[data-kind='product']")
        assert await console.run(lambda d: d.find_elements(By.ID, "rebate-save")) == []
        assert await console.errors() == []
    finally:
        await console.run(lambda d: d.delete_all_cookies())
    await console.open("products", "products")  # an owner: the same buttons are there
    await console.wait(f"[data-product='{product.id}'] .edit")
    await console.wait("#product-new")
