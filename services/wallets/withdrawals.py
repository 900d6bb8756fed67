"""提现: a member's cash wallet to their WeChat change (零钱), by 商家转账, after an operator's yes.

Money stays in the ledger (SPEC §2), one posting per step:
- Request: under the member's wallet row lock, the checks (switched on, minimum, maximum,
  daily cap, balance), then the ``Withdrawal`` row and ``withdrawal_hold:<id>`` from the
  member's cash to the withdrawals held (``platform:withdrawals``) — one transaction.
- Reject (operator, with a reason; only while requested) or a transfer that definitely failed
  (FAIL / CANCELLED): ``withdrawal_release:<id>`` gives the amount back.
- Paid (SUCCESS): ``withdrawal_paid:<id>`` from the withdrawals held out through WeChat Pay.
- Approve (operator): the withdrawal becomes ``paying`` and its one bill, ``out_bill_no``, is
  sent. A timeout or an error is followed by a query of the same number, never by a new one
  (``wechat.transfer.send_or_query``, shared with merchant statements), under the withdrawal
  scene of the settings as they are when the bill is sent (an operator's change needs no
  restart; the 商家转账 client is the merchant account's one, the scene is the bill's). SUCCESS ends it
  ``succeeded``; any other state leaves it ``paying`` until someone asks again (approving
  again, or ``pursue_open_withdrawals``). A definitely failed bill is never retried under a
  new number: the hold is released and the member may ask again.

Each outcome writes an outbox event ``withdrawal_result`` {withdrawal_id, amount_fen, status:
succeeded | failed, reason} in the same transaction (the bot renders it); a rejection is
``failed`` with the operator's reason.

Daily cap: the member's withdrawals requested on the same Beijing day, except rejected and
failed ones, plus the new one. Settings are a document of their own (``setting_doc`` row
``withdrawal``), with defaults an operator would expect.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.balances import balances_of
from ledger.postings import Posting, post
from models import Member, SettingDoc, Withdrawal, WithdrawalStatus
from rebate.distribution_settings import WECHAT_TRANSFER_REAL_NAME_FEN
from rebate.errors import InvalidAmount, InvalidSetting, NotAllowed
from runtime.sql import fetch
from services import audit
from services.clock import local
from services.errors import NotFound
from services.outbox import Event, emit
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.settings.codec import _bool, _int, _known
from wechat.transfer import (
    MAX_REMARK_CHARS,
    SceneInfo,
    TransferBill,
    Transfers,
    TransferScene,
    send_or_query,
)

log = logging.getLogger(__name__)

SETTINGS_DOC = "withdrawal"
RESULT_EVENT = "withdrawal_result"
MAX_REASON_CHARS = 80
SCENE_ID = re.compile(r"^[0-9]{1,8}$")
RELEASED = (WithdrawalStatus.REJECTED, WithdrawalStatus.FAILED)
NOT_ANSWERED = ("", "requested")  # transfer_state of a bill sent with no answer seen yet
DEFAULT_SCENE = TransferScene(  # 现金营销, with its 报备信息
    "1000", (SceneInfo("活动名称", "排队返利"), SceneInfo("奖励说明", "返现提现"))
)


@dataclass(frozen=True)
class WithdrawalSettings:
    """提现设置. Amounts in fen. Above 2000 元 WeChat needs the payee's real name, which the
    mini-program does not collect: ``max_fen`` cannot exceed it."""

    enabled: bool = True
    min_fen: int = 100  # 1 元
    max_fen: int = 200_000  # per request
    daily_cap_fen: int = 500_000  # per member per Beijing day
    scene: TransferScene = DEFAULT_SCENE  # the one the merchant account was granted for this
    remark: str = "返现提现"  # transfer remark the member sees (≤ 32 characters)

    def __post_init__(self) -> None:
        if not 1 <= self.min_fen <= self.max_fen:
            raise InvalidSetting(
                "最低提现金额必须大于 0 且不超过单笔上限", field="withdrawal.min_fen"
            )
        if self.max_fen > WECHAT_TRANSFER_REAL_NAME_FEN:
            raise InvalidSetting(
                f"单笔提现上限不能超过 {WECHAT_TRANSFER_REAL_NAME_FEN} 分（超过需实名）",
                field="withdrawal.max_fen",
            )
        if self.daily_cap_fen < self.min_fen:
            raise InvalidSetting(
                "每日提现上限不能低于最低提现金额", field="withdrawal.daily_cap_fen"
            )
        if not SCENE_ID.match(self.scene.scene_id):
            raise InvalidSetting("转账场景 ID 必须是数字", field="withdrawal.transfer_scene_id")
        if not 0 < len(self.remark) <= MAX_REMARK_CHARS:
            raise InvalidSetting(
                f"转账备注必须是 1–{MAX_REMARK_CHARS} 个字", field="withdrawal.remark"
            )


def settings_from_doc(doc: Mapping[str, Any] | None) -> WithdrawalSettings:
    """The withdrawal settings document; missing keys keep their defaults. The scene is the
    keys ``transfer_scene_id`` and ``report_infos``."""
    doc = doc or {}
    keys = {"enabled", "min_fen", "max_fen", "daily_cap_fen", "transfer_scene_id"}
    _known(doc, keys | {"report_infos", "remark"}, "withdrawal.")
    kwargs: dict[str, Any] = {}
    if "enabled" in doc:
        kwargs["enabled"] = _bool(doc["enabled"], "withdrawal.enabled")
    for key in ("min_fen", "max_fen", "daily_cap_fen"):
        if key in doc:
            kwargs[key] = _int(doc[key], f"withdrawal.{key}")
    scene_id = _text(doc, "transfer_scene_id") if "transfer_scene_id" in doc else None
    if "remark" in doc:
        kwargs["remark"] = _text(doc, "remark")
    infos = _report_infos(doc["report_infos"]) if "report_infos" in doc else None
    kwargs["scene"] = TransferScene(
        DEFAULT_SCENE.scene_id if scene_id is None else scene_id,
        DEFAULT_SCENE.report_infos if infos is None else infos,
    )
    return WithdrawalSettings(**kwargs)


def _text(doc: Mapping[str, Any], key: str) -> str:
    if not isinstance(doc[key], str):
        raise InvalidSetting(f"withdrawal.{key} 必须是文字", field=f"withdrawal.{key}")
    return str(doc[key]).strip()


def _report_infos(raw: Any) -> tuple[SceneInfo, ...]:
    where = "withdrawal.report_infos"
    if not isinstance(raw, list) or len(raw) > 5:
        raise InvalidSetting(f"{where} 必须是最多 5 项的列表", field=where)
    infos = []
    for item in raw:
        if not isinstance(item, Mapping) or set(item) != {"info_type", "info_content"}:
            raise InvalidSetting(f"{where} 每项需要 info_type 和 info_content", field=where)
        values = (item["info_type"], item["info_content"])
        if not all(isinstance(v, str) and 0 < len(v.strip()) <= 32 for v in values):
            raise InvalidSetting(f"{where} 每项必须是 1–32 个字", field=where)
        infos.append(SceneInfo(values[0].strip(), values[1].strip()))
    return tuple(infos)


def settings_to_doc(settings: WithdrawalSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "min_fen": settings.min_fen,
        "max_fen": settings.max_fen,
        "daily_cap_fen": settings.daily_cap_fen,
        "transfer_scene_id": settings.scene.scene_id,
        "report_infos": [
            {"info_type": i.info_type, "info_content": i.info_content}
            for i in settings.scene.report_infos
        ],
        "remark": settings.remark,
    }


async def load_withdrawal_settings() -> WithdrawalSettings:
    row = await SettingDoc.get_or_none(name=SETTINGS_DOC)
    return settings_from_doc(row.config if row else None)


# --- the ledger side ----------------------------------------------------------------------------


def _posting(w: Withdrawal, step: str, memo: str) -> Posting:
    """One of the withdrawal's postings: ``hold`` (the member's cash to the withdrawals held),
    ``release`` (back to the member) or ``paid`` (out through WeChat Pay)."""
    member = accounts.member(w.member_id)  # type: ignore[attr-defined]
    debit, credit = {
        "hold": (member, accounts.WITHDRAWALS),
        "release": (accounts.WITHDRAWALS, member),
        "paid": (accounts.WITHDRAWALS, accounts.WECHAT_PAY),
    }[step]
    kind = f"withdrawal_{step}"
    return Posting(f"{kind}:{w.id}", kind, debit, credit, "cash", w.amount_fen, memo=memo[:255])


async def _result_event(
    conn: BaseDBAsyncClient, w: Withdrawal, status: str, reason: str, now: datetime
) -> None:
    payload = {
        "withdrawal_id": w.id,
        "amount_fen": w.amount_fen,
        "status": status,
        "reason": reason,
    }
    await emit(conn, [Event(RESULT_EVENT, w.member_id, payload)], now)  # type: ignore[attr-defined]


async def _audit(
    conn: BaseDBAsyncClient, w: Withdrawal, operator: str, old: str, now: datetime
) -> None:
    await audit.record(
        conn,
        operator=operator,
        section="withdrawal_decision",
        target=f"withdrawal:{w.id}",
        old={"status": old},
        new={"status": w.status.value, "reject_reason": w.reject_reason},
        now=now,
    )


async def _lock(conn: BaseDBAsyncClient, withdrawal_id: int) -> Withdrawal:
    w = await Withdrawal.select_for_update().using_db(conn).get_or_none(id=withdrawal_id)
    if w is None:
        raise NotFound("提现申请不存在", field="withdrawal_id")
    return w


# --- member -------------------------------------------------------------------------------------


async def request_withdrawal(member_id: int, amount_fen: int, *, now: datetime) -> Withdrawal:
    """Ask to withdraw ``amount_fen`` of the member's cash; the amount is held at once.
    Refused, with nothing changed: switched off, under the minimum, over the per-request
    maximum or the daily cap, more than the cash balance."""
    settings = await load_withdrawal_settings()
    if not settings.enabled:
        raise NotAllowed("提现暂未开放")
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise InvalidAmount("amount_fen 必须是整数（单位：分）", field="amount_fen")
    if amount_fen < settings.min_fen:
        raise InvalidAmount(f"最低提现 {settings.min_fen} 分", field="amount_fen")
    if amount_fen > settings.max_fen:
        raise InvalidAmount(f"单笔提现最多 {settings.max_fen} 分", field="amount_fen")
    day = local(now).date().isoformat()
    member = await Member.get_or_none(id=member_id)
    if member is None:
        raise NotFound("会员不存在", field="member_id")
    async with in_transaction() as conn:
        balance = (await balances_of(member_id, conn, lock=True)).cash_fen
        if amount_fen > balance:
            raise NotAllowed(f"可提现余额不足（{balance} 分）", field="amount_fen")
        today = await fetch(
            conn,
            "SELECT COALESCE(SUM(amount_fen), 0) AS s FROM withdrawal"
            " WHERE member_id = $1 AND day = $2 AND status NOT IN ($3, $4)",
            [member_id, day, *(s.value for s in RELEASED)],
        )
        used = int(today[0]["s"])
        if used + amount_fen > settings.daily_cap_fen:
            raise NotAllowed(
                f"超过每日提现上限 {settings.daily_cap_fen} 分（今日已申请 {used} 分）",
                field="amount_fen",
            )
        w = await Withdrawal.create(
            member_id=member_id,
            amount_fen=amount_fen,
            day=day,
            out_bill_no=f"WD{day.replace('-', '')}{secrets.token_hex(8)}",
            openid=member.openid,
            requested_at=now,
            updated_at=now,
            using_db=conn,
        )
        await post(conn, [_posting(w, "hold", f"提现申请 #{w.id}")], now)
    return w


# --- operator -----------------------------------------------------------------------------------


async def reject_withdrawal(
    withdrawal_id: int, *, operator: str, reason: str, now: datetime
) -> Withdrawal:
    """Refuse a requested withdrawal: the held amount goes back to the cash wallet."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise InvalidSetting(f"驳回原因必须是 1–{MAX_REASON_CHARS} 个字", field="reason")
    async with in_transaction() as conn:
        w = await _lock(conn, withdrawal_id)
        if w.status != WithdrawalStatus.REQUESTED:
            raise NotAllowed("只有待审核的提现可以驳回", field="withdrawal_id")
        w.status, w.reject_reason = WithdrawalStatus.REJECTED, reason
        w.decided_by, w.decided_at, w.finished_at, w.updated_at = operator, now, now, now
        await w.save(using_db=conn)
        await post(conn, [_posting(w, "release", f"提现驳回：{reason}")], now)
        await _result_event(conn, w, "failed", reason, now)
        await _audit(conn, w, operator, WithdrawalStatus.REQUESTED.value, now)
    return w


