"""导出: the operators' CSV exports of entries, postings, withdrawals and merchant statements for
any time range, streamed (UTF-8 with a byte-order mark, so Excel opens the Chinese headers).
Money permission: what a finance operator reconciles."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from services.exports import EXPORTS, export_rows, header
from services.operators.roles import Permission
from web.query import TIME_RANGE_PARAMS, query_range
from web.registry import Registry, Reply

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
    query_params=TIME_RANGE_PARAMS,
    responses={
        200: Reply("CSV", content_type="text/csv"),
        400: Reply("查询参数无效（field 指明哪一项）"),
    },
)
async def export_csv(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    since, until = query_range(request)
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
