"""Query-string parameters, paging and JSON replies shared by every HTTP edge: a bad parameter
is a 400 naming it, with the rule in Chinese."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from aiohttp import web

from services.distribution.promoter import MAX_PAGE_SIZE, Page
from web.errors import ApiError
from web.schemas import INT, Schema, obj

DEFAULT_LIMIT = 20
MAX_LIMIT = 50
MAX_PAGE = 1_000_000
PAGING = "Paged: ?page=1&size=20 (size 1–50)."


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


def paging(request: web.Request) -> tuple[int, int]:
    """(page, size) from the query string."""
    return (
        query_int(request, "page", 1, low=1, high=MAX_PAGE),
        query_int(request, "size", 20, low=1, high=MAX_PAGE_SIZE),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_reply(data: Any, *, status: int = 200) -> web.Response:
    """JSON with dates as ISO 8601 and dataclasses as objects."""
    return web.json_response(data, status=status, dumps=partial(json.dumps, default=_plain))


def page_json(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "page": page.page,
        "size": page.size,
        "total": page.total,
        "has_more": page.has_more,
    }


def paged(item: Schema) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": item},
            "page": INT,
            "size": INT,
            "total": INT,
            "has_more": {"type": "boolean"},
        }
    )


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name) or None
    if raw is not None and raw not in choices:
        raise ApiError(
            400, "invalid_field", f"{name} 必须是以下之一：{'、'.join(choices)}", field=name
        )
    return raw


def page_args(request: web.Request) -> tuple[int | None, int]:
    """``cursor`` (the last id of the previous page) and ``limit``."""
    limit = query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    return optional_int(request, "cursor"), limit
