"""导出: the operators' CSV exports of entries, postings, withdrawals and merchant statements for
any time range, streamed (UTF-8 with a byte-order mark, so Excel opens the Chinese headers).
Money permission: what a finance operator reconciles."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from services.exports import EXPORTS, export_rows, header
from services.operators.roles import Permission
from web.errors import ApiError
from web.query import query_time
from web.registry import Registry, Reply
from web.schemas import STRING

routes = Registry()

FLUSH_ROWS = 500


@routes.get(
    "/api/admin/exports/{kind}",
    summary="导出 CSV：排队权益、资金流水、提现、商家结算单",
    description="Rows dated in [`from`, `to`) (ISO date — a Beijing day, `to` included — or a "
    "time with its timezone), oldest first, streamed as CSV (UTF-8 with BOM). Amounts are "
    "integer fen (points or love value for those units), as in the books.",
    tags=("admin",),
    auth="admin",
    permission=Permission.MONEY,
    path_params={"kind": {"type": "string", "enum": list(EXPORTS)}},
    query_params={
        "from": {**STRING, "description": "起始（含）：日期 2026-12-01 或带时区的时间"},
        "to": {**STRING, "description": "截止：日期（含当天）或带时区的时间（不含）"},
    },
    responses={
        200: Reply("CSV", content_type="text/csv"),
        400: Reply("查询参数无效（field 指明哪一项）"),
    },
)
async def export_csv(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    since, until = query_time(request, "from"), query_time(request, "to", end_of_day=True)
    if since is not None and until is not None and until <= since:
        raise ApiError(400, "invalid_field", "to 必须晚于 from", field="to")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{kind}.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header(kind))
    count = 0
    async for row in export_rows(kind, since, until):
        writer.writerow(row)
        count += 1
        if count % FLUSH_ROWS == 0:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response