async def approve_withdrawal(
    withdrawal_id: int, *, operator: str, transfers: Transfers, now: datetime
) -> Withdrawal:
    """Approve a requested withdrawal and pay it; on one already being paid, ask WeChat about
    its bill again (same number). Finished ones are refused."""
    async with in_transaction() as conn:
        w = await _lock(conn, withdrawal_id)
        if w.status == WithdrawalStatus.REQUESTED:
            w.status, w.transfer_state = WithdrawalStatus.PAYING, "requested"
            w.decided_by, w.decided_at, w.updated_at = operator, now, now
            await w.save(using_db=conn)
            await _audit(conn, w, operator, WithdrawalStatus.REQUESTED.value, now)
        elif w.status != WithdrawalStatus.PAYING:
            raise NotAllowed("该提现已处理完毕", field="withdrawal_id")
    return await pursue_withdrawal(withdrawal_id, transfers, now=now)


async def pursue_withdrawal(
    withdrawal_id: int, transfers: Transfers, *, now: datetime
) -> Withdrawal:
    """Move a ``paying`` withdrawal on: send its bill if no answer was ever seen, else query it,
    and record what WeChat says. Safe to call again at any time, from any process."""
    w = await Withdrawal.get_or_none(id=withdrawal_id)
    if w is None:
        raise NotFound("提现申请不存在", field="withdrawal_id")
    if w.status != WithdrawalStatus.PAYING:
        return w
    settings = await load_withdrawal_settings()
    bill = await send_or_query(
        transfers,
        out_bill_no=w.out_bill_no,
        openid=w.openid,
        amount_fen=w.amount_fen,
        remark=settings.remark,
        scene=settings.scene,
        send=w.transfer_state in NOT_ANSWERED,
    )
    if bill is None:
        return w
    return await _record_bill(withdrawal_id, bill, now)


