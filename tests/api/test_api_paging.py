"""Every list of the API pages one way (``services.paging``, ``web.query``): ``limit`` and
``cursor`` in, ``items`` and ``next_cursor`` out, what a list reports besides (counts, totals)
beside the page on every page.

Each list is walked page by page over more rows than a page holds: every row comes exactly
once, in the list's order (compared with the rows read straight from the database), full pages
until the last, whose ``next_cursor`` is null — also when the rows fill the last page exactly.
Two lists are sorted by something other than id — the team (depth, then newest) and the job
runs (start time) — and page on that key and id. A bad cursor or limit is a 400 naming it on
every list, and the OpenAPI document describes every list the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise.expressions import Q

from models import (
    ApplicationStatus,
    AuditLog,
    Commission,
    DoublePayment,
    Entry,
    JobRun,
    Member,
    MerchantApplication,
    Order,
    PointsTransfer,
    Posting,
    Queue,
    Statement,
    StoreCredit,
    Withdrawal,
    WithdrawalStatus,
)
from services.distribution.referral import bind_referrer
from services.members.accounts import new_member
from services.merchants.onboarding import apply_for_merchant
from services.merchants.settlement import close_statements
from services.wallets.adjustments import adjust_balance
from tests.api.conftest import Api
from tests.api.test_api_member_entries import buy as buy_in_mall
from tests.api.test_api_member_entries import lottery_base, recent_clock
from tests.api.test_api_merchant_member import token_of
from tests.distribution.support import (
    MERCHANT_FORM,
    approved_store,
    base_rules,
    buy,
    chain,
    configure,
    days,
    pay_cashier,
)
from tests.services.helpers import T0, Clock
from tests.services.test_paging import runs_started

LISTS = {
    "/api/products",
    "/api/orders",
    "/api/wallet/ledger",
    "/api/entries",
    "/api/me/union-pool",
    "/api/wallet/withdrawals",
    "/api/me/points-transfers",
    "/api/promoter/team",
    "/api/promoter/rewards",
    "/api/merchant-applications/mine",
    "/api/merchant/stores",
    "/api/merchant/stores/{store_id}/orders",
    "/api/merchant/stores/{store_id}/queue",
    "/api/merchant/stores/{store_id}/statements",
    "/api/merchant/stores/{store_id}/statements/{id}",
    "/api/admin/merchant-applications",
    "/api/admin/withdrawals",
    "/api/admin/double-payments",
    "/api/admin/audit",
    "/api/admin/queues/economics",
    "/api/admin/jobs/runs",
    "/api/admin/merchant-invites",
    "/api/admin/stores",
    "/api/admin/queues",
    "/api/admin/suppliers",
    "/api/admin/union-pool/days",
    "/api/admin/union-pool/entries",
    "/api/admin/products",
    "/api/admin/member-levels",
    "/api/admin/members/{id}/level-changes",
    "/api/admin/members",
    "/api/admin/members/{id}/ledger",
    "/api/admin/queues/{id}/entries",
    "/api/admin/entries/{id}/payouts",
    "/api/admin/orders",
    "/api/admin/statements",
}


async def walk(
    api: Api, path: str, headers: dict[str, str], *, limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item of the list at ``path``, following ``next_cursor`` from the first page; and
    the pages' bodies. Every page but the last is full."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 100:
        query = f"limit={limit}" + ("" if cursor is None else f"&cursor={cursor}")
        response = await api.client.get(
            f"{path}{'&' if '?' in path else '?'}{query}", headers=headers
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        pages.append(body)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:  # never an empty page after a full one
            assert 0 < len(body["items"]) <= limit or items == [], path
            return items, pages
        assert len(body["items"]) == limit, path
    raise AssertionError(f"{path}: no last page")


def ids(items: list[dict[str, Any]], key: str = "id") -> list[int]:
    return [int(item[key]) for item in items]


def beside(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each page reports besides the page itself."""
    return [{k: v for k, v in page.items() if k not in ("items", "next_cursor")} for page in pages]


# --- a member's lists -----------------------------------------------------------------------------


