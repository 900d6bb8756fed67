"""Operators keep the catalogue (SPEC §6): suppliers, and products of the three kinds — created,
edited, listed and delisted — each change written with an operation-log row naming the operator
in its own transaction (``services.audit.record``). A product row is cached per process
(``services.catalog.rules``), so every change of one runs inside
``services.settings.cache.changing(product_key(id))``; a new product needs none (a missing row
is never cached).

A product's rebate document (商品设置 / 门店商品设置) is checked by the settings codec and the
commission guardrail exactly as ``PUT /api/admin/products/{id}/rebate`` checks it
(``services.settings.changes``). Its kind and store are fixed once it exists (they decide its
queue): a store's goods cannot become mall goods, nor move to another store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import Product, ProductKind, Supplier
from services import audit
from services.catalog.products import product_fields, rebate_default, save_product, supplier_fields
from services.errors import InvalidField, NotFound
from services.merchants.onboarding import record_acknowledgement
from services.paging import Page, page_by_id
from services.settings.cache import changing, product_key
from services.settings.changes import guard_target, target_doc

REBATE_FIELD = "rebate.extract_bp"


def supplier_json(s: Supplier) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "contact": s.contact,
        "phone": s.phone,
        "created_at": s.created_at.isoformat(),
    }


def product_json(p: Product) -> dict[str, Any]:
    """A product as operators see it: every column, cost and supply price included."""
    return {
        "id": p.id,
        "kind": ProductKind(p.kind).value,
        "store_id": p.store_id,  # type: ignore[attr-defined]
        "supplier_id": p.supplier_id,  # type: ignore[attr-defined]
        "name": p.name,
        "price_fen": p.price_fen,
        "cost_price_fen": p.cost_price_fen,
        "supply_price_fen": p.supply_price_fen,
        "external_code": p.external_code,
        "images": p.images or [],
        "stock": p.stock,
        "listed": p.listed,
        "rebate_enabled": p.rebate_enabled,
        "rebate": p.rebate,
        "created_at": p.created_at.isoformat() if p.created_at else None,
    }


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict, dict]:
    keys = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


# --- suppliers ----------------------------------------------------------------------------------


async def create_supplier(
    fields: Mapping[str, Any], *, operator: str, now: datetime
) -> dict[str, Any]:
    row = Supplier(**supplier_fields(fields), created_at=now)
    async with in_transaction() as conn:
        await row.save(using_db=conn)
        new = supplier_json(row)
        await audit.record(
            conn, operator=operator, section="supplier", target=f"supplier:{row.id}", new=new,
            now=now,
        )  # fmt: skip
    return new


async def edit_supplier(
    supplier_id: int, changes: Mapping[str, Any], *, operator: str, now: datetime
) -> dict[str, Any]:
    """Change what is given of name, contact and phone."""
    row = await Supplier.get_or_none(id=supplier_id)
    if row is None:
        raise NotFound("供应商不存在", field="id")
    old = supplier_json(row)
    checked = supplier_fields({**old, **changes})
    before, after = _changed(old, checked)
    if not after:
        return old
    async with in_transaction() as conn:
        await Supplier.filter(id=supplier_id).using_db(conn).update(**after)
        await audit.record(
            conn, operator=operator, section="supplier", target=f"supplier:{supplier_id}",
            old=before, new=after, now=now,
        )  # fmt: skip
    return {**old, **after}


async def suppliers(*, name: str | None, cursor: int | None, limit: int) -> Page[dict[str, Any]]:
    """Suppliers newest first; ``name``: whose name contains it."""
    query = Supplier.all()
    if name:
        query = query.filter(name__icontains=name)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(supplier_json)


# --- products -----------------------------------------------------------------------------------


async def create_product(
    fields: Mapping[str, Any], *, operator: str, now: datetime, acknowledge: bool = False
) -> dict[str, Any]:
    """A new product from the operator's ``fields`` (``product_fields``' columns,
    ``rebate_enabled``, ``rebate``). Its switch defaults to 商品排队返利; a store product's own extraction goes
    through the commission guardrail (``acknowledge``)."""
    doc = target_doc("product", fields.get("rebate"), "rebate.")
    row = Product(
        **await product_fields(fields),
        rebate_enabled=await rebate_default(fields.get("rebate_enabled")),
        created_at=now,
    )
    ack = await guard_target(
        "product", row, doc, operator=operator, acknowledge=acknowledge, field=REBATE_FIELD
    )
    row.rebate = doc
    async with in_transaction() as conn:
        if ack is not None:
            await record_acknowledgement(conn, ack, operator=operator, now=now)
        await save_product(row, conn)
        new = product_json(row)
        await audit.record(
            conn, operator=operator, section="product", target=f"product:{row.id}", new=new,
            now=now,
        )  # fmt: skip
    return new


async def _product(product_id: int) -> Product:
    row = await Product.get_or_none(id=product_id)
    if row is None:
        raise NotFound("商品不存在", field="id")
    return row


async def read_product(product_id: int) -> dict[str, Any]:
    return product_json(await _product(product_id))


async def edit_product(
    product_id: int,
    changes: Mapping[str, Any],
    *,
    operator: str,
    now: datetime,
    acknowledge: bool = False,
) -> dict[str, Any]:
    """Change what is given (any of ``product_fields``' columns but kind and store,
    ``rebate_enabled``, ``rebate``); the rest stays. One audit row with the old and new values of what changed."""
    for fixed in ("kind", "store_id"):
        if fixed in changes:
            raise InvalidField(f"商品创建后不能修改 {fixed}", field=fixed)
    row = await _product(product_id)
    old = product_json(row)
    checked = await product_fields({**old, **changes}, product_id=product_id)
    new = {**old, **checked, "kind": old["kind"]}
    if changes.get("rebate_enabled") is not None:
        new["rebate_enabled"] = changes["rebate_enabled"]
    ack = None
    if "rebate" in changes:
        new["rebate"] = target_doc("product", changes["rebate"], "rebate.")
        ack = await guard_target(
            "product", row, new["rebate"], operator=operator, acknowledge=acknowledge,
            field=REBATE_FIELD,
        )  # fmt: skip
    before, after = _changed(old, {k: new[k] for k in (*checked, "rebate_enabled", "rebate")})
    if not after:
        return old
    async with changing(product_key(product_id)) as conn:
        if ack is not None:
            await record_acknowledgement(conn, ack, operator=operator, now=now)
        for column, value in after.items():
            setattr(row, column, value)
        await save_product(row, conn, update_fields=list(after))
        await audit.record(
            conn, operator=operator, section="product", target=f"product:{product_id}",
            old=before, new=after, now=now,
        )  # fmt: skip
    return product_json(row)


async def set_listed(
    product_id: int, listed: bool, *, operator: str, now: datetime
) -> dict[str, Any]:
    """上架 / 下架. Delisted, a product cannot be bought, so its own queue never pays again
    (SPEC §3); its waiting entries stay. Delisting a delisted product (or listing a listed one)
    is refused."""
    async with changing(product_key(product_id)) as conn:
        row = await Product.select_for_update().using_db(conn).get_or_none(id=product_id)
        if row is None:
            raise NotFound("商品不存在", field="id")
        if row.listed == listed:
            raise InvalidField("商品已上架" if listed else "商品已下架", field="listed")
        row.listed = listed
        await row.save(using_db=conn, update_fields=["listed"])
        await audit.record(
            conn, operator=operator, section="product", target=f"product:{product_id}",
            old={"listed": not listed}, new={"listed": listed}, now=now,
        )  # fmt: skip
    return product_json(row)


async def products(
    *,
    kind: str | None = None,
    store_id: int | None = None,
    supplier_id: int | None = None,
    listed: bool | None = None,
    rebate_enabled: bool | None = None,
    name: str | None = None,
    cursor: int | None = None,
    limit: int = 20,
) -> Page[dict[str, Any]]:
    """Products newest first, filtered by what is given (``name``: contains it)."""
    query = Product.all()
    wanted = {
        "kind": kind,
        "store_id": store_id,
        "supplier_id": supplier_id,
        "listed": listed,
        "rebate_enabled": rebate_enabled,
    }
    query = query.filter(**{k: v for k, v in wanted.items() if v is not None})
    if name:
        query = query.filter(name__icontains=name)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(product_json)