async def _record_bill(withdrawal_id: int, bill: TransferBill, now: datetime) -> Withdrawal:
    async with in_transaction() as conn:
        w = await _lock(conn, withdrawal_id)
        if w.status != WithdrawalStatus.PAYING:
            return w  # someone recorded the final answer first
        if bill.amount_fen is not None and bill.amount_fen != w.amount_fen:
            log.error("withdrawal %s: WeChat reports %s fen", w.out_bill_no, bill.amount_fen)
        w.transfer_state = bill.state[:20]
        w.transfer_bill_no = bill.transfer_bill_no or w.transfer_bill_no
        w.package_info = bill.package_info[:1024] or w.package_info
        w.fail_reason = bill.fail_reason[:64]
        w.updated_at = now
        if bill.succeeded:
            w.status, w.finished_at = WithdrawalStatus.SUCCEEDED, now
            await post(conn, [_posting(w, "paid", f"提现到账 {w.out_bill_no}")], now)
            await _result_event(conn, w, "succeeded", "", now)
        elif bill.definitely_failed:
            w.status, w.finished_at = WithdrawalStatus.FAILED, now
            reason = f"微信转账失败：{bill.fail_reason or bill.state}"
            await post(conn, [_posting(w, "release", reason)], now)
            await _result_event(conn, w, "failed", reason, now)
        await w.save(using_db=conn)
    return w


