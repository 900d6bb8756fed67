"""Exports for the operators (导出): entries, postings, withdrawals and merchant statements of
any time range as rows of text, read a thousand at a time by id, so an export of any size is
streamed in constant memory. Amounts stay integer fen (or points / love value), as in the
books; the CSV writer is the edge's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections

from runtime.sql import fetch

CHUNK = 1_000


@dataclass(frozen=True)
class Export:
    """One export: its table, the column that dates a row, and its columns — (SQL, header)."""

    table: str
    dated_by: str
    columns: Sequence[tuple[str, str]]


EXPORTS: Mapping[str, Export] = {
    "entries": Export("entry", "created_at", (
        ("id", "权益ID"), ("queue_id", "队列ID"), ("seq", "排队序号"), ("member_id", "会员ID"),
        ("order_id", "订单ID"), ("entitlement_fen", "待返权益（分）"), ("paid_fen", "已返（分）"),
        ("status", "状态"), ("created_at", "排队时间"),
    )),
    "postings": Export("posting", "created_at", (
        ("id", "流水ID"), ("key", "幂等键"), ("kind", "类型"), ("debit", "付出账户"),
        ("credit", "收入账户"), ("unit", "单位"), ("amount", "金额"), ("order_id", "订单ID"),
        ("memo", "备注"), ("created_at", "时间"),
    )),
    "withdrawals": Export("withdrawal", "requested_at", (
        ("id", "提现ID"), ("member_id", "会员ID"), ("amount_fen", "金额（分）"), ("status", "状态"),
        ("out_bill_no", "商户单号"), ("decided_by", "审核人"), ("reject_reason", "驳回原因"),
        ("requested_at", "申请时间"), ("finished_at", "完成时间"),
    )),
    "statements": Export("statement", "created_at", (
        ("id", "结算单ID"), ("store_id", "门店ID"), ("period", "结算日"), ("total_fen", "金额（分）"),
        ("credit_count", "笔数"), ("status", "状态"), ("created_at", "生成时间"),
        ("paid_at", "打款时间"),
    )),
}  # fmt: skip


def header(kind: str) -> list[str]:
    return [label for _, label in EXPORTS[kind].columns]


async def export_rows(
    kind: str, since: datetime | None, until: datetime | None
) -> AsyncIterator[list[str]]:
    """The rows of export ``kind`` dated in [since, until), oldest first, as text."""
    spec = EXPORTS[kind]
    conn = connections.get("default")
    cols = ", ".join(c for c, _ in spec.columns)
    where, args = ["id > $1"], [0]
    for bound, op in ((since, ">="), (until, "<")):
        if bound is not None:
            args.append(bound)
            where.append(f"{spec.dated_by} {op} ${len(args)}")
    text = f"SELECT {cols} FROM {spec.table} WHERE {' AND '.join(where)} ORDER BY id LIMIT {CHUNK}"
    while True:
        rows = await fetch(conn, text, args)
        for row in rows:
            yield [_text(row[c]) for c, _ in spec.columns]
        if len(rows) < CHUNK:
            return
        args[0] = int(rows[-1]["id"])


_TEXT: Mapping[type, Callable[[Any], str]] = {datetime: lambda v: v.isoformat()}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return _TEXT.get(type(value), str)(value)
