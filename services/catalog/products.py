"""Stores, cashiers, suppliers and products, with the rebate defaults SPEC §6 asks for, and the
rules a product's fields follow whoever creates or edits it (``services.catalog.admin`` for
operators, these functions for tests and the demo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Cashier, Product, ProductKind, Store, Supplier
from rebate.money import check_fen
from services.errors import Conflict, InvalidField
from services.settings.base import load_base
from services.settings.cache import PRODUCTS, changing
from services.settings.codec import target_from_doc

MAX_NAME = 128  # Product.name
MAX_SUPPLIER_NAME = 64  # Supplier.name
MAX_SHORT = 32  # Supplier.contact, Supplier.phone
MAX_CODE = 64  # Product.external_code
MAX_IMAGES = 9  # a WeChat mall's gallery
MAX_IMAGE_URL = 512
PHONE_CHARS = frozenset("0123456789+- ")
KINDS = tuple(kind.value for kind in ProductKind)  # self 自营, supplier 供应商, store 门店商品


async def new_store(
    name: str,
    *,
    commission_bp: int = 0,
    rebate: dict | None = None,
    cashier_rebate: dict | None = None,
) -> Store:
    """A store with its cashier (merchant approval creates both)."""
    target_from_doc(rebate)
    target_from_doc(cashier_rebate)
    async with in_transaction():
        store = await Store.create(name=name, commission_bp=commission_bp, rebate=rebate)
        await Cashier.create(store=store, rebate=cashier_rebate)
    return store


def text(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    """A trimmed string of at most ``limit`` characters (non-empty when ``required``)."""
    if not isinstance(value, str):
        raise InvalidField(f"{field} 必须是字符串", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidField(f"{field} 不能为空", field=field)
    if len(value) > limit:
        raise InvalidField(f"{field} 不能超过 {limit} 个字符", field=field)
    return value


def supplier_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """供应商: name (required), contact, phone (digits, +, - and spaces)."""
    out = {"name": text(fields.get("name"), "name", limit=MAX_SUPPLIER_NAME)}
    for field in ("contact", "phone"):
        out[field] = text(fields.get(field, ""), field, limit=MAX_SHORT, required=False)
    if not set(out["phone"]) <= PHONE_CHARS:
        raise InvalidField("phone 只能包含数字、+、- 和空格", field="phone")
    return out


async def new_supplier(name: str, *, contact: str = "", phone: str = "") -> Supplier:
    """A supplier (not audited: operators create theirs through ``services.catalog.admin``)."""
    return await Supplier.create(
        **supplier_fields({"name": name, "contact": contact, "phone": phone})
    )


def _fen(value: Any, field: str, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    return check_fen(value, field=field, allow_zero=optional)


def _stock(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidField("stock 必须是不小于 0 的整数（null：不限库存）", field="stock")
    return value


def _images(value: Any) -> list[str]:
    """Up to MAX_IMAGES absolute http(s) URLs (null: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidField("images 必须是图片地址的列表", field="images")
    if len(value) > MAX_IMAGES:
        raise InvalidField(f"images 最多 {MAX_IMAGES} 张", field="images")
    for i, url in enumerate(value):
        field = f"images[{i}]"
        url = text(url, field, limit=MAX_IMAGE_URL)
        parts = urlsplit(url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() for c in url)
        ):
            raise InvalidField(f"{field} 必须是 http(s) 图片地址", field=field)
    return [url.strip() for url in value]


def _code(value: Any) -> str | None:
    if value is None:
        return None
    code = text(value, "external_code", limit=MAX_CODE, required=False)
    return code or None


