"""分销设置 (SPEC §8): the settings document, stored in its own row (``distribution_config``,
id 1). The value itself and its checks are the engine's (``rebate.distribution_settings``).

Every ratio is basis points, every amount fen. A bad value is refused with a Chinese message
naming the field, before anything is saved. The document is read once per process and then from
the settings cache (``services.settings.cache``); it changes inside ``changing(DISTRIBUTION)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import DistributionConfig
from rebate.distribution_settings import DistributionSettings, DividendPeriod, TeamLevel
from rebate.errors import InvalidSetting
from services.settings.cache import DISTRIBUTION, SETTINGS, assert_changing
from services.settings.codec import _known

_FIELDS = set(DistributionSettings.__dataclass_fields__)
_LEVEL_FIELDS = set(TeamLevel.__dataclass_fields__)


def to_doc(settings: DistributionSettings) -> dict[str, Any]:
    doc = asdict(settings)
    doc["dividend_period"] = settings.dividend_period.value
    doc["levels"] = [asdict(lv) for lv in settings.levels]
    return doc


def from_doc(doc: Mapping[str, Any] | None) -> DistributionSettings:
    """A settings document → validated settings. Unknown keys are refused, by name."""
    if doc is None:
        return DistributionSettings()
    if not isinstance(doc, Mapping):
        raise InvalidSetting("分销设置必须是对象", field="distribution")
    _known(doc, _FIELDS, "")
    values = dict(doc)
    raw_levels = values.get("levels", [])
    if not isinstance(raw_levels, list | tuple):
        raise InvalidSetting("团队等级必须是列表", field="levels")
    levels = []
    for i, raw in enumerate(raw_levels):
        if not isinstance(raw, Mapping):
            raise InvalidSetting("团队等级格式错误", field=f"levels.{i}")
        bad = set(raw) - _LEVEL_FIELDS
        if bad or not {"level", "name", "rate_bp"} <= set(raw):
            raise InvalidSetting("团队等级需要 level、name、rate_bp", field=f"levels.{i}")
        levels.append(TeamLevel(**raw))
    values["levels"] = tuple(levels)
    if "dividend_period" in values:
        try:
            values["dividend_period"] = DividendPeriod(values["dividend_period"])
        except ValueError:
            raise InvalidSetting("分红周期必须是 month 或 week", field="dividend_period") from None
    try:
        return DistributionSettings(**values)
    except TypeError as exc:  # a wrong type reached a comparison
        raise InvalidSetting(f"分销设置格式错误: {exc}", field="distribution") from None


async def load_distribution(conn: BaseDBAsyncClient | None = None) -> DistributionSettings:
    """The settings in force (``conn``: read through it when not cached)."""

    async def read() -> DistributionSettings:
        query = DistributionConfig.filter(id=1)
        if conn is not None:
            query = query.using_db(conn)
        row = await query.first()
        return from_doc(row.doc if row else None)

    return await SETTINGS.get(DISTRIBUTION, read)


async def store_distribution(
    conn: BaseDBAsyncClient, settings: DistributionSettings, operator: str
) -> None:
    """Write the row inside the caller's ``changing(DISTRIBUTION)`` transaction; callers check
    the guardrail first (``services.merchants.onboarding``)."""
    assert_changing(DISTRIBUTION)
    doc = to_doc(settings)
    updated = (
        await DistributionConfig.filter(id=1).using_db(conn).update(doc=doc, updated_by=operator)
    )
    if not updated:
        await DistributionConfig.create(id=1, doc=doc, updated_by=operator, using_db=conn)


__all__ = [
    "from_doc",
    "load_distribution",
    "store_distribution",
    "to_doc",
]
