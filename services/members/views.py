"""Read models for the member API: my entries and their place in the queue, a queue's page, my
wallet and the postings that moved it — shaped as JSON, with SPEC §7's display switches and names applied.

Display switches (seed items 19–23) and the custom names live in one settings document
(``setting_doc`` row ``member_display``); every switch defaults to on. What each one hides:

- 队列进程 ``queue_progress``: an entry's queue (id, key) and position; the queue page itself;
- 累计奖励 ``accumulated_reward``: what an entry (and the queue's head) has received;
- 待奖励 ``pending_reward``: an entry's entitlement (also before and after its draw), the
  queue's waiting count, the head's entitlement;
- 会员信息 ``member_info``: avatar and nickname on the queue page;
- 待奖励金额 ``pending_amount``: what is still owed (an entry's remainder and the estimate's
  amounts, the queue's outstanding total, the head's remainder).

Hidden fields are left out of the answer, not nulled (the answer to an action — a draw, an
exchange — still says what the action did). 自定义名称 ``rebate_name`` and 兑换自定义名称
``exchange_name`` are returned with every answer here (and are what messages should say).

Position: how many waiting entries of the same queue have a smaller seq (0: next to be paid
under 按队列顺序). A member sees only their own entries; someone else's entry, or a queue they
have no entry in, reads as not found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from tortoise import connections

from ledger.balances import balances_of, member_postings
from models import (
    Entry,
    EntryStatus,
    LotteryDraw,
    Member,
    Queue,
    SettingDoc,
    WithdrawalStatus,
)
from rebate.errors import InvalidSetting
from runtime.bot_settings import Names
from runtime.sql import as_datetime, fetch
from services.errors import NotFound
from services.paging import DEFAULT_LIMIT, InvalidPage, Page, page_by_id
from services.pool.views import order_pool_entries
from services.queues.economics import EntryEstimate, estimates
from services.queues.lottery import lottery_of
from services.settings.cache import DISPLAY, SETTINGS, assert_changing
from services.settings.codec import _bool, _known

DISPLAY_DOC = "member_display"
MAX_NAME_CHARS = 16
ASSETS = ("cash", "points", "love_available", "love_frozen")
OPEN_WITHDRAWALS = (WithdrawalStatus.REQUESTED, WithdrawalStatus.PAYING)


@dataclass(frozen=True)
class Display:
    """前端显示设置 and 自定义名称 (SPEC §7)."""

    queue_progress: bool = True  # 队列进程
    accumulated_reward: bool = True  # 累计奖励
    pending_reward: bool = True  # 待奖励
    member_info: bool = True  # 会员信息
    pending_amount: bool = True  # 待奖励金额
    rebate_name: str = "排队返利"  # 自定义名称
    exchange_name: str = "兑换"  # 兑换自定义名称

    def names(self) -> dict[str, str]:
        return {"rebate_name": self.rebate_name, "exchange_name": self.exchange_name}


SWITCHES = (
    "queue_progress",
    "accumulated_reward",
    "pending_reward",
    "member_info",
    "pending_amount",
)
NAMES = ("rebate_name", "exchange_name")

# switch → the fields it hides, per shape
ENTRY_FIELDS: Mapping[str, Sequence[str]] = {
    "queue_progress": ("queue_id", "queue_key", "position"),
    "accumulated_reward": ("received_fen",),
    "pending_reward": ("entitlement_fen",),
    "pending_amount": ("remaining_fen",),
}
DRAW_FIELDS: Mapping[str, Sequence[str]] = {
    "pending_reward": ("old_entitlement_fen", "new_entitlement_fen"),
}
ESTIMATE_FIELDS: Mapping[str, Sequence[str]] = {
    "pending_amount": ("ahead_fen", "remaining_fen", "daily_inflow_fen"),
}
QUEUE_FIELDS: Mapping[str, Sequence[str]] = {
    "pending_reward": ("waiting_count",),
    "pending_amount": ("outstanding_fen",),
}
HEAD_FIELDS: Mapping[str, Sequence[str]] = {
    "accumulated_reward": ("received_fen",),
    "pending_reward": ("entitlement_fen",),
    "pending_amount": ("remaining_fen",),
    "member_info": ("nickname", "avatar_url"),
}


def display_from_doc(doc: Mapping[str, Any] | None) -> Display:
    """The display document → Display; missing keys keep their defaults. Unknown keys, wrong
    types and empty or long names are refused naming the field."""
    doc = doc or {}
    _known(doc, {*SWITCHES, *NAMES}, "display.")
    kwargs: dict[str, Any] = {k: _bool(doc[k], f"display.{k}") for k in SWITCHES if k in doc}
    for key in NAMES:
        if key in doc:
            value = doc[key]
            if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_NAME_CHARS:
                raise InvalidSetting(
                    f"display.{key} 必须是 1–{MAX_NAME_CHARS} 个字", field=f"display.{key}"
                )
            kwargs[key] = value.strip()
    return Display(**kwargs)


def display_to_doc(display: Display) -> dict[str, Any]:
    return asdict(display)


async def _display_doc() -> dict[str, Any] | None:
    """The saved display document (None: never saved), from the settings cache."""

    async def read() -> dict[str, Any] | None:
        row = await SettingDoc.get_or_none(name=DISPLAY_DOC)
        return dict(row.config) if row else None

    doc: dict[str, Any] | None = await SETTINGS.get(DISPLAY, read)
    return doc


async def load_display() -> Display:
    """The display settings in force (cached per process like the other settings)."""
    return display_from_doc(await _display_doc())


async def save_display(display: Display) -> None:
    """Replace the display document inside the caller's ``changing(DISPLAY)`` transaction."""
    assert_changing(DISPLAY)
    doc = display_to_doc(display)
    if not await SettingDoc.filter(name=DISPLAY_DOC).update(config=doc):
        await SettingDoc.create(name=DISPLAY_DOC, config=doc)