async def test_my_wallet_ledger_pages_every_posting_of_mine_newest_first(api: Api) -> None:
    me, other = await api.login(), await api.login()
    my_id, token = int(me["member"]["id"]), {"Authorization": f"Bearer {me['token']}"}
    for n in range(7):  # cash in and out, points, and someone else's
        for member_id, balance, amount in ((my_id, "cash", 100 + n), (my_id, "points", 5 + n),
                                           (int(other["member"]["id"]), "cash", 9)):  # fmt: skip
            await adjust_balance(
                member_id, balance=balance, amount=amount, reason="测试", operator="ops@test",
                request_id=f"page-{member_id}-{balance}-{n}", now=T0,
            )  # fmt: skip
    await adjust_balance(
        my_id, balance="cash", amount=-50, reason="测试", operator="ops@test",
        request_id="page-take-back", now=T0,
    )  # fmt: skip
    mine = [
        p.id
        for p in await Posting.filter(
            Q(credit__startswith=f"member:{my_id}:") | Q(debit__startswith=f"member:{my_id}:")
        ).order_by("-id")
    ]
    assert len(mine) == 15
    for limit in (1, 4, 15):  # 15: the rows fill the only page exactly
        lines, pages = await walk(api, "/api/wallet/ledger", token, limit=limit)
        assert ids(lines) == mine and pages[-1]["next_cursor"] is None
    cash, _ = await walk(api, "/api/wallet/ledger?asset=cash", token, limit=3)
    assert [line["amount"] for line in cash] == [-50, *(100 + n for n in reversed(range(7)))]


async def test_my_entries_and_withdrawals_page_newest_first(api: Api) -> None:
    await lottery_base()
    clock = recent_clock()
    me, other = await api.login(), await api.login()
    my_id, token = int(me["member"]["id"]), {"Authorization": f"Bearer {me['token']}"}
    for buyer in (my_id, int(other["member"]["id"])) * 4 + (my_id, my_id):
        await buy_in_mall(buyer, 10_000, clock)
    mine = [e.id for e in await Entry.filter(member_id=my_id).order_by("-id")]
    assert len(mine) == 6
    for limit in (1, 4, 6):  # 6: the rows fill the only page exactly
        entries, pages = await walk(api, "/api/entries", token, limit=limit)
        assert ids(entries) == mine and pages[-1]["next_cursor"] is None
        assert all(b == {"names": pages[0]["names"]} for b in beside(pages))
    waiting, _ = await walk(api, "/api/entries?status=waiting", token, limit=2)
    assert ids(waiting) == [
        e.id for e in await Entry.filter(member_id=my_id, status="waiting").order_by("-id")
    ]

    others = int(other["member"]["id"])
    for n, member_id in enumerate((my_id, others) * 3 + (my_id,)):
        await withdrawal(member_id, n, "requested" if n % 3 else "rejected")
    withdrawals, _ = await walk(api, "/api/wallet/withdrawals", token, limit=2)
    expected = await Withdrawal.filter(member_id=my_id).order_by("-id").values_list("id", flat=True)
    assert ids(withdrawals) == expected and len(expected) == 4
    admin = {"Authorization": f"Bearer {api.admin_token()}"}
    requested, _ = await walk(api, "/api/admin/withdrawals?status=requested", admin, limit=2)
    assert ids(requested) == await Withdrawal.filter(status="requested").order_by(
        "-id"
    ).values_list("id", flat=True)
    assert {w["member_id"] for w in requested} == {my_id, others}


async def withdrawal(member_id: int, n: int, status: str) -> None:
    """A withdrawal row as the list reads it (how it got there is the wallet tests' business)."""
    await Withdrawal.create(
        member_id=member_id,
        amount_fen=1000 + n,
        day="2026-11-25",
        status=WithdrawalStatus(status),
        out_bill_no=f"WD{n:08d}",
        openid=f"o{member_id}",
        requested_at=T0 + timedelta(minutes=n),
        updated_at=T0 + timedelta(minutes=n),
    )


async def test_my_points_transfers_page_sent_and_received_newest_first(api: Api) -> None:
    me, other, third = [await new_member(f"oT{i}") for i in range(3)]
    for n, (sender, receiver) in enumerate([(me, other), (other, me), (third, other)] * 3):
        await PointsTransfer.create(
            sender_id=sender.id, receiver_id=receiver.id, request_id=f"req-{n:06d}",
            points=10 + n, day="2026-11-25", created_at=T0 + timedelta(minutes=n),
        )  # fmt: skip
    mine = await PointsTransfer.filter(Q(sender_id=me.id) | Q(receiver_id=me.id)).order_by("-id")
    for limit in (1, 4, 6):
        items, _ = await walk(api, "/api/me/points-transfers", token_of(api, me.id), limit=limit)
        assert ids(items) == [t.id for t in mine] and len(items) == 6
        assert {t["direction"] for t in items} == {"sent", "received"}


