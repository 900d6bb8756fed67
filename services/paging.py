"""Keyset paging: the one way every list of the API is paged.

A page is at most ``limit`` items that come after ``cursor`` in the list's order, and the cursor
of the next page (None on the last page). The cursor is the id of the previous page's last item
(None: the first page); clients treat it as opaque and pass ``next_cursor`` back. Keyset, not
offsets: rows that arrive or leave between two requests never shift a page, so walking the
pages never repeats nor skips a row that was there all along.

A list is newest first (id descending) unless its meaning needs another order, which its
docstring says. A list sorted by something other than id pages on (sort key, id): the cursor is
still the last item's id, and its sort key is read back from that item. A cursor that is no
item of such a list is refused (400 naming ``cursor``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from rebate.errors import RebateError

DEFAULT_LIMIT = 20
MAX_LIMIT = 50  # the most a client may ask for in one page (services may ask for more)

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=Model)


class InvalidPage(RebateError):
    """A cursor that is no item of the list, or a limit below 1 (a 400 naming it)."""

    code = "invalid_field"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: int | None  # None: this is the last page

    def map(self, shape: Callable[[T], U]) -> Page[U]:
        """The same page with each item shaped (e.g. a row as JSON)."""
        return Page([shape(item) for item in self.items], self.next_cursor)


def _check(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidPage("limit 必须是正整数", field="limit")


def _cut(rows: list[T], limit: int, id_of: Callable[[T], int]) -> Page[T]:
    """The first ``limit`` of ``rows``; one more row than that means a next page follows."""
    more = len(rows) > limit
    return Page(rows[:limit], id_of(rows[limit - 1]) if more else None)


def _refuse_cursor() -> InvalidPage:
    return InvalidPage("cursor 无效：请从第一页重新开始", field="cursor")


async def page_by_id(
    query: QuerySet[M],
    *,
    cursor: int | None,
    limit: int,
    newest_first: bool = True,
    key: str | None = None,
) -> Page[M]:
    """The page of ``query`` after ``cursor``, ordered by id — newest first unless
    ``newest_first`` is False — or, with ``key`` (a NOT NULL column), by that column and then
    id, both the same way."""
    _check(limit)
    way = "-" if newest_first else ""
    if cursor is not None:
        query = query.filter(await _after(query, cursor, key, newest_first))
    order = [way + key] if key is not None else []
    rows = await query.order_by(*order, way + "id").limit(limit + 1)
    return _cut(rows, limit, lambda row: int(row.pk))


async def _after(query: QuerySet[M], cursor: int, key: str | None, newest_first: bool) -> Q:
    """Rows after the cursor's row in the page order."""
    beyond = "lt" if newest_first else "gt"
    by_id: dict[str, Any] = {f"id__{beyond}": cursor}
    if key is None:
        return Q(**by_id)
    # the cursor's row, whatever the list's filters: a row that no longer passes them still
    # marks where the previous page ended
    found = await query.model.filter(id=cursor).values_list(key, flat=True)
    if not found:
        raise _refuse_cursor()
    by_key: dict[str, Any] = {f"{key}__{beyond}": found[0]}
    tied: dict[str, Any] = {key: found[0], **by_id}
    return Q(**by_key) | Q(**tied)


def page_sorted(order: Mapping[int, Any], *, cursor: int | None, limit: int) -> Page[int]:
    """The same paging over ids held in memory: ``order`` maps each id of the list to its sort
    key, which must include the id (so that no two items tie), e.g. ``(depth, -id)``."""
    _check(limit)
    if cursor is not None and cursor not in order:
        raise _refuse_cursor()
    after = order[cursor] if cursor is not None else None
    ranked = sorted((k, i) for i, k in order.items() if after is None or k > after)
    return _cut([i for _, i in ranked[: limit + 1]], limit, int)


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "InvalidPage", "Page", "page_by_id", "page_sorted"]
