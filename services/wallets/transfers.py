"""积分转让 (SPEC §10): a member sends points to another member, named by their referral code.

One call moves both sides: under the wallet row locks of sender and receiver (ascending member
id, the lock order of every wallet writer), the checks, then the ``PointsTransfer`` row and its
postings in one ``ledger.postings.post`` — ``points_transfer:<id>`` from the sender's points to
the receiver's, and, when the fee is not zero, ``points_transfer_fee:<id>`` from the sender's
points to the platform (``platform:points``, the issuer: a fee un-issues what it takes). The
operation log gets a row (section ``points_transferred``, operator ``member:<id>``) and the
receiver an outbox event ``points_received``, in the same transaction.

The fee is ``floor(points × fee_bp / 10000)``, paid by the sender on top of ``points``: the
receiver gets exactly what was sent. Limits count ``points`` (not the fee); the minimum balance
to keep counts both. The daily limit is the sender's transfers of the same Beijing day.

``request_id`` is the client's idempotency id, unique per sender: the same id again answers
the first transfer and changes nothing (even if the settings or balances changed since); the
same id for another receiver or amount is a ``Conflict`` naming ``request_id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.balances import balances_of
from ledger.postings import Posting, post
from models import Member, PointsTransfer, SettingDoc
from rebate.errors import InvalidAmount, InvalidSetting, NotAllowed
from rebate.money import apply_bp
from runtime.sql import fetch
from services import audit
from services.clock import local
from services.errors import Conflict, InvalidField, NotFound
from services.outbox import Event, emit
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.settings.codec import _bool, _int, _known

SETTINGS_DOC = "points_transfer"
RECEIVED_EVENT = "points_received"
REQUEST_ID = re.compile(r"^[0-9A-Za-z_-]{8,64}$")
CODE = re.compile(r"^[0-9A-Za-z]{1,16}$")  # what a referral code may look like (case-insensitive)
MAX_POINTS = 100_000_000  # the most any setting may allow in one transfer
MAX_FEE_BP = 5_000  # a fee above half of what is sent is a typo, not a fee


@dataclass(frozen=True)
class TransferSettings:
    """积分转让设置. Off until an operator switches it on: moving value between members is a
    new way to move it, and the operator chooses its limits first."""

    enabled: bool = False
    min_points: int = 1  # per transfer
    max_points: int = 100_000  # per transfer
    daily_points: int = 500_000  # per sender per Beijing day
    keep_points: int = 0  # the sender's points balance may not fall below this
    fee_bp: int = 0  # 手续费 to the platform, on top of the points sent

    def __post_init__(self) -> None:
        if not 1 <= self.min_points <= self.max_points <= MAX_POINTS:
            raise InvalidSetting(
                f"单笔转让数量须满足 1 ≤ 最低 ≤ 最高 ≤ {MAX_POINTS}",
                field=f"{SETTINGS_DOC}.max_points",
            )
        if self.daily_points < self.min_points:
            raise InvalidSetting(
                "每日转让上限不能低于单笔最低数量", field=f"{SETTINGS_DOC}.daily_points"
            )
        if self.keep_points < 0:
            raise InvalidSetting("最低保留积分不能为负", field=f"{SETTINGS_DOC}.keep_points")
        if not 0 <= self.fee_bp <= MAX_FEE_BP:
            raise InvalidSetting(
                f"手续费比例须在 0–{MAX_FEE_BP}（万分比）之间", field=f"{SETTINGS_DOC}.fee_bp"
            )


def settings_from_doc(doc: Mapping[str, Any] | None) -> TransferSettings:
    """The transfer settings document; missing keys keep their defaults."""
    doc = doc or {}
    names = {f.name for f in fields(TransferSettings)}
    _known(doc, names, f"{SETTINGS_DOC}.")
    kwargs: dict[str, Any] = {}
    for name in names & set(doc):
        where = f"{SETTINGS_DOC}.{name}"
        kwargs[name] = _bool(doc[name], where) if name == "enabled" else _int(doc[name], where)
    return TransferSettings(**kwargs)


def settings_to_doc(settings: TransferSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(TransferSettings)}


async def load_transfer_settings() -> TransferSettings:
    row = await SettingDoc.get_or_none(name=SETTINGS_DOC)
    return settings_from_doc(row.config if row else None)


def fee_of(points: int, fee_bp: int) -> int:
    """The platform's fee: floored to whole points (the fraction stays with the sender)."""
    return apply_bp(points, fee_bp)


# --- a transfer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferResult:
    transfer: PointsTransfer
    replayed: bool  # True: the request id was seen before; nothing changed now
    shown: dict[str, Any]  # the transfer as its sender sees it (``transfer_json``)


def _checked_input(to_code: Any, points: Any, request_id: Any) -> str:
    if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
        raise InvalidField("request_id 必须是 8–64 位字母、数字、- 或 _", field="request_id")
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidAmount("转让积分必须是正整数", field="points")
    if not isinstance(to_code, str) or not to_code.strip():
        raise InvalidField("请填写对方的推荐码", field="to_code")
    if not CODE.match(to_code.strip()):
        raise InvalidField("推荐码只能包含字母和数字", field="to_code")
    return to_code.strip().upper()


