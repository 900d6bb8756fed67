"""Merchants (SPEC §8): invite QR scenes, applications, approval or rejection, the commission
guardrail, and a merchant's view of its own store.

Invite: ``create_invite`` makes an opaque token; the mini-program code's scene is
``m:<token>`` (18 characters, inside WeChat's 32). An opaque token, not the inviter's id, so
nobody can name an inviter of their choosing.

Guardrail: a store's commission (``commission_bp``) is all the platform earns on its orders,
and it must fund everything those orders pay out: the queue extraction (the highest of the
store's, its cashier's and its products' own ratios, else the base ratio), 直推 + 间推, the
highest team rate (级差 differences add up to at most that), 招商 and the dividend pool's share
of turnover. A store where that sum exceeds its commission is refused (``InvalidSetting``
naming the field) unless the operator explicitly acknowledges it; each acknowledgement is a
``GuardrailAck`` row (who, when, what for, the numbers) and an operator alert
(``services.alerts.alert_operators``, in the same transaction). The sum and the comparison are
the engine's (``rebate.store_commission.guardrail``); this module gathers the numbers.

Isolation: every function here that takes a merchant's ``store_id`` reads only that store's
rows (orders, queue entries, credits, statements); a statement id of another store is "not
found", never shown.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import (
    ApplicationStatus,
    Cashier,
    Entry,
    EntryStatus,
    GuardrailAck,
    Member,
    Merchant,
    MerchantApplication,
    MerchantInvite,
    Order,
    Product,
    Queue,
    Statement,
    Store,
    StoreCredit,
)
from rebate.distribution_settings import DistributionSettings
from rebate.errors import InvalidSetting, NotAllowed
from rebate.money import BP_ONE
from rebate.store_commission import GuardrailNumbers, guardrail, raised
from runtime.sql import fetch, marks
from services import audit
from services.alerts import alert_operators
from services.catalog.products import new_store
from services.distribution.settings import load_distribution, store_distribution, to_doc
from services.errors import Conflict, NotFound
from services.outbox import Event, emit
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.settings.base import cashier_target, load_base, product_target, store_target
from services.settings.cache import DISTRIBUTION, changing

SCENE_PREFIX = "m:"
TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
TOKEN_CHARS = 16
MAX_SCENE_CHARS = 32  # WeChat's limit for getwxacodeunlimit
PHONE = re.compile(r"^1[3-9]\d{9}$")
# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet (no I, O, S, V, Z), the
# last a check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


# --- invites ------------------------------------------------------------------------------------


async def create_invite(
    *, now: datetime, inviter_id: int | None = None, operator: str | None = None
) -> str:
    """A merchant-invite scene for a mini-program code: from a promoter (who then earns 招商
    on the store) or from an operator (no inviter). Returns the scene ``m:<token>``."""
    return SCENE_PREFIX + (await _new_invite(now, inviter_id, operator)).token


async def _new_invite(
    now: datetime,
    inviter_id: int | None,
    operator: str | None,
    conn: BaseDBAsyncClient | None = None,
) -> MerchantInvite:
    if (inviter_id is None) == (operator is None):
        raise NotAllowed("邀请人必须是一个会员或一个运营人员", field="inviter_id")
    if inviter_id is not None and not await Member.exists(id=inviter_id):
        raise NotFound("会员不存在", field="inviter_id")
    token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_CHARS))
    assert len(SCENE_PREFIX + token) <= MAX_SCENE_CHARS
    return await MerchantInvite.create(
        token=token,
        inviter_id=inviter_id,
        created_by=f"member:{inviter_id}" if inviter_id is not None else f"operator:{operator}",
        created_at=now,
        using_db=conn,
    )


def invite_json(invite: MerchantInvite, applications: int = 0) -> dict[str, Any]:
    """An invite as an operator reads it: ``code`` is what a merchant types (or the QR's
    scene carries) when applying."""
    return {
        "id": invite.id,
        "code": SCENE_PREFIX + invite.token,
        "inviter_id": invite.inviter_id,  # type: ignore[attr-defined]
        "created_by": invite.created_by,
        "created_at": invite.created_at.isoformat(),
        "applications": applications,
    }


async def new_operator_invite(*, operator: str, now: datetime) -> dict[str, Any]:
    """A new invite of the operator's own (no inviter, no 招商), in the operation log."""
    _check_operator(operator)
    async with in_transaction() as conn:
        invite = await _new_invite(now, None, operator, conn)
        await audit.record(
            conn, operator=operator, section="merchant_invite", target=f"invite:{invite.id}",
            new=invite_json(invite), now=now,
        )  # fmt: skip
    return invite_json(invite)