async def _owner(kind: Any, store_id: Any, supplier_id: Any) -> ProductKind:
    """自营 belongs to nobody; 供应商 goods name an existing supplier, 门店商品 an existing store."""
    if kind not in KINDS:
        raise InvalidField("kind 必须是 self、supplier 或 store", field="kind")
    kind = ProductKind(kind)
    for field, owner, model, label in (
        ("store_id", store_id, Store, "门店"),
        ("supplier_id", supplier_id, Supplier, "供应商"),
    ):
        wanted = (kind == ProductKind.STORE) if model is Store else (kind == ProductKind.SUPPLIER)
        if wanted and owner is None:
            raise InvalidField(f"{label}商品必须指定 {field}", field=field)
        if not wanted and owner is not None:
            raise InvalidField(f"只有{label}商品可以指定 {field}", field=field)
        if owner is not None and not await model.exists(id=owner):
            raise InvalidField(f"{label} {owner} 不存在", field=field)
    return kind


async def product_fields(
    fields: Mapping[str, Any], *, product_id: int | None = None
) -> dict[str, Any]:
    """The columns an operator gives a product (all but its listing and rebate), checked: a
    refusal names the field and nothing is saved. Cost above price is allowed (the union pool
    then gets no margin from it); a supply price only for supplier goods; an external code
    unique."""
    kind = await _owner(fields.get("kind"), fields.get("store_id"), fields.get("supplier_id"))
    supply = _fen(fields.get("supply_price_fen"), "supply_price_fen", optional=True)
    if supply is not None and kind != ProductKind.SUPPLIER:
        raise InvalidField("只有供应商商品有供货价", field="supply_price_fen")
    code = _code(fields.get("external_code"))
    if (
        code is not None
        and await Product.filter(external_code=code).exclude(id=product_id or 0).exists()
    ):
        raise Conflict(f"商品编码 {code} 已被其他商品使用", field="external_code")
    return {
        "kind": kind,
        "store_id": fields.get("store_id"),
        "supplier_id": fields.get("supplier_id"),
        "name": text(fields.get("name"), "name", limit=MAX_NAME),
        "price_fen": _fen(fields.get("price_fen"), "price_fen", optional=False),
        "cost_price_fen": _fen(fields.get("cost_price_fen"), "cost_price_fen", optional=True),
        "supply_price_fen": supply,
        "external_code": code,
        "images": _images(fields.get("images")),
        "stock": _stock(fields.get("stock")),
    }


async def save_product(row: Product, conn: BaseDBAsyncClient, **kw: Any) -> None:
    """Save ``row`` on ``conn``; an external code taken meanwhile is the same refusal."""
    try:
        await row.save(using_db=conn, **kw)
    except IntegrityError:
        raise Conflict(
            f"商品编码 {row.external_code} 已被其他商品使用", field="external_code"
        ) from None


async def new_product(
    name: str,
    price_fen: int,
    *,
    kind: ProductKind = ProductKind.SELF,
    store_id: int | None = None,
    rebate: dict | None = None,
    rebate_enabled: bool | None = None,
    **more: Any,
) -> Product:
    """A product (not audited: operators create theirs through ``services.catalog.admin``).
    ``more``: the other columns ``product_fields`` checks. Unless told otherwise it starts rebate-enabled
    exactly when 商品排队返利 is on."""
    target_from_doc(rebate)  # refuse a bad settings document before anything is saved
    given = {"name": name, "price_fen": price_fen, "kind": kind, "store_id": store_id, **more}
    row = Product(
        **await product_fields(given),
        rebate=rebate,
        rebate_enabled=await rebate_default(rebate_enabled),
    )
    async with in_transaction() as conn:
        await save_product(row, conn)
    return row


async def rebate_default(rebate_enabled: bool | None) -> bool:
    """A new product's switch: as given, else 商品排队返利 (``new_products_enabled``)."""
    if rebate_enabled is None:
        return (await load_base()).new_products_enabled
    return rebate_enabled


async def enable_all_products() -> int:
    """一键启用: turn the rebate on for every existing self-operated and supplier product."""
    async with changing(PRODUCTS) as conn:
        return await (
            Product.filter(kind__in=[ProductKind.SELF, ProductKind.SUPPLIER])
            .using_db(conn)
            .update(rebate_enabled=True)
        )