async def test_the_double_payments_page_newest_first_with_what_is_owed_beside(api: Api) -> None:
    await base_rules()
    buyer = (await new_member("oTwice")).id
    await buy(buyer, 10_000, Clock())
    order = await Order.get(member_id=buyer)
    for n in range(5):  # rows as the list reads them (how they got there: test_api_double_payments)
        await DoublePayment.create(
            order_id=order.id, transaction_id=f"42000{n}", api_version="v3", amount_fen=100 + n,
            status="refunded" if n == 1 else "refund_pending", out_refund_no=f"DP{n}",
            payload={}, created_at=T0, updated_at=T0,
        )  # fmt: skip
    admin = {"Authorization": f"Bearer {api.admin_token()}"}
    newest = await DoublePayment.all().order_by("-id").values_list("id", flat=True)
    for limit in (1, 2, 5):  # 5: the rows fill the only page exactly
        listed, pages = await walk(api, "/api/admin/double-payments", admin, limit=limit)
        assert ids(listed) == newest
        assert all(b == {"owed_count": 4, "owed_fen": 100 + 102 + 103 + 104} for b in beside(pages))
    pending, _ = await walk(api, "/api/admin/double-payments?status=refund_pending", admin, limit=2)
    assert ids(pending) == [i for i in newest if i != newest[3]]


# --- a promoter's lists ---------------------------------------------------------------------------


async def referred_by(referrer_id: int, name: str) -> int:
    member = await new_member(name)
    referrer = await Member.get(id=referrer_id)
    assert await bind_referrer(member.id, referrer.referral_code) == "bound"
    return member.id


async def test_my_team_pages_on_depth_then_newest_and_my_rewards_newest_first(api: Api) -> None:
    await base_rules()
    await configure(direct_bp=1000, indirect_bp=500)  # team depth 2
    top = (await new_member("oTop")).id
    direct: list[int] = []
    indirect: list[int] = []
    for i in range(4):  # ids interleave the depths: the page order is not the id order
        direct.append(await referred_by(top, f"oD{i}"))
        indirect.append(await referred_by(direct[-1], f"oI{i}"))
        if i % 2:
            indirect.append(await referred_by(direct[0], f"oJ{i}"))
    await referred_by(indirect[0], "oTooDeep")  # depth 3: not in a depth-2 team
    expected = sorted(direct, reverse=True) + sorted(indirect, reverse=True)
    as_top = token_of(api, top)
    for limit in (1, 3, 5, 10):  # 10: the team fills the only page exactly
        team, pages = await walk(api, "/api/promoter/team", as_top, limit=limit)
        assert ids(team, "member_id") == expected
        assert [m["depth"] for m in team] == [1] * len(direct) + [2] * len(indirect)
        assert beside(pages) == [beside(pages)[0]] * len(pages)  # the counts, on every page
        assert beside(pages)[0]["counts_by_depth"] == {"1": 4, "2": 6}

    _, mid, buyer = await chain(3, prefix="r")  # top2 ← mid ← buyer
    clock = Clock()
    for _ in range(5):
        await buy(buyer, 10_000, clock)
    rewards, pages = await walk(api, "/api/promoter/rewards", token_of(api, mid), limit=2)
    assert ids(rewards, "commission_id") == await Commission.filter(member_id=mid).order_by(
        "-id"
    ).values_list("id", flat=True)
    assert len(rewards) == 5 and [len(p["items"]) for p in pages] == [2, 2, 1]
    assert all(b["totals"]["frozen"] == 5 * 1000 for b in beside(pages))


# --- a merchant's lists ---------------------------------------------------------------------------