async def list_invites(
    *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """Every invite, newest first, with its code and how many applications came through it.
    An invite never expires: each stays open for any number of merchants."""
    page = await page_by_id(MerchantInvite.all(), cursor=cursor, limit=limit)
    ids = [i.id for i in page.items]
    counts: dict[int, int] = {}
    if ids:
        for row in await fetch(
            connections.get("default"),
            "SELECT invite_id, COUNT(*) AS n FROM merchant_application"
            f" WHERE invite_id IN ({marks(1, len(ids))}) GROUP BY invite_id",
            ids,
        ):
            counts[int(row["invite_id"])] = int(row["n"])
    return page.map(lambda i: invite_json(i, counts.get(i.id, 0)))


async def invite_of_scene(scene: str) -> MerchantInvite:
    if not isinstance(scene, str) or not scene.startswith(SCENE_PREFIX):
        raise NotFound("商家邀请码无效", field="scene")
    invite = await MerchantInvite.get_or_none(token=scene[len(SCENE_PREFIX) :])
    if invite is None:
        raise NotFound("商家邀请码无效", field="scene")
    return invite


# --- applications -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationForm:
    """商家入驻申请表."""

    name: str  # 商家名称
    contact: str  # 联系人
    phone: str  # 手机号
    licence_no: str  # 统一社会信用代码
    address: str  # 地址
    category: str  # 经营类目


def uscc_valid(code: str) -> bool:
    """A unified social credit code: format and GB 32100 check character."""
    if not USCC.match(code):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code, USCC_WEIGHTS, strict=False))
    return USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def _text(value: Any, field: str, label: str, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        raise NotAllowed(f"{label}必须是 {low}–{high} 个字", field=field)
    return value.strip()


def checked_form(form: ApplicationForm) -> ApplicationForm:
    """The form, trimmed, or a refusal naming the first bad field."""
    phone = _text(form.phone, "phone", "手机号", 11, 11)
    if not PHONE.match(phone):
        raise NotAllowed("手机号格式不正确（11 位中国大陆手机号）", field="phone")
    licence = _text(form.licence_no, "licence_no", "统一社会信用代码", 18, 18).upper()
    if not uscc_valid(licence):
        raise NotAllowed("统一社会信用代码格式不正确（18 位，含校验位）", field="licence_no")
    return ApplicationForm(
        name=_text(form.name, "name", "商家名称", 2, 64),
        contact=_text(form.contact, "contact", "联系人", 2, 32),
        phone=phone,
        licence_no=licence,
        address=_text(form.address, "address", "地址", 5, 128),
        category=_text(form.category, "category", "经营类目", 1, 32),
    )


async def apply_for_merchant(
    applicant_id: int, form: ApplicationForm, *, now: datetime, scene: str | None = None
) -> MerchantApplication:
    """File an application (from an invite's scene, or without one). One pending application
    per member; a promoter cannot invite themselves."""
    form = checked_form(form)
    invite = await invite_of_scene(scene) if scene else None
    if invite is not None and invite.inviter_id == applicant_id:
        raise NotAllowed("不能通过自己的邀请码入驻", field="scene")
    async with in_transaction() as conn:
        # the member's row lock makes "one pending application" hold under concurrent filings
        if await Member.select_for_update().using_db(conn).get_or_none(id=applicant_id) is None:
            raise NotFound("会员不存在", field="applicant_id")
        if (
            await MerchantApplication.filter(
                applicant_id=applicant_id, status=ApplicationStatus.PENDING
            )
            .using_db(conn)
            .exists()
        ):
            raise Conflict("已有待审核的入驻申请", field="applicant_id")
        application = await MerchantApplication.create(
            applicant_id=applicant_id,
            invite_id=invite.id if invite else None,
            inviter_id=invite.inviter_id if invite else None,
            created_at=now,
            using_db=conn,
            **asdict(form),
        )
        await alert_operators(
            f"新的商家入驻申请 #{application.id}：{form.name}（{form.category}）",
            conn=conn,
            now=now,
        )
    return application


async def applications_of(
    applicant_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[MerchantApplication]:
    """The member's own applications, newest first."""
    query = MerchantApplication.filter(applicant_id=applicant_id)
    return await page_by_id(query, cursor=cursor, limit=limit)


async def applications_for_review(
    status: ApplicationStatus | None, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[MerchantApplication]:
    """Applications of one status (None: all) for operators: pending ones oldest first — they
    are decided in the order they were filed — the others newest first."""
    query = (
        MerchantApplication.all() if status is None else MerchantApplication.filter(status=status)
    )
    newest_first = status != ApplicationStatus.PENDING
    return await page_by_id(query, cursor=cursor, limit=limit, newest_first=newest_first)


async def approve_application(
    application_id: int,
    *,
    commission_bp: int,
    operator: str,
    now: datetime,
    acknowledge: bool = False,
) -> Store:
    """Approve: create the store and its cashier with ``commission_bp``, record the merchant
    (owner: the applicant; inviter: from the invite), and tell the applicant. Refused by the
    guardrail unless acknowledged."""
    _check_commission(commission_bp)
    _check_operator(operator)
    numbers = await guardrail_numbers(None, commission_bp)
    over = _judged(None, numbers, acknowledge)
    async with in_transaction() as conn:
        app = await _pending(conn, application_id)
        store = await new_store(app.name, commission_bp=commission_bp)
        await Merchant.create(
            store_id=store.id,
            owner_id=app.applicant_id,
            inviter_id=app.inviter_id,
            application_id=app.id,
            created_at=now,
            using_db=conn,
        )
        app.status, app.commission_bp, app.store_id = (
            ApplicationStatus.APPROVED,
            commission_bp,
            store.id,
        )
        app.decided_by, app.decided_at = operator, now
        await app.save(using_db=conn)
        decided = {
            "application_id": app.id,
            "approved": True,
            "store_id": store.id,
            "commission_bp": commission_bp,
        }
        await emit(conn, [Event("merchant_application_decided", app.applicant_id, decided)], now)  # type: ignore[attr-defined]
        await _decided(conn, app, decided, operator, now)
        if over:
            await _audit(conn, store.id, numbers, operator, "approve", now)
    return store


async def reject_application(
    application_id: int, *, reason: str, operator: str, now: datetime
) -> MerchantApplication:
    reason = _text(reason, "reason", "拒绝理由", 2, 200)
    _check_operator(operator)
    async with in_transaction() as conn:
        app = await _pending(conn, application_id)
        app.status, app.reject_reason = ApplicationStatus.REJECTED, reason
        app.decided_by, app.decided_at = operator, now
        await app.save(using_db=conn)
        decided = {"application_id": app.id, "approved": False, "reason": reason}
        await emit(conn, [Event("merchant_application_decided", app.applicant_id, decided)], now)  # type: ignore[attr-defined]
        await _decided(conn, app, decided, operator, now)
    return app


async def _decided(
    conn: BaseDBAsyncClient,
    app: MerchantApplication,
    decided: dict[str, Any],
    operator: str,
    now: datetime,
) -> None:
    """An approval or rejection in the operation log."""
    await audit.record(
        conn, operator=operator, section="merchant_application", target=f"application:{app.id}",
        old={"status": ApplicationStatus.PENDING.value}, new={"status": app.status.value, **decided},
        now=now,
    )  # fmt: skip


async def _pending(conn: BaseDBAsyncClient, application_id: int) -> MerchantApplication:
    app = (
        await MerchantApplication.select_for_update().using_db(conn).get_or_none(id=application_id)
    )
    if app is None:
        raise NotFound("入驻申请不存在")
    if app.status != ApplicationStatus.PENDING:
        raise NotAllowed("该申请已处理")
    return app


def _check_commission(commission_bp: Any) -> None:
    if (
        not isinstance(commission_bp, int)
        or isinstance(commission_bp, bool)
        or not 0 <= commission_bp <= BP_ONE
    ):
        raise InvalidSetting(
            f"佣金比例必须是 0–{BP_ONE} 之间的整数（万分比）", field="commission_bp"
        )


def _check_operator(operator: Any) -> None:
    if not isinstance(operator, str) or not 0 < len(operator.strip()) <= 64:
        raise NotAllowed("必须注明操作人", field="operator")


# --- guardrail ----------------------------------------------------------------------------------


async def guardrail_numbers(
    store_id: int | None,
    commission_bp: int | None = None,
    *,
    settings: DistributionSettings | None = None,
    extract_bp: int | None = None,
) -> GuardrailNumbers:
    """The guardrail's numbers for a store (``None``: a store about to be created, with no
    settings of its own). ``commission_bp`` / ``extract_bp`` / ``settings``: proposed values
    instead of the stored ones."""
    settings = settings or await load_distribution()
    base = await load_base()
    extraction = [base.extract_bp]
    if store_id is not None:
        store = await Store.get_or_none(id=store_id)
        if store is None:
            raise NotFound("门店不存在", field="store_id")
        if commission_bp is None:
            commission_bp = store.commission_bp
        extraction = [_first(store_target(store).extract_bp, base.extract_bp)]
        cashier = await Cashier.get_or_none(store_id=store_id)
        if cashier is not None:
            extraction.append(_first(cashier_target(cashier).extract_bp, base.extract_bp))
        for product in await Product.filter(store_id=store_id):
            own = product_target(product).extract_bp
            if own is not None:
                extraction.append(own)
    if extract_bp is not None:
        extraction = [extract_bp]
    assert commission_bp is not None
    return guardrail(store_id, commission_bp, extraction, settings)


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _judged(
    old: GuardrailNumbers | None,
    new: GuardrailNumbers,
    acknowledge: bool,
    field: str = "commission_bp",
) -> bool:
    """Judge a change of a store's numbers (``old``: before it; None for a new store): True
    when it leaves the store paying out more than its commission *and* raised what it pays
    (or lowered its commission) — then it stands only when acknowledged. A store already over
    its commission does not block a change that makes it no worse."""
    if not new.exceeded or (old is not None and raised(old, new) is None):
        return False
    _guard(new, acknowledge, field)
    return True


def _guard(numbers: GuardrailNumbers, acknowledge: bool, field: str = "commission_bp") -> None:
    if numbers.exceeded and acknowledge is not True:
        who = f"门店 {numbers.store_id}" if numbers.store_id is not None else "该门店"
        raise InvalidSetting(
            f"{who}的提取比例与分销奖励合计 {numbers.payout_bp / 100:.2f}% 超过佣金比例"
            f" {numbers.commission_bp / 100:.2f}%：平台将支出多于收入。确认无误请明确勾选确认。",
            field=field,
        )


async def _audit(
    conn: BaseDBAsyncClient,
    store_id: int,
    numbers: GuardrailNumbers,
    operator: str,
    context: str,
    now: datetime,
) -> None:
    """Record an acknowledged excess — a ``GuardrailAck`` row and a line of the operation log
    — and alert the operators, in the caller's transaction."""
    await audit.record(
        conn, operator=operator, section="guardrail_ack", target=f"store:{store_id}",
        new={**numbers.as_doc(), "store_id": store_id, "context": context}, now=now,
    )  # fmt: skip
    await GuardrailAck.create(
        store_id=store_id,
        operator=operator,
        context=context,
        commission_bp=numbers.commission_bp,
        payout_bp=numbers.payout_bp,
        numbers={**numbers.as_doc(), "store_id": store_id},
        acknowledged_at=now,
        using_db=conn,
    )
    await alert_operators(
        f"{operator} 确认门店 {store_id} 支出 {numbers.payout_bp / 100:.2f}% 超过佣金"
        f" {numbers.commission_bp / 100:.2f}%（{context}）",
        conn=conn,
        now=now,
    )


async def set_store_commission(
    store_id: int, commission_bp: int, *, operator: str, now: datetime, acknowledge: bool = False
) -> GuardrailNumbers:
    """Change a store's commission rate, under the guardrail (a lower commission that leaves
    the store over it needs an acknowledgement); in the operation log."""
    _check_commission(commission_bp)
    _check_operator(operator)
    old = await guardrail_numbers(store_id)
    numbers = await guardrail_numbers(store_id, commission_bp)
    if commission_bp == old.commission_bp:
        return numbers  # nothing changes: nothing to judge or record
    over = _judged(old, numbers, acknowledge)
    async with in_transaction() as conn:
        await Store.filter(id=store_id).using_db(conn).update(commission_bp=commission_bp)
        await audit.record(
            conn, operator=operator, section="commission", target=f"store:{store_id}",
            old={"commission_bp": old.commission_bp}, new={"commission_bp": commission_bp},
            now=now,
        )  # fmt: skip
        if over:
            await _audit(conn, store_id, numbers, operator, "commission", now)
    return numbers


async def check_store_extraction(
    store_id: int,
    extract_bp: int,
    *,
    operator: str,
    acknowledge: bool = False,
    old_extract_bp: int | None = None,
) -> GuardrailNumbers | None:
    """For the admin API, before it saves a store's (or its cashier's or products') own
    extraction ratio ``extract_bp`` in place of ``old_extract_bp`` (None: judge the new ratio
    alone): refuse a raise that leaves the store over its commission unless acknowledged.
    Returns the numbers to record with ``record_acknowledgement`` in the saving transaction
    (None: nothing to acknowledge). Saving is the caller's."""
    _check_operator(operator)
    numbers = await guardrail_numbers(store_id, extract_bp=extract_bp)
    old = None
    if old_extract_bp is not None:
        old = await guardrail_numbers(store_id, extract_bp=old_extract_bp)
    return numbers if _judged(old, numbers, acknowledge, field="extract_bp") else None


async def record_acknowledgement(
    conn: BaseDBAsyncClient, numbers: GuardrailNumbers, *, operator: str, now: datetime
) -> None:
    """An acknowledged extraction over a store's commission, in the transaction that saves it."""
    assert numbers.store_id is not None
    await _audit(conn, numbers.store_id, numbers, operator, "extraction", now)


# distribution numbers → the setting that sets them
DISTRIBUTION_FIELD = {"team_bp": "levels"}


async def save_distribution_settings(
    settings: DistributionSettings, *, operator: str, now: datetime, acknowledge: bool = False
) -> list[GuardrailNumbers]:
    """Save the distribution settings, in the operation log (nothing when they are the ones in
    force). Only a change that raises what stores' orders pay out is judged: each store it
    leaves over its commission is refused (the first one named, with the raised field) unless
    acknowledged; returns them."""
    _check_operator(operator)
    current = await load_distribution()
    if to_doc(settings) == to_doc(current):
        return []
    field = raised(guardrail(None, 0, [0], current), guardrail(None, 0, [0], settings))
    over = []
    if field is not None:
        for store_id in await Store.all().order_by("id").values_list("id", flat=True):
            numbers = await guardrail_numbers(int(store_id), settings=settings)
            if numbers.exceeded:
                over.append(numbers)
    if over:
        assert field is not None
        _guard(over[0], acknowledge, DISTRIBUTION_FIELD.get(field, field))
    async with changing(DISTRIBUTION) as conn:
        await store_distribution(conn, settings, operator)
        await audit.record(
            conn, operator=operator, section="distribution", old=to_doc(current),
            new=to_doc(settings), now=now,
        )  # fmt: skip
        for numbers in over:
            assert numbers.store_id is not None
            await _audit(conn, numbers.store_id, numbers, operator, "distribution", now)
    return over


# --- a merchant's own store ---------------------------------------------------------------------


async def stores_of_member(member_id: int) -> list[int]:
    """The stores this member owns (what the merchant API lets them see)."""
    return [
        int(s)
        for s in await Merchant.filter(owner_id=member_id)
        .order_by("store_id")
        .values_list("store_id", flat=True)
    ]


async def my_stores(
    member_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[Store]:
    """The stores this member owns, oldest first: the merchant's first store leads, in the order
    they were opened."""
    query = Store.filter(id__in=await stores_of_member(member_id))
    return await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)


async def store_orders(
    store_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """The store's orders (online goods and cashier), newest first."""
    page = await page_by_id(Order.filter(store_id=store_id), cursor=cursor, limit=limit)
    return page.map(
        lambda o: {
            "id": o.id,
            "source": o.source.value,
            "status": o.status.value,
            "paid_fen": o.paid_fen,
            "deduction_fen": o.deduction_fen,
            "paid_at": o.paid_at,
            "completed_at": o.completed_at,
        }
    )


async def store_turnover(store_id: int, *, since: datetime, until: datetime) -> dict[str, int]:
    """The store's orders paid in [since, until): how many, the cash still paid on them (lines
    not refunded), and what the store was credited for its settled ones."""
    conn = connections.get("default")
    orders = await fetch(
        conn,
        "SELECT COUNT(DISTINCT o.id) AS n, COALESCE(SUM(CASE WHEN l.status <> 'refunded'"
        " THEN l.paid_fen ELSE 0 END), 0) AS s FROM orders o JOIN order_line l"
        " ON l.order_id = o.id WHERE o.store_id = $1 AND o.paid_at >= $2 AND o.paid_at < $3",
        [store_id, since, until],
    )
    credits = await fetch(
        conn,
        "SELECT COALESCE(SUM(c.amount_fen), 0) AS s FROM store_credit c JOIN orders o"
        " ON o.id = c.order_id WHERE c.store_id = $1 AND o.paid_at >= $2 AND o.paid_at < $3",
        [store_id, since, until],
    )
    return {
        "orders": int(orders[0]["n"]),
        "paid_fen": int(orders[0]["s"]),
        "credited_fen": int(credits[0]["s"]),
    }


async def store_queue(
    store_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> tuple[dict[str, int], Page[dict[str, Any]]]:
    """The store's waiting entries (store goods and cashier) — only its own, even in a queue
    shared by every store — oldest first, the order they joined; and, beside the page, how many
    wait and what they are still owed."""
    targets = [f"store:{store_id}", f"cashier:{store_id}"]
    count = await fetch(
        connections.get("default"),
        "SELECT COUNT(*) AS n, COALESCE(SUM(entitlement_fen - paid_fen), 0) AS owed FROM entry"
        " WHERE target IN ($1, $2) AND status = 'waiting'",
        targets,
    )
    query = Entry.filter(target__in=targets, status=EntryStatus.WAITING)
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    queue_ids = {e.queue_id for e in page.items}  # type: ignore[attr-defined]
    keys = dict(await Queue.filter(id__in=queue_ids).values_list("id", "key"))
    totals = {"waiting": int(count[0]["n"]), "outstanding_fen": int(count[0]["owed"])}
    return totals, page.map(
        lambda e: {
            "id": e.id,
            "queue": keys[e.queue_id],  # type: ignore[attr-defined]
            "seq": e.seq,
            "entitlement_fen": e.entitlement_fen,
            "paid_fen": e.paid_fen,
            "order_id": e.order_id,  # type: ignore[attr-defined]
        }
    )


def statement_json(statement: Statement) -> dict[str, Any]:
    return {
        "id": statement.id,
        "period": statement.period,
        "total_fen": statement.total_fen,
        "credit_count": statement.credit_count,
        "status": statement.status.value,
        "created_at": statement.created_at,
        "paid_at": statement.paid_at,
    }


async def store_statements(
    store_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """The store's statements, newest first."""
    query = Statement.filter(store_id=store_id)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(statement_json)


async def statement_lines(
    store_id: int, statement_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """A statement's lines (its credits) — only if it is this store's statement — in the order
    they were credited, as a bill reads."""
    if not await Statement.exists(id=statement_id, store_id=store_id):
        raise NotFound("结算单不存在")
    query = StoreCredit.filter(statement_id=statement_id, store_id=store_id)
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    return page.map(
        lambda c: {
            "id": c.id,
            "kind": c.kind.value,
            "order_id": c.order_id,  # type: ignore[attr-defined]
            "line_id": c.line_id,  # type: ignore[attr-defined]
            "paid_fen": c.paid_fen,
            "commission_bp": c.commission_bp,
            "commission_fen": c.commission_fen,
            "amount_fen": c.amount_fen,
        }
    )


async def invite_scene(
    *, now: datetime, inviter_id: int | None = None, operator: str | None = None
) -> str:
    """The inviter's first invite (made now if there is none): one stable QR per inviter."""
    made_by = f"member:{inviter_id}" if inviter_id is not None else f"operator:{operator}"
    invite = await MerchantInvite.filter(created_by=made_by).order_by("id").first()
    if invite is not None:
        return SCENE_PREFIX + invite.token
    return await create_invite(now=now, inviter_id=inviter_id, operator=operator)
