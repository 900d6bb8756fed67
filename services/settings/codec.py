"""Settings documents (JSON in the database, TOML in config) ↔ the engine's settings values.

Unknown keys and wrong types are refused with the field named, so a bad admin change or config
file never reaches the engine.
"""

from collections.abc import Mapping
from dataclasses import asdict
from datetime import time
from typing import Any

from rebate.errors import InvalidSetting, RebateError
from rebate.settings import (
    BaseSettings,
    DeductionMode,
    Limits,
    Lottery,
    LotteryMode,
    PayoutOrder,
    RandomReturn,
    RatioSettings,
    SettleOn,
    TargetSettings,
    Tier,
    TimeWindow,
)


def _known(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(doc) - allowed
    if unknown:
        raise InvalidSetting(
            f"未知的设置项: {', '.join(sorted(unknown))}", field=f"{where}{min(unknown)}"
        )


def _int(v: Any, field: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidSetting(f"{field} 必须是整数", field=field)
    return v


def _bool(v: Any, field: str) -> bool:
    if not isinstance(v, bool):
        raise InvalidSetting(f"{field} 必须是 true/false", field=field)
    return v


def _enum(cls: Any, v: Any, field: str) -> Any:
    try:
        return cls(v)
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise InvalidSetting(f"{field} 必须是以下之一: {choices}", field=field) from None


def _time(v: Any, field: str) -> time:
    try:
        return time.fromisoformat(v)
    except (TypeError, ValueError):
        raise InvalidSetting(f"{field} 必须是 HH:MM 格式的时间", field=field) from None


def ratios_from_doc(doc: Mapping[str, Any] | None, where: str = "") -> RatioSettings:
    try:
        return _ratios_from_doc(doc or {}, where)
    except RebateError as exc:  # the values' own checks name the field without ``where``
        if exc.field is None or exc.field.startswith(where):
            raise
        raise type(exc)(exc.message, field=f"{where}{exc.field}") from None


def _ratios_from_doc(doc: Mapping[str, Any], where: str) -> RatioSettings:
    _known(doc, {"level_bp", "tiers", "lottery", "default_bp"}, where)
    levels = {
        _int(int(k) if isinstance(k, str) and k.isdigit() else k, f"{where}level_bp"): _int(
            v, f"{where}level_bp.{k}"
        )
        for k, v in (doc.get("level_bp") or {}).items()
    }
    tiers = tuple(
        Tier(
            _int(t.get("days"), f"{where}tiers.days"),
            _int(t.get("min_amount_fen"), f"{where}tiers.min_amount_fen"),
            _int(t.get("ratio_bp"), f"{where}tiers.ratio_bp"),
        )
        for t in doc.get("tiers") or ()
    )
    lottery = None
    if doc.get("lottery"):
        ld = doc["lottery"]
        _known(ld, {"mode", "ratios_bp", "low_bp", "high_bp"}, f"{where}lottery.")
        lottery = Lottery(
            _enum(LotteryMode, ld.get("mode"), f"{where}lottery.mode"),
            tuple(_int(r, f"{where}lottery.ratios_bp") for r in ld.get("ratios_bp") or ()),
            _int(ld.get("low_bp", 0), f"{where}lottery.low_bp"),
            _int(ld.get("high_bp", 0), f"{where}lottery.high_bp"),
        )
    default = doc.get("default_bp")
    return RatioSettings(
        levels, tiers, lottery, None if default is None else _int(default, f"{where}default_bp")
    )


def random_return_from_doc(doc: Mapping[str, Any] | None, where: str) -> RandomReturn | None:
    if not doc:
        return None
    _known(doc, {"cash_places", "points_places"}, where)
    return RandomReturn(
        _int(doc.get("cash_places", 0), f"{where}cash_places"),
        _int(doc.get("points_places", 0), f"{where}points_places"),
    )


def target_from_doc(doc: Mapping[str, Any] | None, *, enabled: bool = True) -> TargetSettings:
    """A product / store / cashier document; ``enabled`` comes from its own column."""
    doc = doc or {}
    _known(doc, {"extract_bp", "ratios", "windows", "limits", "random_return", *_TARGET_INTS}, "")
    windows = tuple(
        TimeWindow(_time(w.get("start"), "windows.start"), _time(w.get("end"), "windows.end"))
        for w in doc.get("windows") or ()
    )
    limits_doc = doc.get("limits") or {}
    _known(limits_doc, {"per_day", "total"}, "limits.")
    extract = doc.get("extract_bp")
    return TargetSettings(
        enabled=enabled,
        extract_bp=None if extract is None else _int(extract, "extract_bp"),
        ratios=ratios_from_doc(doc.get("ratios"), "ratios."),
        windows=windows,
        limits=Limits(limits_doc.get("per_day"), limits_doc.get("total")),
        random_return=random_return_from_doc(doc.get("random_return"), "random_return."),
        **{k: _int(doc[k], k) for k in _TARGET_INTS if doc.get(k) is not None},
    )


_TARGET_INTS = ("deduction_max_bp", "deduction_min_cash_fen")


_BASE_BOOLS = {
    "enabled",
    "new_products_enabled",
    "mall_queue_unified",
    "stores_queue_unified",
    "cashiers_queue_unified",
    "paused",
    "love_frozen",
}
_BASE_INTS = {
    "extract_bp",
    "exchange_points_bp",
    "exchange_love_bp",
    "deduction_points_per_fen",
    "deduction_love_per_fen",
    "deduction_max_bp",
    "deduction_min_cash_fen",
}
_BASE_ENUMS = {"deduction": DeductionMode, "settle_on": SettleOn, "payout_order": PayoutOrder}


def base_from_doc(doc: Mapping[str, Any] | None) -> BaseSettings:
    """基础设置 document → BaseSettings; missing keys keep their defaults."""
    doc = doc or {}
    _known(doc, _BASE_BOOLS | _BASE_INTS | set(_BASE_ENUMS) | {"ratios", "random_return"}, "")
    kwargs: dict[str, Any] = {}
    for k in _BASE_BOOLS & set(doc):
        kwargs[k] = _bool(doc[k], k)
    for k in _BASE_INTS & set(doc):
        kwargs[k] = _int(doc[k], k)
    for k, cls in _BASE_ENUMS.items():
        if k in doc:
            kwargs[k] = _enum(cls, doc[k], k)
    if "ratios" in doc:
        kwargs["ratios"] = ratios_from_doc(doc["ratios"], "ratios.")
    if "random_return" in doc:
        kwargs["random_return"] = random_return_from_doc(doc["random_return"], "random_return.")
    return BaseSettings(**kwargs)


def to_doc(value: Any) -> Any:
    """Any settings value → a JSON-able document (the inverse of the ``*_from_doc`` readers).

    A TargetSettings document leaves out ``enabled``: that switch lives in its own column."""
    raw = asdict(value)
    if isinstance(value, TargetSettings):
        raw.pop("enabled")
        for k in _TARGET_INTS:  # not configured here: left out, as before they existed
            if raw[k] is None:
                raw.pop(k)
    return _jsonable(raw)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, time):
        return v.strftime("%H:%M")
    if hasattr(v, "value") and isinstance(v.value, str):
        return v.value
    return v