async def test_a_merchants_stores_orders_queue_statements_and_lines_page(api: Api) -> None:
    await base_rules(extract_bp=100)  # entries stay waiting
    await configure(statement_days=1)
    owner = await new_member("oOwner")
    stores = [await approved_store(owner.id) for _ in range(3)]
    await approved_store((await new_member("oSomeoneElse")).id)
    await apply_for_merchant(owner.id, MERCHANT_FORM, now=T0)  # pending, listed too
    me = token_of(api, owner.id)
    listed, _ = await walk(api, "/api/merchant/stores", me, limit=2)
    assert ids(listed) == stores  # oldest first
    applications, _ = await walk(api, "/api/merchant-applications/mine", me, limit=2)
    assert ids(applications) == await MerchantApplication.filter(applicant_id=owner.id).order_by(
        "-id"
    ).values_list("id", flat=True)
    assert len(applications) == 4

    store, buyer = stores[1], (await new_member("oBuyer")).id
    for day in range(3):  # three closing days: three statements
        clock = Clock(T0 + days(day))
        for _ in range(day + 2):
            await pay_cashier(buyer, store, 10_000, clock)
        await pay_cashier(buyer, stores[0], 5_000, clock)  # another store of the same owner
        await close_statements(T0 + days(day + 1))
    base = f"/api/merchant/stores/{store}"
    orders, _ = await walk(api, f"{base}/orders", me, limit=4)
    assert ids(orders) == await Order.filter(store_id=store).order_by("-id").values_list(
        "id", flat=True
    )
    assert len(orders) == 9
    queue, pages = await walk(api, f"{base}/queue", me, limit=4)
    assert ids(queue) == await Entry.filter(target=f"cashier:{store}", status="waiting").order_by(
        "id"
    ).values_list("id", flat=True)
    assert len(queue) == 9 and [len(p["items"]) for p in pages] == [4, 4, 1]
    assert (
        beside(pages)
        == [{"waiting": 9, "outstanding_fen": beside(pages)[0]["outstanding_fen"]}] * 3
    )
    statements, _ = await walk(api, f"{base}/statements", me, limit=2)
    assert ids(statements) == await Statement.filter(store_id=store).order_by("-id").values_list(
        "id", flat=True
    )
    assert len(statements) == 3
    last = statements[0]
    lines, pages = await walk(api, f"{base}/statements/{last['id']}", me, limit=2)
    assert ids(lines) == await StoreCredit.filter(statement_id=last["id"]).order_by(
        "id"
    ).values_list("id", flat=True)
    assert len(lines) == last["credit_count"] == 4 and len(pages) == 2  # 4 lines fill 2 pages
    assert all(b == {"statement": last} for b in beside(pages))
    assert sum(line["amount_fen"] for line in lines) == last["total_fen"]


# --- operators' lists -----------------------------------------------------------------------------


async def test_operators_lists_page(api: Api) -> None:
    admin = {"Authorization": f"Bearer {api.admin_token()}"}
    applicants = [await new_member(f"oApplicant{i}") for i in range(5)]
    for applicant in applicants:
        await apply_for_merchant(applicant.id, MERCHANT_FORM, now=T0)
    await MerchantApplication.filter(applicant_id=applicants[2].id).update(
        status=ApplicationStatus.REJECTED
    )
    pending, _ = await walk(api, "/api/admin/merchant-applications", admin, limit=2)
    assert ids(pending) == await MerchantApplication.filter(status="pending").order_by(
        "id"  # pending: oldest first, the order to decide them in
    ).values_list("id", flat=True)
    assert len(pending) == 4
    every, _ = await walk(api, "/api/admin/merchant-applications?status=all", admin, limit=2)
    assert ids(every) == await MerchantApplication.all().order_by("-id").values_list(
        "id", flat=True
    )

    for n in range(7):
        await AuditLog.create(
            operator="ops", section=("base", "display")[n % 2], target="", created_at=T0
        )
    trail, _ = await walk(api, "/api/admin/audit?section=base", admin, limit=2)
    assert ids(trail) == await AuditLog.filter(section="base").order_by("-id").values_list(
        "id", flat=True
    )
    assert len(trail) == 4

    for n in range(5):
        await Queue.create(key=f"product:{n}")
    queues, pages = await walk(api, "/api/admin/queues/economics", admin, limit=2)
    assert ids(queues, "queue_id") == await Queue.all().order_by("id").values_list("id", flat=True)
    assert len(queues) == 5 and all("不是承诺" in b["note"] for b in beside(pages))