async def pursue_open_withdrawals(
    transfers: Transfers, *, now: datetime, limit: int = 100
) -> dict[str, int]:
    """For a scheduled job: ask WeChat about every withdrawal being paid; counts by outcome."""
    ids = await Withdrawal.filter(status=WithdrawalStatus.PAYING).order_by("id").limit(limit)
    outcome: dict[str, int] = {}
    for w in ids:
        status = (await pursue_withdrawal(w.id, transfers, now=now)).status.value
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


# --- reading ------------------------------------------------------------------------------------


def withdrawal_json(w: Withdrawal, *, for_operator: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": w.id,
        "amount_fen": w.amount_fen,
        "status": w.status.value,
        "out_bill_no": w.out_bill_no,
        "transfer_state": w.transfer_state,
        "package_info": w.package_info if w.transfer_state == "WAIT_USER_CONFIRM" else "",
        "fail_reason": w.fail_reason,
        "reject_reason": w.reject_reason,
        "requested_at": w.requested_at.isoformat(),
        "decided_at": w.decided_at.isoformat() if w.decided_at else None,
        "finished_at": w.finished_at.isoformat() if w.finished_at else None,
    }
    if for_operator:
        data.update(member_id=w.member_id, decided_by=w.decided_by)  # type: ignore[attr-defined]
    return data


async def list_withdrawals(
    *,
    member_id: int | None,
    status: str | None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Withdrawal]:
    """Withdrawals newest first (one member's, or everyone's for operators)."""
    query = Withdrawal.all()
    if member_id is not None:
        query = query.filter(member_id=member_id)
    if status is not None:
        query = query.filter(status=status)
    return await page_by_id(query, cursor=cursor, limit=limit)


async def my_withdrawal(member_id: int, withdrawal_id: int) -> Withdrawal:
    w = await Withdrawal.get_or_none(id=withdrawal_id, member_id=member_id)
    if w is None:
        raise NotFound("提现申请不存在", field="withdrawal_id")
    return w
