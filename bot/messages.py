"""Outbox events as Chinese messages (SPEC §9), with the configured custom names. Pure: plain
values in, plain values out; no database, no clock, no WeChat.

Each member-facing message has a full ``text`` (customer-service messages, the bot's replies)
and named ``fields`` for template messages. Every kind offers ``name`` (the custom name),
``title``, ``detail`` (one short line) and ``time``; the kinds add their own:

| kind | payload (written by) | extra fields |
|---|---|---|
| entry_joined | entry_id, queue, position (entries ahead), entitlement_fen, lottery | queue, position (第N位), rank (N), entitlement |
| lottery_available | entry_id, lottery | — |
| lottery_drawn | entry_id, ratio_bp, entitlement_fen, old_ratio_bp, old_entitlement_fen, status | ratio, entitlement |
| payout_received | entry_id, amount_fen, paid_fen, entitlement_fen, progress_bp | amount, paid, entitlement, progress |
| entry_completed | entry_id, entitlement_fen | entitlement |
| entry_converted | entry_id, points | points |
| entry_refunded | entry_id | — |
| entry_cleared | entry_id, forfeited_fen | forfeited |
| entry_exchanged | entry_id, asset (points, love_available, love_frozen), amount | amount, asset |
| commission_earned | order_id, kind (direct, indirect, team, merchant), amount_fen (frozen) | amount, source |
| commission_released (or commission_received) | commission_id, order_id, kind, amount_fen | amount, source |
| dividend_received | period, amount_fen, run_id | amount, period |
| withdrawal_result | withdrawal_id, amount_fen, status (succeeded, failed), reason | amount, result, reason |
| merchant_application_decided | application_id, name, approved, reason | merchant, result, reason |
| statement_closed | statement_id, store_id, total_fen | amount |
| statement_paid | statement_id, total_fen | amount |
| statement_confirm_needed | statement_id, out_bill_no | — |
| member_level_changed | from_level, to_level, from_name, name, source (auto, operator), reason | level, reason |
| points_received | transfer_id, points, from_code, from_nickname | points, sender |
| love_released | amount, love_available | amount |
| pool_entry_joined | entry_id (排队号), order_id, quota_fen | number, quota |
| pool_not_queued | order_id, ceiling_days, wait_days (None: no end in sight) | days |
| pool_paid | entry_id, day, amount_fen, paid_fen, quota_fen, full | number, amount, paid, quota |
| pool_accelerated | entry_id, amount_fen, paid_fen, quota_fen, full | number, amount, paid, quota |
| pool_entry_refunded | entry_id | number |
| pool_wait_changed | entry_id, wait_days, was_days (projected daily closes until paid in full) | number, days |

Operators (the WeCom group bot) hear about: ``operator_alert`` {text} (``services.alerts``),
``merchant_application_submitted`` {application_id, name, contact}, and failed withdrawals.
A payload field that is missing is left out of the text rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.bot_settings import Names, Template
from services.clock import LOCAL_TZ

# Template keywords → message fields, when a template's own ``fields`` is empty.
DEFAULT_TEMPLATE_FIELDS: Mapping[str, str] = {
    "thing1": "title",
    "thing2": "detail",
    "time3": "time",
}

# WeChat's length limits per keyword type (subscribe messages); longer values are refused (47003).
_LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32, "number": 32}

ASSET_LABELS = {"points": "积分", "love_available": "爱心值", "love_frozen": "爱心值（冻结）"}
COMMISSION_LABELS = {
    "direct": "直推奖励",
    "indirect": "间推奖励",
    "team": "团队奖励",
    "merchant": "招商奖励",
}


@dataclass(frozen=True)
class Message:
    """What to tell one member about one event."""

    kind: str
    title: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    member: Message | None = None  # to the event's member
    operators: str | None = None  # to the operators' group


# --- formatting ---------------------------------------------------------------------------


def yuan(fen: int) -> str:
    """218.40 for 21840 fen: integer arithmetic, two decimals."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def percent(bp: int) -> str:
    """50% for 5000 bp, 33.33% for 3333 bp: no trailing zeros."""
    whole, rest = divmod(int(bp), 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def queue_label(key: str) -> str:
    """A queue key (SPEC §3) in words: mall → 商城队列, store:3 → 门店#3队列."""
    unified = {"mall": "商城队列", "stores": "门店队列", "cashiers": "收银台队列"}
    if key in unified:
        return unified[key]
    scope, _, ident = key.partition(":")
    scoped = {"product": "商品", "store": "门店", "cashier": "收银台"}
    return f"{scoped[scope]}#{ident}队列" if scope in scoped and ident else key


def local_time(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日 %H:%M")


def _fen(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


# --- events → messages ----------------------------------------------------------------------


def render(kind: str, payload: Mapping[str, Any], *, names: Names, at: datetime) -> Rendered:
    """The messages one outbox event produces (none for a kind nobody is told about)."""
    if kind == "operator_alert":
        return Rendered(operators=str(payload.get("text", "")) or None)
    if kind == "merchant_application_submitted":
        contact = f"（联系人：{payload['contact']}）" if payload.get("contact") else ""
        return Rendered(
            operators=f"新的商家入驻申请：{payload.get('name', '')}{contact}，请到后台审核。"
        )
    builder = _BUILDERS.get(kind)
    if builder is None:
        return Rendered()
    title, text, extra = builder(payload, names)
    detail = extra.pop("detail", title)
    fields = {
        "name": names.plugin,
        "title": title,
        "detail": detail,
        "time": local_time(at),
        **extra,
    }
    operators = None
    if kind == "withdrawal_result" and not _succeeded(payload):
        amount = _fen(payload, "amount_fen")
        operators = (
            f"提现失败：提现单 {payload.get('withdrawal_id', '?')}，"
            f"金额 {yuan(amount) if amount is not None else '?'} 元，"
            f"原因：{payload.get('reason') or '未知'}。"
        )
    return Rendered(member=Message(kind, title, text, fields), operators=operators)


_Built = tuple[str, str, dict[str, str]]


def place(ahead: int) -> str:
    """The place in line of an entry with ``ahead`` waiting entries before it: 第3位."""
    return f"第{ahead + 1}位"


def _joined(p: Mapping[str, Any], n: Names) -> _Built:
    queue = queue_label(str(p.get("queue", "")))
    ent = _fen(p, "entitlement_fen") or 0
    ahead = p.get("position")  # waiting entries ahead of it when it joined
    where = f"，当前排{place(int(ahead))}" if isinstance(ahead, int) else ""
    text = f"【{n.plugin}】您已加入{queue}{where}，待返权益{yuan(ent)}元。"
    extra = {
        "queue": queue,
        "position": place(int(ahead)) if isinstance(ahead, int) else "",
        "rank": str(int(ahead) + 1) if isinstance(ahead, int) else "",  # for number keywords
        "entitlement": f"{yuan(ent)}元",
        "detail": f"{queue}{place(int(ahead))}" if isinstance(ahead, int) else queue,
    }
    return "加入排队", text, extra


def _lottery_available(p: Mapping[str, Any], n: Names) -> _Built:
    text = (
        f"【{n.plugin}】您的排队权益可以抽奖，抽中的比例将替换原奖励比例。"
        "回复「抽奖」或打开小程序参与。"
    )
    return "可以抽奖", text, {"detail": "回复抽奖即可参与"}


def _lottery_drawn(p: Mapping[str, Any], n: Names) -> _Built:
    ratio = percent(int(p.get("ratio_bp", 0)))
    ent = _fen(p, "entitlement_fen") or 0
    text = f"【{n.plugin}】抽奖结果：奖励比例{ratio}，待返权益{yuan(ent)}元。"
    extra = {"ratio": ratio, "entitlement": f"{yuan(ent)}元", "detail": f"抽中{ratio}"}
    return "抽奖结果", text, extra


def _payout(p: Mapping[str, Any], n: Names) -> _Built:
    amount = _fen(p, "amount_fen") or 0
    paid = _fen(p, "paid_fen") or 0
    ent = _fen(p, "entitlement_fen") or 0
    progress = percent(int(p.get("progress_bp", 0)))
    text = f"【{n.plugin}】返现到账{yuan(amount)}元，已返{yuan(paid)}/{yuan(ent)}元（{progress}）。"
    extra = {
        "amount": f"{yuan(amount)}元",
        "paid": f"{yuan(paid)}元",
        "entitlement": f"{yuan(ent)}元",
        "progress": progress,
        "detail": f"到账{yuan(amount)}元，进度{progress}",
    }
    return "返现到账", text, extra


def _completed(p: Mapping[str, Any], n: Names) -> _Built:
    ent = _fen(p, "entitlement_fen") or 0
    text = f"【{n.plugin}】您的排队权益已全部返还，共{yuan(ent)}元。"
    return "权益已返完", text, {"entitlement": f"{yuan(ent)}元", "detail": f"共{yuan(ent)}元"}


def _converted(p: Mapping[str, Any], n: Names) -> _Built:
    points = int(p.get("points", 0))
    text = f"【{n.plugin}】您的排队权益已按随机返转为{points}积分。"
    return "已转为积分", text, {"points": str(points), "detail": f"获得{points}积分"}


def _refunded(p: Mapping[str, Any], n: Names) -> _Built:
    text = f"【{n.plugin}】订单已退款，对应的排队权益已失效。"
    return "权益已失效", text, {"detail": "订单退款"}


def _cleared(p: Mapping[str, Any], n: Names) -> _Built:
    forfeited = _fen(p, "forfeited_fen")
    lost = f"，未返的{yuan(forfeited)}元不再返还" if forfeited else ""
    text = f"【{n.plugin}】按平台规则，您的排队权益已清零{lost}。"
    extra = {"forfeited": f"{yuan(forfeited or 0)}元", "detail": "按平台规则清零"}
    return "权益已清零", text, extra


def _exchanged(p: Mapping[str, Any], n: Names) -> _Built:
    asset = ASSET_LABELS.get(str(p.get("asset", "")), "积分")
    amount = int(p.get("amount", 0))
    text = f"【{n.plugin}】您已将排队权益{n.exchange}为{amount}{asset}。"
    extra = {"amount": str(amount), "asset": asset, "detail": f"获得{amount}{asset}"}
    return f"{n.exchange}成功", text, extra


def _source(p: Mapping[str, Any]) -> str:
    return COMMISSION_LABELS.get(str(p.get("source") or p.get("kind") or ""), "佣金")


def _commission_earned(p: Mapping[str, Any], n: Names) -> _Built:
    amount = _fen(p, "amount_fen") or 0
    source = _source(p)
    text = f"您获得一笔{source}{yuan(amount)}元，冻结期满后存入钱包。"
    extra = {"amount": f"{yuan(amount)}元", "source": source, "detail": f"{source}{yuan(amount)}元"}
    return "佣金待到账", text, extra


def _commission(p: Mapping[str, Any], n: Names) -> _Built:
    amount = _fen(p, "amount_fen") or 0
    source = _source(p)
    text = f"您的{source}{yuan(amount)}元已存入钱包。"
    extra = {"amount": f"{yuan(amount)}元", "source": source, "detail": f"{source}{yuan(amount)}元"}
    return "佣金到账", text, extra


def _dividend(p: Mapping[str, Any], n: Names) -> _Built:
    amount = _fen(p, "amount_fen") or 0
    period = str(p.get("period") or "")
    which = f"（{period}）" if period else ""
    text = f"您获得股东分红{yuan(amount)}元{which}，已存入钱包。"
    extra = {
        "amount": f"{yuan(amount)}元",
        "period": period or "-",
        "detail": f"分红{yuan(amount)}元",
    }
    return "分红到账", text, extra


def _statement_closed(p: Mapping[str, Any], n: Names) -> _Built:
    total = _fen(p, "total_fen") or 0
    text = f"门店结算单已生成：本期应结{yuan(total)}元，将按结算周期打款。"
    return "结算单已生成", text, {"amount": f"{yuan(total)}元", "detail": f"应结{yuan(total)}元"}


def _statement_paid(p: Mapping[str, Any], n: Names) -> _Built:
    total = _fen(p, "total_fen") or 0
    text = f"门店结算款{yuan(total)}元已打款，请查收。"
    return "结算已打款", text, {"amount": f"{yuan(total)}元", "detail": f"已打款{yuan(total)}元"}


def _statement_confirm(p: Mapping[str, Any], n: Names) -> _Built:
    text = "门店结算款已发起转账，请打开小程序确认收款。"
    return "请确认收款", text, {"detail": "请在小程序确认收款"}


def _succeeded(p: Mapping[str, Any]) -> bool:
    return str(p.get("status", "")).lower() in {"succeeded", "success"}


def _withdrawal(p: Mapping[str, Any], n: Names) -> _Built:
    amount = _fen(p, "amount_fen") or 0
    if _succeeded(p):
        text = f"您的提现{yuan(amount)}元已到账。"
        result, reason = "提现成功", ""
    else:
        reason = str(p.get("reason") or "处理失败")
        text = f"您的提现{yuan(amount)}元未成功：{reason}。请稍后重试或联系客服。"
        result = "提现失败"
    extra = {"amount": f"{yuan(amount)}元", "result": result, "reason": reason or "-"}
    extra["detail"] = f"{result}，{yuan(amount)}元"
    return result, text, extra


def _merchant_decided(p: Mapping[str, Any], n: Names) -> _Built:
    name = str(p.get("name", ""))
    which = f"（{name}）" if name else ""
    if p.get("approved"):
        text = f"您的商家入驻申请{which}已通过审核，欢迎入驻。"
        result, reason = "已通过", ""
    else:
        reason = str(p.get("reason") or "")
        why = f"：{reason}" if reason else ""
        text = f"您的商家入驻申请{which}未通过审核{why}。"
        result = "未通过"
    extra = {"merchant": name or "-", "result": result, "reason": reason or "-"}
    extra["detail"] = f"入驻申请{result}"
    return "入驻审核结果", text, extra


_BALANCE_NAMES = {
    "cash": "返现余额",
    "points": "积分",
    "love_available": "爱心值",
    "love_frozen": "冻结爱心值",
}


def _adjusted(p: Mapping[str, Any], n: Names) -> _Built:
    balance = str(p.get("balance", "cash"))
    name = _BALANCE_NAMES.get(balance, balance)
    amount = int(p.get("amount", 0))
    shown = f"{yuan(abs(amount))}元" if balance == "cash" else str(abs(amount))
    verb = "增加" if amount > 0 else "扣减"
    reason = str(p.get("reason") or "-")
    text = f"您的{name}已由平台{verb}{shown}，原因：{reason}。"
    return "余额调整", text, {"detail": f"{name}{verb}{shown}", "reason": reason}


def _level_changed(p: Mapping[str, Any], n: Names) -> _Built:
    """会员等级: an automatic upgrade, or an operator's change (up, down, or removed) and why."""
    name = str(p.get("name") or "")
    rank = p.get("to_level")
    level = name or (f"等级{rank}" if rank else "")
    if p.get("source") == "auto":
        text = f"恭喜！您的会员等级已升级为{level}，之后的订单将按新等级计算奖励权益。"
        return (
            "会员升级",
            text,
            {"level": level, "reason": "达到升级条件", "detail": f"升级为{level}"},
        )
    reason = str(p.get("reason") or "-")
    if not rank:
        text = f"您的会员等级已由平台取消，原因：{reason}。"
        return "会员等级调整", text, {"level": "-", "reason": reason, "detail": "会员等级已取消"}
    text = f"您的会员等级已由平台调整为{level}，原因：{reason}。"
    return "会员等级调整", text, {"level": level, "reason": reason, "detail": f"调整为{level}"}


def _points_received(p: Mapping[str, Any], n: Names) -> _Built:
    """积分转让: the receiver is told who sent how many points."""
    points = int(p.get("points", 0))
    sender = str(p.get("from_nickname") or "") or f"推荐码{p.get('from_code', '')}"
    text = f"{sender}向您转让了{points}积分，已存入您的积分账户。"
    return (
        "收到积分",
        text,
        {"points": str(points), "sender": sender, "detail": f"收到{points}积分"},
    )


def _love_released(p: Mapping[str, Any], n: Names) -> _Built:
    amount = int(p.get("amount", 0))
    text = f"您有{amount}爱心值已解冻，现在可以使用。"
    if "love_available" in p:
        text += f"当前可用爱心值{int(p['love_available'])}。"
    return "爱心值解冻", text, {"amount": str(amount), "detail": f"{amount}爱心值已解冻"}


def _pool_joined(p: Mapping[str, Any], n: Names) -> _Built:
    """工会排队: the order's line joined the union pool queue."""
    number = str(p.get("entry_id", ""))
    quota = _fen(p, "quota_fen") or 0
    text = (
        f"【{n.plugin}】您的订单已进入工会排队，排队号{number}，分红额度{yuan(quota)}元，"
        "返利池每日按排队顺序全额分红；当前位次与预计等待请在小程序「工会排队」查看。"
    )
    extra = {
        "number": number, "quota": f"{yuan(quota)}元",
        "detail": f"排队号{number}，额度{yuan(quota)}元",
    }  # fmt: skip
    return "加入工会排队", text, extra


def _pool_not_queued(p: Mapping[str, Any], n: Names) -> _Built:
    """排队上限: the ceiling held the order out of the union pool queue."""
    days = p.get("ceiling_days")
    limit = f"超过{int(days)}天" if isinstance(days, int) else "过长"
    text = (
        f"【{n.plugin}】当前工会排队预计等待{limit}，平台已暂停新的排队，"
        "本单不进入排队，没有分红额度；订单利润仍按规则进入返利池，为正在排队的会员分红。"
    )
    return "工会排队已满", text, {"days": str(days or "-"), "detail": "本单未进入工会排队"}


def _pool_progress(p: Mapping[str, Any], what: str) -> dict[str, str]:
    amount, paid = _fen(p, "amount_fen") or 0, _fen(p, "paid_fen") or 0
    quota = _fen(p, "quota_fen") or 0
    return {
        "number": str(p.get("entry_id", "")), "amount": f"{yuan(amount)}元",
        "paid": f"{yuan(paid)}元", "quota": f"{yuan(quota)}元",
        "progress": f"已分红{yuan(paid)}/{yuan(quota)}元",
        "detail": f"{what}{yuan(amount)}元，已分红{yuan(paid)}/{yuan(quota)}元",
    }  # fmt: skip


def _pool_paid(p: Mapping[str, Any], n: Names) -> _Built:
    """已分红: the daily close paid the entry (in full, or the head in part)."""
    extra = _pool_progress(p, "分红")
    done = "分红额度已全部到账，已退出排队。" if p.get("full") else "剩余额度继续排队。"
    text = (
        f"【{n.plugin}】工会返利池分红{extra['amount']}已存入钱包（排队号{extra['number']}），"
        f"{extra['progress']}，{done}"
    )
    return "已分红", text, extra


def _pool_accelerated(p: Mapping[str, Any], n: Names) -> _Built:
    """加速到账: a direct referral's order paid down the member's oldest pool entry."""
    extra = _pool_progress(p, "加速")
    done = "分红额度已全部到账。" if p.get("full") else "排队位置不变。"
    text = (
        f"【{n.plugin}】您推荐的好友消费，为您的排队号{extra['number']}加速到账"
        f"{extra['amount']}，{extra['progress']}，{done}"
    )
    return "加速到账", text, extra


def _pool_wait_changed(p: Mapping[str, Any], n: Names) -> _Built:
    """The projected wait of a waiting pool entry moved by ``notify_wait_days`` or more."""
    number = str(p.get("entry_id", ""))
    days, was = p.get("wait_days"), p.get("was_days")
    sooner = isinstance(days, int) and isinstance(was, int) and days < was
    before = f"（此前预计约{int(was)}天）" if isinstance(was, int) else ""
    text = (
        f"【{n.plugin}】您的工会排队（排队号{number}）预计分红到账时间"
        f"{'提前' if sooner else '推迟'}：按近7天返利池收入估算，还需约{days}天{before}。"
        "实际以每日分红结算为准。"
    )
    extra = {"number": number, "days": str(days), "detail": f"预计还需约{days}天"}
    return "预计等待时间变化", text, extra


def _pool_refunded(p: Mapping[str, Any], n: Names) -> _Built:
    number = str(p.get("entry_id", ""))
    text = (
        f"【{n.plugin}】订单已退款，对应的工会排队（排队号{number}）已失效，已分红的部分不受影响。"
    )
    return "工会排队已失效", text, {"number": number, "detail": "订单退款"}


_BUILDERS = {
    "entry_joined": _joined,
    "lottery_available": _lottery_available,
    "lottery_drawn": _lottery_drawn,
    "payout_received": _payout,
    "entry_completed": _completed,
    "entry_converted": _converted,
    "entry_refunded": _refunded,
    "entry_cleared": _cleared,
    "entry_exchanged": _exchanged,
    "commission_earned": _commission_earned,
    "commission_released": _commission,
    "commission_received": _commission,
    "dividend_received": _dividend,
    "withdrawal_result": _withdrawal,
    "balance_adjusted": _adjusted,
    "merchant_application_decided": _merchant_decided,
    "statement_closed": _statement_closed,
    "statement_paid": _statement_paid,
    "statement_confirm_needed": _statement_confirm,
    "member_level_changed": _level_changed,
    "points_received": _points_received,
    "love_released": _love_released,
    "pool_entry_joined": _pool_joined,
    "pool_not_queued": _pool_not_queued,
    "pool_paid": _pool_paid,
    "pool_accelerated": _pool_accelerated,
    "pool_entry_refunded": _pool_refunded,
    "pool_wait_changed": _pool_wait_changed,
}


# --- template data ---------------------------------------------------------------------------


def _fit(keyword: str, value: str) -> str:
    """A value cut to its keyword type's limit (``thing3`` → 20 characters); never empty."""
    kind = keyword.rstrip("0123456789")
    limit = _LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…" if kind == "thing" else value[:limit]
    return value or "-"


def template_data(message: Message, template: Template) -> dict[str, str]:
    """The ``data`` of a template message: each keyword filled from the field it names."""
    mapping = template.fields or DEFAULT_TEMPLATE_FIELDS
    return {key: _fit(key, message.fields.get(name, "")) for key, name in mapping.items()}


def bind_hint(names: Names) -> str:
    """What an official-account follower not linked to a member is told."""
    return (
        f"您还没有绑定会员。请用同一个微信打开「{names.miniprogram}」登录一次，"
        f"绑定后回复「帮助」即可查询{names.plugin}进度、余额和推广码。"
    )
