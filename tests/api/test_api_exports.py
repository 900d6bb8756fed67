"""导出 over HTTP: a CSV of any time range, streamed, whose rows and totals are the database's;
a bad range or kind is refused, naming it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from models import Member, Posting
from services.clock import utcnow
from tests.api.conftest import Api, bearer
from tests.api.test_api_admin_adjustments import ADJUST, post_adjustment


async def export(api: Api, kind: str, query: str = "") -> tuple[int, list[list[str]], str]:
    response = await api.client.get(
        f"/api/admin/exports/{kind}{query}", headers=bearer(api.admin_token())
    )
    text = (await response.read()).decode("utf-8")
    if response.status != 200:
        return response.status, [], text
    assert text.startswith("\ufeff") and response.content_type == "text/csv"
    return 200, list(csv.reader(io.StringIO(text[1:]))), response.headers["Content-Disposition"]


async def test_the_postings_export_holds_the_books_rows_and_totals(api: Api) -> None:
    await api.login("o-export")
    member = await Member.get(openid="o-export")
    for i, amount in enumerate((1_500, -200, 3_300)):
        body = {**ADJUST, "amount": amount, "request_id": f"ops-export-{i:04d}"}
        assert (await post_adjustment(api, member.id, body))[0] == 200
    status, rows, disposition = await export(api, "postings")
    assert status == 200 and 'filename="postings.csv"' in disposition
    head, *lines = rows
    assert head[:3] == ["流水ID", "幂等键", "类型"]
    amount = head.index("金额")
    books = await Posting.all().order_by("id")
    assert [int(r[0]) for r in lines] == [p.id for p in books]
    assert sum(int(r[amount]) for r in lines) == sum(p.amount for p in books) == 5_000
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    status, rows, _ = await export(api, "postings", f"?from={tomorrow}")
    assert status == 200 and rows == [head]  # the header only: nothing that late


async def test_every_export_answers_with_its_header(api: Api) -> None:
    for kind, first in (
        ("entries", "权益ID"),
        ("withdrawals", "提现ID"),
        ("statements", "结算单ID"),
    ):
        status, rows, _ = await export(api, kind, "?from=2026-01-01&to=2026-12-31")
        assert status == 200 and rows[0][0] == first, (kind, rows)


async def test_a_bad_range_or_kind_is_refused(api: Api) -> None:
    status, _, body = await export(api, "postings", "?from=yesterday")
    assert status == 400 and '"field": "from"' in body
    status, _, body = await export(api, "postings", "?from=2026-12-05&to=2026-12-01")
    assert status == 400 and '"field": "to"' in body
    assert (await export(api, "passwords"))[0] == 404