async def names_in_force(fallback: Names) -> Names:
    """The custom names every message and page says — the one source of them: the operator's
    自定义名称 / 兑换自定义名称 (the display settings) once saved, else ``fallback`` (the
    configuration's ``[bot.names]``, which also names the mini-program)."""
    doc = await _display_doc()
    if doc is None:
        return fallback
    display = display_from_doc(doc)
    return replace(fallback, plugin=display.rebate_name, exchange=display.exchange_name)


def hide(data: dict[str, Any], display: Display, fields: Mapping[str, Sequence[str]]) -> None:
    """Leave out of ``data`` what the switched-off display settings hide."""
    for switch, names in fields.items():
        if not getattr(display, switch):
            for name in names:
                data.pop(name, None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- entries ------------------------------------------------------------------------------------


def lottery_json(entry: Entry, draw: LotteryDraw | None, display: Display) -> dict[str, Any] | None:
    """The entry's lottery state (None when it was offered none)."""
    lottery, source = lottery_of(entry.lottery)
    if lottery is None:
        return None
    drawn = None
    if draw is not None:
        drawn = {
            "old_ratio_bp": draw.old_ratio_bp,
            "new_ratio_bp": draw.new_ratio_bp,
            "old_entitlement_fen": draw.old_entitlement_fen,
            "new_entitlement_fen": draw.new_entitlement_fen,
            "drawn_at": _iso(draw.drawn_at),
        }
        hide(drawn, display, DRAW_FIELDS)
    return {
        "mode": lottery.mode.value,
        "ratios_bp": list(lottery.ratios_bp),
        "low_bp": lottery.low_bp,
        "high_bp": lottery.high_bp,
        "source": source,
        "drawn": entry.lottery_drawn,
        "can_draw": (
            entry.status == EntryStatus.WAITING and not entry.lottery_drawn and entry.paid_fen == 0
        ),
        "draw": drawn,
    }


def estimate_json(estimate: EntryEstimate, display: Display) -> dict[str, Any]:
    data: dict[str, Any] = {
        "eta_seconds": None if estimate.eta is None else int(estimate.eta.total_seconds()),
        "estimated_full_at": _iso(estimate.estimated_full_at),
        "ahead_fen": estimate.ahead_fen,
        "remaining_fen": estimate.remaining_fen,
        "daily_inflow_fen": estimate.daily_inflow_fen,
        "is_estimate": True,
        "note": estimate.note,
    }
    hide(data, display, ESTIMATE_FIELDS)
    return data


def entry_json(
    entry: Entry,
    queue_key: str,
    draw: LotteryDraw | None,
    estimate: EntryEstimate | None,
    display: Display,
) -> dict[str, Any]:
    """One entry as members read it; ``estimate`` is None unless it waits."""
    data: dict[str, Any] = {
        "id": entry.id,
        "order_id": entry.order_id,  # type: ignore[attr-defined]
        "line_id": entry.line_id,  # type: ignore[attr-defined]
        "status": entry.status.value,
        "queue_id": int(entry.queue_id),  # type: ignore[attr-defined]
        "queue_key": queue_key,
        "position": None if estimate is None else estimate.ahead,
        "ratio_bp": entry.ratio_bp,
        "ratio_source": entry.ratio_source,
        "entitlement_fen": entry.entitlement_fen,
        "received_fen": entry.paid_fen,
        "remaining_fen": 0 if estimate is None else entry.entitlement_fen - entry.paid_fen,
        "points": entry.points,
        "lottery": lottery_json(entry, draw, display),
        "estimate": None if estimate is None else estimate_json(estimate, display),
        "created_at": _iso(entry.created_at),
    }
    hide(data, display, ENTRY_FIELDS)
    return data


async def _render(entries: list[Entry], display: Display, *, now: datetime) -> list[dict[str, Any]]:
    """The entries with their queues' keys, lottery draws and (waiting ones) places and
    estimates: a fixed number of queries per page, one more per queue it touches."""
    queue_ids = {int(e.queue_id) for e in entries}  # type: ignore[attr-defined]
    keys: dict[int, str] = dict(await Queue.filter(id__in=queue_ids).values_list("id", "key"))
    drawn = [e.id for e in entries if e.lottery_drawn]
    draws = {d.entry_id: d for d in await LotteryDraw.filter(entry_id__in=drawn)}  # type: ignore[attr-defined]
    found = await estimates(entries, now=now)
    return [
        entry_json(
            e,
            keys.get(int(e.queue_id), ""),  # type: ignore[attr-defined]
            draws.get(e.id),
            found.get(e.id),
            display,
        )
        for e in entries
    ]


@dataclass(frozen=True)
class EntriesPage:
    names: dict[str, str]
    entries: Page[dict[str, Any]]  # each names its queue (unless 队列进程 is off)


async def my_entries(
    member_id: int,
    *,
    status: str | None,
    now: datetime,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> EntriesPage:
    """The member's entries, newest first. ``status``: one status, or None for all."""
    query = Entry.filter(member_id=member_id)
    if status is not None:
        query = query.filter(status=status)
    page = await page_by_id(query, cursor=cursor, limit=limit)
    display = await load_display()
    rendered = await _render(page.items, display, now=now)
    return EntriesPage(display.names(), Page(rendered, page.next_cursor))


async def my_entry(member_id: int, entry_id: int, *, now: datetime) -> dict[str, Any]:
    """One of the member's entries, with the names (someone else's is not found)."""
    entry = await Entry.get_or_none(id=entry_id, member_id=member_id)
    if entry is None:
        raise NotFound("排队权益不存在", field="entry_id")
    display = await load_display()
    return {"names": display.names(), "entry": (await _render([entry], display, now=now))[0]}


async def order_entries(member_id: int, order_id: int, *, now: datetime) -> dict[str, Any]:
    """The entries the member's order created (one per settled line that joined a queue),
    oldest first, with the names: what an order's detail shows beside its lines."""
    entries = await Entry.filter(member_id=member_id, order_id=order_id).order_by("id")
    display = await load_display()
    return {
        "names": display.names(),
        "entries": await _render(entries, display, now=now),
        "pool_entries": await order_pool_entries(member_id, order_id),  # 工会排队's orders
    }


async def queue_page(member_id: int, queue_id: int) -> dict[str, Any]:
    """The queue's page (队列进程) for a member who has an entry in it: how many wait, what they
    are still owed, and its head — the next entry to be paid — with what it has received."""
    display = await load_display()
    if not display.queue_progress:
        raise NotFound("队列进程未开放", field="queue_id")
    if not await Entry.exists(queue_id=queue_id, member_id=member_id):
        raise NotFound("队列不存在", field="queue_id")
    queue = await Queue.get(id=queue_id)
    owed = await fetch(
        connections.get("default"),
        "SELECT COALESCE(SUM(entitlement_fen - paid_fen), 0) AS owed FROM entry"
        " WHERE queue_id = $1 AND status = $2",
        [queue_id, EntryStatus.WAITING.value],
    )
    head = await Entry.filter(queue_id=queue_id, status=EntryStatus.WAITING).order_by("seq").first()
    data: dict[str, Any] = {
        "queue_id": queue.id,
        "queue_key": queue.key,
        "waiting_count": queue.waiting_count,
        "outstanding_fen": int(owed[0]["owed"]),
        "head": None,
    }
    if head is not None:
        member = await Member.get(id=head.member_id)  # type: ignore[attr-defined]
        data["head"] = {
            "mine": int(head.member_id) == member_id,  # type: ignore[attr-defined]
            "received_fen": head.paid_fen,
            "entitlement_fen": head.entitlement_fen,
            "remaining_fen": head.entitlement_fen - head.paid_fen,
            "nickname": member.nickname,
            "avatar_url": member.avatar_url,
        }
        hide(data["head"], display, HEAD_FIELDS)
    hide(data, display, QUEUE_FIELDS)
    return {"names": display.names(), "queue": data}


# --- wallet -------------------------------------------------------------------------------------


async def withdrawal_held_fen(member_id: int) -> int:
    """Cash held by the member's open withdrawals (already out of the cash balance)."""
    rows = await fetch(
        connections.get("default"),
        "SELECT COALESCE(SUM(amount_fen), 0) AS s FROM withdrawal WHERE member_id = $1"
        " AND status IN ($2, $3)",
        [member_id, *(s.value for s in OPEN_WITHDRAWALS)],
    )
    return int(rows[0]["s"])


async def my_wallet(member_id: int) -> dict[str, Any]:
    """Balances (cash in fen; points and love value in their own units; the same names as
    ``GET /api/me``) and the cash held by withdrawals in progress."""
    balances = await balances_of(member_id)
    return {
        "balances": balances.as_dict(),
        "withdrawal_held_fen": await withdrawal_held_fen(member_id),
    }


async def my_ledger(
    member_id: int, *, asset: str | None, cursor: int | None, limit: int
) -> Page[dict[str, Any]]:
    """The postings that moved the member's balances, newest first (keyset on the posting's
    id), each as a line of the member's statement: which balance (``asset``), and the amount
    signed as the member sees it (+ in, − out)."""
    if asset is not None and asset not in ASSETS:
        raise InvalidSetting(f"asset 必须是以下之一: {', '.join(ASSETS)}", field="asset")
    if limit < 1:
        raise InvalidPage("limit 必须是正整数", field="limit")
    rows = await member_postings(
        member_id, (asset,) if asset else ASSETS, before_id=cursor, limit=limit + 1
    )
    page = Page(rows[:limit], int(rows[limit - 1]["id"]) if len(rows) > limit else None)
    return page.map(_statement_line)


def _statement_line(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "asset": r["balance"],
        "amount": r["signed"],
        "kind": r["kind"],
        "memo": r["memo"],
        "order_id": r["order_id"],
        "entry_id": r["entry_id"],
        "created_at": _iso(as_datetime(r["created_at"])),
    }


__all__ = [
    "DISPLAY_DOC",
    "Display",
    "EntriesPage",
    "display_from_doc",
    "display_to_doc",
    "load_display",
    "my_entries",
    "my_entry",
    "my_ledger",
    "my_wallet",
    "names_in_force",
    "queue_page",
    "save_display",
    "withdrawal_held_fen",
]