async def transfer_points(
    sender_id: int, *, to_code: str, points: int, request_id: str, now: datetime
) -> TransferResult:
    """Send ``points`` to the member whose referral code is ``to_code``. Refused, with nothing
    changed: a malformed request id, amount or code (400), an unknown code (404), to oneself
    (400), under the minimum or over the per-transfer maximum (400), switched off, more than
    the balance less the points to keep, over the daily limit (409), the request id already
    used for another transfer (409)."""
    code = _checked_input(to_code, points, request_id)
    receiver = await Member.get_or_none(referral_code=code)
    settings = await load_transfer_settings()
    async with in_transaction() as conn:
        for member_id in sorted({sender_id, receiver.id if receiver else sender_id}):
            await balances_of(member_id, conn, lock=True)
        earlier = await PointsTransfer.get_or_none(
            sender_id=sender_id, request_id=request_id, using_db=conn
        )
        if earlier is not None:
            if receiver is None or (earlier.receiver_id, earlier.points) != (receiver.id, points):  # type: ignore[attr-defined]
                raise Conflict("该 request_id 已用于另一笔转让", field="request_id")
            return TransferResult(
                earlier, True, transfer_json(earlier, sender_id, {receiver.id: receiver})
            )
        day = local(now).date().isoformat()
        fee = await _allowed(conn, sender_id, receiver, points, settings, day)
        assert receiver is not None
        created = await PointsTransfer.create(
            sender_id=sender_id, receiver_id=receiver.id, request_id=request_id, points=points,
            fee=fee, day=day, created_at=now, using_db=conn,
        )  # fmt: skip
        await post(conn, transfer_postings(created), now)
        await _record(conn, created, receiver, now)
    return TransferResult(
        created, False, transfer_json(created, sender_id, {receiver.id: receiver})
    )


async def _allowed(
    conn: BaseDBAsyncClient,
    sender_id: int,
    receiver: Member | None,
    points: int,
    settings: TransferSettings,
    day: str,
) -> int:
    """The fee of a transfer the settings and the sender's balance allow (under the locks)."""
    if not settings.enabled:
        raise NotAllowed("积分转让暂未开放", field="points")
    if receiver is None:
        raise NotFound("推荐码不存在", field="to_code")
    if receiver.id == sender_id:
        raise InvalidField("不能转让给自己", field="to_code")
    if points < settings.min_points:
        raise InvalidAmount(f"单笔最少转让 {settings.min_points} 积分", field="points")
    if points > settings.max_points:
        raise InvalidAmount(f"单笔最多转让 {settings.max_points} 积分", field="points")
    fee = fee_of(points, settings.fee_bp)
    held = (await balances_of(sender_id, conn)).points
    if points + fee > held - settings.keep_points:
        raise NotAllowed(
            f"积分不足：当前 {held}，转让 {points} 加手续费 {fee} 后须至少保留"
            f" {settings.keep_points}",
            field="points",
        )
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(points), 0) AS s FROM points_transfer"
        " WHERE sender_id = $1 AND day = $2",
        [sender_id, day],
    )
    used = int(rows[0]["s"])
    if used + points > settings.daily_points:
        raise NotAllowed(
            f"超过每日转让上限 {settings.daily_points} 积分（今日已转让 {used}）", field="points"
        )
    return fee


def transfer_postings(t: PointsTransfer) -> list[Posting]:
    """The transfer's postings: the points to the receiver, and the fee if any."""
    sender = accounts.member(t.sender_id, "points")  # type: ignore[attr-defined]
    receiver = accounts.member(t.receiver_id, "points")  # type: ignore[attr-defined]
    memo = f"积分转让 #{t.id}"
    moves = [Posting(f"points_transfer:{t.id}", "points_transfer", sender, receiver, "points",
                     t.points, memo=memo)]  # fmt: skip
    if t.fee:
        moves.append(
            Posting(f"points_transfer_fee:{t.id}", "points_transfer_fee", sender,
                    accounts.POINTS_ISSUED, "points", t.fee, memo=f"{memo} 手续费")
        )  # fmt: skip
    return moves


async def _record(
    conn: BaseDBAsyncClient, t: PointsTransfer, receiver: Member, now: datetime
) -> None:
    sender = await Member.filter(id=t.sender_id).using_db(conn).get()  # type: ignore[attr-defined]
    await audit.record(
        conn, operator=f"member:{t.sender_id}", section="points_transferred",  # type: ignore[attr-defined]
        target=f"points_transfer:{t.id}",
        new={"to_member_id": receiver.id, "points": t.points, "fee": t.fee,
             "request_id": t.request_id},
        now=now,
    )  # fmt: skip
    told = {
        "transfer_id": t.id,
        "points": t.points,
        "from_code": sender.referral_code,
        "from_nickname": sender.nickname,
    }
    await emit(conn, [Event(RECEIVED_EVENT, receiver.id, told)], now)


# --- reading ------------------------------------------------------------------------------------


async def list_transfers(
    member_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """The member's transfers, sent and received, newest first, each as the member sees it."""
    query = PointsTransfer.filter(Q(sender_id=member_id) | Q(receiver_id=member_id))
    page = await page_by_id(query, cursor=cursor, limit=limit)
    others = {
        t.receiver_id if t.sender_id == member_id else t.sender_id  # type: ignore[attr-defined]
        for t in page.items
    }
    members = {m.id: m for m in await Member.filter(id__in=others)}
    return page.map(lambda t: transfer_json(t, member_id, members))


def transfer_json(
    t: PointsTransfer, member_id: int, members: Mapping[int, Member]
) -> dict[str, Any]:
    """A transfer as ``member_id`` sees it: sent (with the fee they paid) or received."""
    sent = t.sender_id == member_id  # type: ignore[attr-defined]
    other = members.get(t.receiver_id if sent else t.sender_id)  # type: ignore[attr-defined]
    return {
        "id": t.id,
        "direction": "sent" if sent else "received",
        "points": t.points,
        "fee": t.fee if sent else 0,
        "counterpart_code": other.referral_code if other else "",
        "counterpart_nickname": other.nickname if other else "",
        "request_id": t.request_id if sent else "",
        "created_at": t.created_at.isoformat(),
    }
