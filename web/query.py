"""Query-string parameters, paging and JSON replies shared by every HTTP edge: a bad parameter
is a 400 naming it, with the rule in Chinese.

Every list pages one way (``services.paging``): ``?limit=20`` (1–50) and ``cursor``, the
``next_cursor`` of the previous reply (absent on the first page); the reply holds the page's
items under ``items`` and ``next_cursor`` (null on the last page), and whatever a list reports
besides (counts, totals) as fields beside them. ``page_args`` reads the query, ``page_reply``
writes the reply, ``paged`` documents it and ``PAGE_PARAMS`` documents the query."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from aiohttp import web

from services.clock import LOCAL_TZ
from services.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from web.errors import ApiError
from web.schemas import ID, NULL_INT, Schema, obj

PAGING = (
    f"Paged: `limit` items per page (1–{MAX_LIMIT}, default {DEFAULT_LIMIT}); pass the reply's "
    "`next_cursor` back as `cursor` for the next page (null: this is the last page)."
)
PAGE_PARAMS: dict[str, Schema] = {
    "cursor": {**ID, "description": "上一页返回的 next_cursor（第一页不传）"},
    "limit": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIMIT,
        "default": DEFAULT_LIMIT,
        "description": "每页条数",
    },
}


def optional_int(
    request: web.Request, name: str, *, low: int = 1, high: int = 10**18
) -> int | None:
    """A whole-number query parameter within [low, high], or None when absent; anything else
    is a 400 naming it."""
    raw = request.query.get(name, "")
    if raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_field", f"{name} 必须是 {low}–{high} 之间的整数", field=name)
    return int(raw)


def query_int(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    """``optional_int`` with a default."""
    value = optional_int(request, name, low=low, high=high)
    return default if value is None else value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_reply(data: Any, *, status: int = 200) -> web.Response:
    """JSON with dates as ISO 8601 and dataclasses as objects."""
    return web.json_response(data, status=status, dumps=partial(json.dumps, default=_plain))


def page_reply(page: Page[Any], **beside: Any) -> web.Response:
    """A page as JSON: its items, the next cursor, and the fields reported beside the page."""
    return json_reply({**beside, "items": page.items, "next_cursor": page.next_cursor})


def paged(item: Schema, **beside: Schema) -> Schema:
    """The schema of ``page_reply``'s answer: items of schema ``item``, and ``beside``."""
    return obj(
        {
            **beside,
            "items": {"type": "array", "items": item},
            "next_cursor": {
                **NULL_INT,
                "description": "下一页的 cursor；null 表示这是最后一页",
            },
        }
    )


def query_time(request: web.Request, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A time query parameter: an ISO time with its timezone, or a date — the Beijing day's
    start (``end_of_day``: the next day's start, so the day is included) — or None when
    absent; anything else is a 400 naming it."""
    raw = request.query.get(name, "")
    if raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
            return start + timedelta(days=1) if end_of_day else start
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            400,
            "invalid_field",
            f"{name} 必须是日期（2026-12-01）或带时区的时间（2026-12-01T08:00+08:00）",
            field=name,
        )
    return moment


TIME_RANGE_PARAMS: dict[str, Schema] = {
    "from": {"type": "string", "description": "起始（含）：日期 2026-12-01 或带时区的时间"},
    "to": {"type": "string", "description": "截止：日期（含当天）或带时区的时间（不含）"},
}


def query_range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    """``from`` / ``to`` (``query_time``; a date ``to`` includes its day); a 400 naming ``to``
    when it is not after ``from``."""
    since, until = query_time(request, "from"), query_time(request, "to", end_of_day=True)
    if since is not None and until is not None and until <= since:
        raise ApiError(400, "invalid_field", "to 必须晚于 from", field="to")
    return since, until


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name) or None
    if raw is not None and raw not in choices:
        raise ApiError(
            400, "invalid_field", f"{name} 必须是以下之一：{'、'.join(choices)}", field=name
        )
    return raw


def query_bool(request: web.Request, name: str) -> bool | None:
    """``true`` / ``false`` (also ``1`` / ``0``), or None when absent; anything else is a 400."""
    raw = request.query.get(name, "")
    if raw == "":
        return None
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid_field", f"{name} 必须是 true 或 false", field=name)
    return raw in ("true", "1")


def query_text(request: web.Request, name: str, *, limit: int) -> str | None:
    """A free-text parameter of at most ``limit`` characters, or None when absent or blank."""
    raw = request.query.get(name, "").strip()
    if len(raw) > limit:
        raise ApiError(400, "invalid_field", f"{name} 不能超过 {limit} 个字符", field=name)
    return raw or None


def page_args(request: web.Request) -> tuple[int | None, int]:
    """``cursor`` (the previous reply's ``next_cursor``; None on the first page) and ``limit``."""
    limit = query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    return optional_int(request, "cursor"), limit
