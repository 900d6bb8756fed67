"""Operators read and change every setting of SPEC, validated and audited.

Sections of the settings document (``read_settings`` / ``change_settings``):
- ``base`` 排队返利插件基础设置 (the ``rebate_config`` row): switches, queue scopes, extraction,
  ratios (member-level ratios, cumulative tiers, lottery, default), random return, exchange;
- ``clearing`` 队列奖励清零 (``services.queues.clearing``);
- ``display`` display switches and custom names (``services.members.views``);
- ``withdrawal`` 提现设置 (``services.wallets.withdrawals``);
- ``points_transfer`` 积分转让设置 (``services.wallets.transfers``);
- ``love`` 爱心值设置: when frozen love value is released (``services.wallets.love_release``).
And per target (``read_target`` / ``change_target``): a product's, store's or cashier's own
``rebate`` document and its ``rebate_enabled`` switch.

A change names only what it changes: sections replace their top-level keys (and ``base.ratios``
its own keys). Every proposed section is parsed first — a ratio out of range, an empty lottery
list, a random-return group whose ``group_size`` is not ``cash_places + points_places`` — and
any refusal (``InvalidSetting`` / ``InvalidRatio`` naming the field by its path in the request)
leaves everything as it was. What changes is saved with one ``AuditLog`` row per section or
target (operator, time, old and new document) in the same transaction.

Extraction ratios of stores, cashiers and store products go through the commission guardrail
(``services.merchants.onboarding.check_store_extraction``): refused unless acknowledged. So does raising
the base ratio, for every store whose store or cashier extraction falls back to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Cashier, Product, ProductKind, SettingDoc, Store
from rebate.errors import InvalidSetting, RebateError
from rebate.settings import BaseSettings, TargetSettings
from rebate.store_commission import GuardrailNumbers
from services import audit
from services.errors import NotFound
from services.members import views as member_views
from services.merchants.onboarding import check_store_extraction, record_acknowledgement
from services.queues import clearing
from services.settings.base import (
    cashier_target,
    load_base,
    product_target,
    store_target,
    write_base,
)
from services.settings.cache import (
    BASE,
    DISPLAY,
    PRODUCTS,
    cashier_key,
    changing,
    product_key,
    store_key,
)
from services.settings.codec import base_from_doc, target_from_doc, to_doc
from services.wallets import love_release, transfers, withdrawals

SECTIONS = ("base", "clearing", "display", "withdrawal", "points_transfer", "love")
TARGETS: Mapping[str, type[Product] | type[Store] | type[Cashier]] = {
    "product": Product,
    "store": Store,
    "cashier": Cashier,
}
TARGET_NAMES = {"product": "商品", "store": "门店", "cashier": "收银台"}


def _qualified(exc: RebateError, prefix: str) -> RebateError:
    """The refusal with its field named by its path in the request (``prefix`` + the codec's)."""
    field = exc.field or ""
    if field.startswith(prefix):
        return exc
    return type(exc)(exc.message, field=f"{prefix}{field}".rstrip("."))


def _parsed(prefix: str, parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except RebateError as exc:
        raise _qualified(exc, prefix) from None
    except (TypeError, AttributeError, ValueError):  # a shape the schema let through
        raise InvalidSetting(f"{prefix.rstrip('.')} 格式不正确", field=prefix.rstrip(".")) from None


def _group_size(doc: Any, where: str) -> Any:
    """随机返 as the seed's form has it: 每组人数 = 返现金人数 + 返积分人数. ``group_size`` is
    checked and dropped (it is derived)."""
    if not isinstance(doc, Mapping) or "group_size" not in doc:
        return doc
    rest = {k: v for k, v in doc.items() if k != "group_size"}
    size, cash, points = doc["group_size"], rest.get("cash_places", 0), rest.get("points_places", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, cash, points)) or (
        size != cash + points
    ):
        raise InvalidSetting(
            f"随机返每组人数 {size} 不等于返现金人数 {cash} + 返积分人数 {points}",
            field=f"{where}random_return.group_size",
        )
    return rest


# --- sections -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    read: Callable[[], Awaitable[dict[str, Any]]]
    parse: Callable[[Mapping[str, Any]], tuple[Any, dict[str, Any]]]  # doc → (value, saved doc)
    save: Callable[[Any], Awaitable[None]]


async def _read_base() -> dict[str, Any]:
    return dict(to_doc(await load_base()))


def _parse_base(doc: Mapping[str, Any]) -> tuple[BaseSettings, dict[str, Any]]:
    doc = {**doc}
    if "random_return" in doc:
        doc["random_return"] = _group_size(doc["random_return"], "base.")
    value = _parsed("base.", lambda: base_from_doc(doc))
    return value, dict(to_doc(value))


async def _read_clearing() -> dict[str, Any]:
    return clearing.schedule_to_doc(await clearing.load_schedule())


def _parse_clearing(doc: Mapping[str, Any]) -> tuple[clearing.ClearingSchedule, dict[str, Any]]:
    value = _parsed("clearing.", lambda: clearing.schedule_from_doc(doc))
    return value, clearing.schedule_to_doc(value)


async def _read_display() -> dict[str, Any]:
    return member_views.display_to_doc(await member_views.load_display())


def _parse_display(doc: Mapping[str, Any]) -> tuple[member_views.Display, dict[str, Any]]:
    value = _parsed("display.", lambda: member_views.display_from_doc(doc))
    return value, member_views.display_to_doc(value)


async def _read_withdrawal() -> dict[str, Any]:
    return withdrawals.settings_to_doc(await withdrawals.load_withdrawal_settings())


def _parse_withdrawal(
    doc: Mapping[str, Any],
) -> tuple[withdrawals.WithdrawalSettings, dict[str, Any]]:
    value = _parsed("withdrawal.", lambda: withdrawals.settings_from_doc(doc))
    return value, withdrawals.settings_to_doc(value)


async def _save_withdrawal(value: withdrawals.WithdrawalSettings) -> None:
    await _save_doc(withdrawals.SETTINGS_DOC, withdrawals.settings_to_doc(value))


async def _read_transfer() -> dict[str, Any]:
    return transfers.settings_to_doc(await transfers.load_transfer_settings())


def _parse_transfer(doc: Mapping[str, Any]) -> tuple[transfers.TransferSettings, dict[str, Any]]:
    value = _parsed("points_transfer.", lambda: transfers.settings_from_doc(doc))
    return value, transfers.settings_to_doc(value)


async def _save_transfer(value: transfers.TransferSettings) -> None:
    await _save_doc(transfers.SETTINGS_DOC, transfers.settings_to_doc(value))


async def _read_love() -> dict[str, Any]:
    return love_release.settings_to_doc(await love_release.load_love_settings())


def _parse_love(doc: Mapping[str, Any]) -> tuple[love_release.LoveSettings, dict[str, Any]]:
    value = _parsed("love.", lambda: love_release.settings_from_doc(doc))
    return value, love_release.settings_to_doc(value)


async def _save_love(value: love_release.LoveSettings) -> None:
    await _save_doc(love_release.SETTINGS_DOC, love_release.settings_to_doc(value))


async def _save_doc(name: str, doc: dict[str, Any]) -> None:
    if not await SettingDoc.filter(name=name).update(config=doc):
        await SettingDoc.create(name=name, config=doc)


CACHED = {"base": BASE, "display": DISPLAY}  # sections held in the settings cache: their keys
SECTION: Mapping[str, Section] = {
    "base": Section(_read_base, _parse_base, write_base),
    "clearing": Section(_read_clearing, _parse_clearing, clearing.save_schedule),
    "display": Section(_read_display, _parse_display, member_views.save_display),
    "withdrawal": Section(_read_withdrawal, _parse_withdrawal, _save_withdrawal),
    "points_transfer": Section(_read_transfer, _parse_transfer, _save_transfer),
    "love": Section(_read_love, _parse_love, _save_love),
}


async def read_settings() -> dict[str, dict[str, Any]]:
    """Every section's document as in force now (defaults filled in)."""
    return {name: await SECTION[name].read() for name in SECTIONS}


def _merge(section: str, current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**current, **patch}
    ratios = patch.get("ratios")
    if section == "base" and isinstance(ratios, Mapping):
        merged["ratios"] = {**current.get("ratios", {}), **ratios}
    return merged


async def change_settings(
    changes: Mapping[str, Mapping[str, Any]],
    *,
    operator: str,
    now: datetime,
    acknowledge: bool = False,
) -> dict[str, dict[str, Any]]:
    """Apply a partial change of the sections (see the module doc); returns every section as in
    force afterwards. All or nothing."""
    current = await read_settings()
    proposed: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name, patch in changes.items():
        if name not in SECTION:
            raise InvalidSetting(f"未知的设置分组: {name}", field=name)
        value, doc = SECTION[name].parse(_merge(name, current[name], patch))
        if doc != current[name]:
            proposed[name] = (value, doc)
    acks = []
    if "base" in proposed:
        acks = await _guard_base(proposed["base"][0], operator=operator, acknowledge=acknowledge)
    async with changing(*(CACHED[name] for name in proposed if name in CACHED)) as conn:
        for numbers in acks:
            await record_acknowledgement(conn, numbers, operator=operator, now=now)
        for name, (value, doc) in proposed.items():
            await SECTION[name].save(value)
            await audit.record(
                conn, operator=operator, section=name, old=current[name], new=doc, now=now
            )
    return await read_settings()


async def _guard_base(
    new: BaseSettings, *, operator: str, acknowledge: bool
) -> list[GuardrailNumbers]:
    """A higher base extraction ratio raises it for every store whose store or cashier settings
    fall back to it: each such store goes through the guardrail. The acknowledgements due."""
    old = await load_base()
    if new.extract_bp <= old.extract_bp:
        return []
    acks = []
    for store in await Store.all().order_by("id"):
        cashier = await Cashier.get_or_none(store_id=store.id)
        falls_back = store_target(store).extract_bp is None or (
            cashier is not None and cashier_target(cashier).extract_bp is None
        )
        if falls_back:
            numbers = await _guarded(
                store.id, (old.extract_bp, new.extract_bp), "base.extract_bp", operator,
                acknowledge,
            )  # fmt: skip
            if numbers is not None:
                acks.append(numbers)
    return acks


async def _guarded(
    store_id: int,
    extract_bp: tuple[int, int],
    field: str,
    operator: str,
    acknowledge: bool,
) -> GuardrailNumbers | None:
    """The guardrail of one store whose extraction goes from ``extract_bp[0]`` to ``[1]``."""
    old_bp, new_bp = extract_bp
    try:
        return await check_store_extraction(
            store_id, new_bp, operator=operator, acknowledge=acknowledge, old_extract_bp=old_bp
        )
    except RebateError as exc:
        raise type(exc)(exc.message, field=field) from None


# --- products, stores, cashiers -----------------------------------------------------------------


async def _target_row(kind: str, target_id: int) -> Product | Store | Cashier:
    model = TARGETS.get(kind)
    if model is None:
        raise NotFound(f"没有 {kind} 这类设置对象", field="kind")
    row = await model.get_or_none(id=target_id)
    if row is None:
        raise NotFound(f"{TARGET_NAMES[kind]}不存在", field="id")
    return row


def _cache_key(row: Product | Store | Cashier) -> str:
    if isinstance(row, Product):
        return product_key(row.id)
    if isinstance(row, Store):
        return store_key(row.id)
    return cashier_key(int(row.store_id))  # type: ignore[attr-defined]


def target_json(row: Product | Store | Cashier) -> dict[str, Any]:
    return {"enabled": row.rebate_enabled, "settings": row.rebate}


async def read_target(kind: str, target_id: int) -> dict[str, Any]:
    """A product's / store's / cashier's rebate switch and its own settings (null: none)."""
    return target_json(await _target_row(kind, target_id))


UNCHANGED: Any = object()


async def change_target(
    kind: str,
    target_id: int,
    *,
    enabled: bool | None = None,
    settings: Any = UNCHANGED,
    operator: str,
    now: datetime,
    acknowledge: bool = False,
) -> dict[str, Any]:
    """Change a target's switch and/or replace its settings document (None: no settings of its
    own, everything falls back)."""
    row = await _target_row(kind, target_id)
    old = target_json(row)
    doc = row.rebate if settings is UNCHANGED else target_doc(kind, settings)
    new = {"enabled": row.rebate_enabled if enabled is None else enabled, "settings": doc}
    if new == old:
        return old
    ack = await guard_target(kind, row, doc, operator=operator, acknowledge=acknowledge)
    async with changing(_cache_key(row)) as conn:
        if ack is not None:
            await record_acknowledgement(conn, ack, operator=operator, now=now)
        await (
            type(row)
            .filter(id=target_id)
            .using_db(conn)
            .update(rebate_enabled=new["enabled"], rebate=new["settings"])
        )
        await audit.record(
            conn, operator=operator, section=kind, target=f"{kind}:{target_id}", old=old, new=new,
            now=now,
        )  # fmt: skip
    return new


def target_doc(kind: str, settings: Any, prefix: str = "settings.") -> dict[str, Any] | None:
    """A target's own settings document as saved (None: none of its own), checked: a refusal
    names the field by ``prefix`` + its path in the document."""
    if settings is None:
        return None
    if kind == "product" and settings.get("random_return"):
        raise InvalidSetting(
            "随机返只能在基础设置、门店或收银台设置", field=f"{prefix}random_return"
        )
    checked = {**settings}
    if "random_return" in checked:
        checked["random_return"] = _group_size(checked["random_return"], prefix)
    value: TargetSettings = _parsed(prefix, lambda: target_from_doc(checked))
    return dict(to_doc(value))


async def guard_target(
    kind: str,
    row: Product | Store | Cashier,
    doc: Mapping[str, Any] | None,
    *,
    operator: str,
    acknowledge: bool,
    field: str = "settings.extract_bp",
) -> GuardrailNumbers | None:
    """The extraction a store's orders will give (own ratio, else the store's, else base) goes
    through the guardrail when it changes (the acknowledgement due, to record with
    ``record_acknowledgement`` in the saving transaction, if any). Mall goods are the platform's
    own: no commission. A new product is an unsaved ``row`` with no settings of its own yet."""
    base = (await load_base()).extract_bp
    own_new = target_from_doc(doc).extract_bp
    if isinstance(row, Store):
        store_id, fallback = row.id, base
        own_old = store_target(row).extract_bp
    elif isinstance(row, Cashier):
        store_id, fallback = int(row.store_id), base  # type: ignore[attr-defined]
        own_old = cashier_target(row).extract_bp
    elif row.kind == ProductKind.STORE and row.store_id is not None:  # type: ignore[attr-defined]
        store_id = int(row.store_id)  # type: ignore[attr-defined]
        store_own = store_target(await Store.get(id=store_id)).extract_bp
        fallback = base if store_own is None else store_own
        own_old = product_target(row).extract_bp
    else:
        return None
    new_bp = fallback if own_new is None else own_new
    old_bp = fallback if own_old is None else own_old
    if new_bp == old_bp:
        return None
    return await _guarded(store_id, (old_bp, new_bp), field, operator, acknowledge)


async def enable_all_products(*, operator: str, now: datetime) -> int:
    """一键启用: turn queue rebate on for every existing mall product (self-operated and
    supplier goods); returns how many were switched on."""
    async with changing(PRODUCTS) as conn:
        count = (
            await Product.filter(
                kind__in=[ProductKind.SELF, ProductKind.SUPPLIER], rebate_enabled=False
            )
            .using_db(conn)
            .update(rebate_enabled=True)
        )
        await audit.record(
            conn, operator=operator, section="product", target="all", now=now,
            new={"enabled": True, "products": count},
        )  # fmt: skip
    return int(count)
