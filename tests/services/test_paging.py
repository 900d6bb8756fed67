"""Keyset paging (``services.paging``) on both backends: walking the pages of a list gives every
row exactly once, in the list's order, full pages until the last (whose cursor is None), even
when rows arrive or leave between two pages; a list sorted by another column pages on (that
column, id); a cursor that is no item of such a list, or a limit below 1, is refused naming it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import AuditLog, JobRun, JobRunStatus
from services.jobs import recent_runs
from services.paging import InvalidPage, Page, page_by_id, page_sorted
from tests.services.helpers import T0

Fetch = Callable[[int | None, int], Awaitable[Page[Any]]]


async def walk(fetch: Fetch, limit: int) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        page = await fetch(cursor, limit)
        items += page.items
        if page.next_cursor is None:  # never an empty page after a full one
            assert 0 < len(page.items) <= limit or items == []
            return items
        assert len(page.items) == limit
        cursor = page.next_cursor
    raise AssertionError("no last page")


async def audit_rows(count: int) -> list[int]:
    return [
        (await AuditLog.create(operator="op", section=f"s{n % 3}", target="", created_at=T0)).id
        for n in range(count)
    ]


def audit(section: str | None = None, *, newest_first: bool = True) -> Fetch:
    async def fetch(cursor: int | None, limit: int) -> Page[Any]:
        query = AuditLog.all() if section is None else AuditLog.filter(section=section)
        page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=newest_first)
        return page.map(lambda row: row.id)

    return fetch


async def test_walking_the_pages_gives_every_row_once_in_order(db: str) -> None:
    made = await audit_rows(24)
    for limit in (1, 5, 6, 24, 50):  # 6 and 24: the rows fill the last page exactly
        assert await walk(audit(), limit) == made[::-1]
        assert await walk(audit(newest_first=False), limit) == made
    assert await walk(audit("s1"), 3) == made[1::3][::-1]
    assert await page_by_id(AuditLog.filter(section="none"), cursor=None, limit=5) == Page([], None)


async def test_rows_that_arrive_or_leave_between_pages_shift_nothing(db: str) -> None:
    made = await audit_rows(10)
    first = await audit()(None, 4)
    assert first.items == made[:-5:-1]
    await audit_rows(3)  # newer than every row seen: not on the later pages
    await AuditLog.filter(id__in=[made[0], first.items[0]]).delete()
    rest = await walk(lambda cursor, limit: audit()(cursor or first.next_cursor, limit), 4)
    assert rest == made[1:6][::-1]  # neither repeated nor skipped (an offset would repeat two)
    oldest = await audit(newest_first=False)(None, 4)
    newer = await audit_rows(2)  # oldest first: they come last
    rest = await walk(lambda c, limit: audit(newest_first=False)(c or oldest.next_cursor, limit), 4)
    assert oldest.items + rest == sorted(await AuditLog.all().values_list("id", flat=True))
    assert rest[-2:] == newer


async def runs_started(minutes: list[int], names: tuple[str, ...] = ("clearing",)) -> list[int]:
    """Job runs started ``minutes`` after T0 — out of id order (a retried slot starts again),
    with ties — named in turn; their ids as the runs list shows them: latest start first."""
    for n, minute in enumerate(minutes):
        await JobRun.create(
            name=names[n % len(names)],
            slot=f"slot-{n}",
            trigger="schedule",
            status=JobRunStatus.SUCCEEDED,
            started_at=T0 + timedelta(minutes=minute),
        )
    runs = await JobRun.all()
    expected = [r.id for r in sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)]
    assert expected != sorted(expected, reverse=True)  # the id order would be wrong
    return expected


async def test_a_list_sorted_by_another_column_pages_on_it_then_id(db: str) -> None:
    expected = await runs_started([5, 1, 9, 5, 3, 9, 0, 5, 7, 5])

    async def fetch(cursor: int | None, limit: int) -> Page[Any]:
        return (await recent_runs(cursor=cursor, limit=limit)).map(lambda run: run.id)

    for limit in (1, 2, 3, 4, 10):
        assert await walk(fetch, limit) == expected
    with pytest.raises(InvalidPage) as refused:
        await recent_runs(cursor=max(expected) + 1)
    assert refused.value.field == "cursor"


async def test_a_limit_below_one_is_refused(db: str) -> None:
    for limit in (0, -1):
        with pytest.raises(InvalidPage) as refused:
            await page_by_id(AuditLog.all(), cursor=None, limit=limit)
        assert refused.value.field == "limit"
        with pytest.raises(InvalidPage):
            page_sorted({1: (1, -1)}, cursor=None, limit=limit)


@given(
    depths=st.dictionaries(st.integers(1, 10_000), st.integers(1, 3), max_size=40),
    limit=st.integers(1, 7),
)
def test_ids_held_in_memory_page_on_their_sort_key(depths: dict[int, int], limit: int) -> None:
    order = {m: (d, -m) for m, d in depths.items()}  # nearest depth first, newest first within
    walked: list[int] = []
    cursor = None
    for _ in range(len(depths) + 1):
        page = page_sorted(order, cursor=cursor, limit=limit)
        walked += page.items
        if page.next_cursor is None:
            break
        assert len(page.items) == limit and page.next_cursor == page.items[-1]
        cursor = page.next_cursor
    assert walked == sorted(depths, key=lambda m: (depths[m], -m))


def test_a_cursor_that_is_not_in_the_list_held_in_memory_is_refused() -> None:
    with pytest.raises(InvalidPage) as refused:
        page_sorted({1: (1, -1), 2: (1, -2)}, cursor=3, limit=1)
    assert refused.value.field == "cursor"