async def test_job_runs_page_on_their_start_time_then_id(api: Api) -> None:
    expected = await runs_started([5, 1, 9, 5, 3, 9, 0, 5, 7], ("clearing", "dividends"))
    admin = {"Authorization": f"Bearer {api.admin_token()}"}
    for limit in (1, 2, 3, 9):
        listed, _ = await walk(api, "/api/admin/jobs/runs", admin, limit=limit)
        assert ids(listed) == expected
    clearing, _ = await walk(api, "/api/admin/jobs/runs?name=clearing", admin, limit=2)
    clearing_ids = set(await JobRun.filter(name="clearing").values_list("id", flat=True))
    assert ids(clearing) == [i for i in expected if i in clearing_ids]


# --- refusals -------------------------------------------------------------------------------------

BAD = [
    ("limit=0", "limit"),
    ("limit=51", "limit"),
    ("limit=x", "limit"),
    ("limit=-1", "limit"),
    ("cursor=x", "cursor"),
    ("cursor=0", "cursor"),
    ("cursor=1.5", "cursor"),
]


async def paged_operations(api: Api) -> list[tuple[str, str]]:
    """(path, auth) of every documented list (auth "none": open to anyone)."""
    document = await (await api.client.get("/api/openapi.json")).json()
    return [
        (path, next(iter(op["security"][0])) if "security" in op else "none")
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if method == "get" and "cursor" in {p["name"] for p in op.get("parameters", [])}
    ]


async def test_a_bad_cursor_or_limit_is_a_400_naming_it_on_every_list(api: Api) -> None:
    await base_rules()
    await configure(statement_days=1)
    owner = await new_member("oOwner")
    store = await approved_store(owner.id)
    await pay_cashier((await new_member("oBuyer")).id, store, 10_000, Clock())
    await close_statements(T0 + days(1))
    statement = await Statement.get(store_id=store)
    tokens = {"memberToken": token_of(api, owner.id)}
    tokens["adminToken"] = {"Authorization": f"Bearer {api.admin_token()}"}
    tokens["none"] = {}
    operations = await paged_operations(api)
    assert {path for path, _ in operations} == LISTS
    for path, auth in operations:
        path = path.replace("{store_id}", str(store)).replace("{id}", str(statement.id))
        fine = await api.client.get(path, headers=tokens[auth])
        assert fine.status == 200, (path, await fine.text())
        for query, field in BAD:
            response = await api.client.get(f"{path}?{query}", headers=tokens[auth])
            body = await response.json()
            assert (response.status, body["field"]) == (400, field), (path, query, body)


async def test_a_cursor_that_is_no_item_of_a_list_sorted_by_another_key_is_a_400(
    api: Api,
) -> None:
    await configure()
    top, _ = await chain(2)
    outsider = (await new_member("oOutsider")).id
    response = await api.client.get(
        f"/api/promoter/team?cursor={outsider}", headers=token_of(api, top)
    )
    assert (response.status, (await response.json())["field"]) == (400, "cursor")
    admin = {"Authorization": f"Bearer {api.admin_token()}"}
    response = await api.client.get("/api/admin/jobs/runs?cursor=999999", headers=admin)
    assert (response.status, (await response.json())["field"]) == (400, "cursor")


# Series, not lists: an array bounded by its own parameter (the dashboard's days, at most 90),
# whose entries are positions in a window rather than rows to walk through.
SERIES = {"/api/admin/dashboard/daily"}


async def test_the_document_describes_every_list_one_way(api: Api) -> None:
    """A GET whose answer holds an array holds it as ``items``, beside ``next_cursor``, and
    takes ``cursor`` and ``limit`` (a bounded series excepted)."""
    document = await (await api.client.get("/api/openapi.json")).json()
    lists = []
    for path, ops in document["paths"].items():
        op = ops.get("get")
        if op is None:
            continue
        schema = op["responses"]["200"].get("content", {}).get("application/json", {}).get("schema")
        fields = (schema or {}).get("properties", {})
        arrays = [name for name, field in fields.items() if field.get("type") == "array"]
        if not arrays or path in SERIES:
            continue
        lists.append(path)
        assert arrays == ["items"], path
        assert fields["next_cursor"]["nullable"] and "400" in op["responses"], path
        query = {p["name"]: p["schema"] for p in op["parameters"] if p["in"] == "query"}
        assert query["limit"]["maximum"] == 50 and query["limit"]["default"] == 20, path
        assert "cursor" in query, path
    assert set(lists) == LISTS
