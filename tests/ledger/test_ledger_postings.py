"""The one place value moves: ``ledger.postings.post`` (and its COPY twin for the queue writer).

Each posting is one row between two accounts of its unit, written once by key; members' cached
balances move with it; the check proves the books sum to zero and every cache is its accounts'
balance."""

import asyncio

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.balances import account_balances, balance_of, balances_of, member_postings
from ledger.bulk import post_by_copy
from ledger.checks import check_books
from ledger.postings import MalformedPosting, Posting, post
from models import Posting as PostingRow
from runtime.sql import execute, fetch
from services.members.accounts import new_member
from tests.services.helpers import T0


def cash(key: str, debit: str, credit: str, amount: int) -> Posting:
    return Posting(key, "test", debit, credit, "cash", amount)


async def test_a_posting_is_one_row_and_moves_the_members_cached_balance(db):
    m = await new_member("o1")
    async with in_transaction() as conn:
        done = await post(conn, [cash("gift:1", accounts.SALES, accounts.member(m.id), 500)], T0)
    assert [p.key for p in done] == ["gift:1"]
    row = await PostingRow.get(key="gift:1")
    assert (row.debit, row.credit, row.unit, row.amount) == (
        "platform:sales",
        f"member:{m.id}:cash",
        "cash",
        500,
    )
    assert (await balances_of(m.id)).cash_fen == 500
    assert await balance_of(accounts.member(m.id)) == 500
    assert await balance_of(accounts.SALES) == -500
    assert await check_books() == []


async def test_a_key_already_posted_is_skipped_and_moves_nothing(db):
    m = await new_member("o1")
    gift = cash("gift:1", accounts.SALES, accounts.member(m.id), 500)
    async with in_transaction() as conn:
        await post(conn, [gift], T0)
    async with in_transaction() as conn:
        again = await post(
            conn, [gift, cash("gift:2", accounts.SALES, accounts.member(m.id), 7)], T0
        )
    assert [p.key for p in again] == ["gift:2"]
    assert (await balances_of(m.id)).cash_fen == 507
    assert await PostingRow.all().count() == 2


async def test_another_movement_under_a_key_already_posted_is_refused(db):
    m = await new_member("o1")
    async with in_transaction() as conn:
        await post(conn, [cash("gift:1", accounts.SALES, accounts.member(m.id), 500)], T0)
    with pytest.raises(MalformedPosting, match="another movement under this key"):
        async with in_transaction() as conn:
            await post(conn, [cash("gift:1", accounts.SALES, accounts.member(m.id), 501)], T0)
    assert (await balances_of(m.id)).cash_fen == 500


async def test_a_key_given_twice_in_one_call_is_refused_and_moves_nothing(db):
    m = await new_member("o1")
    gift = cash("gift:1", accounts.SALES, accounts.member(m.id), 500)
    with pytest.raises(MalformedPosting):
        async with in_transaction() as conn:
            await post(conn, [gift, gift], T0)
    assert await PostingRow.all().count() == 0
    assert (await balances_of(m.id)).cash_fen == 0
    assert await check_books() == []


async def test_postings_move_value_out_of_a_member_too(db):
    m = await new_member("o1")
    member = accounts.member(m.id)
    async with in_transaction() as conn:
        await post(
            conn,
            [
                cash("in", accounts.SALES, member, 900),
                cash("out", member, accounts.WITHDRAWALS, 300),
            ],
            T0,
        )
    assert (await balances_of(m.id)).cash_fen == 600
    lines = await member_postings(m.id, ("cash",), before_id=None, limit=10)
    assert [(r["key"], r["signed"], r["balance"]) for r in lines] == [
        ("out", -300, "cash"),
        ("in", 900, "cash"),
    ]
    assert sum(await _unit_totals()) == 0


async def _unit_totals() -> list[int]:
    totals: dict[str, int] = {}
    for account, balance in (await account_balances()).items():
        unit = accounts.unit_of(account)
        totals[unit] = totals.get(unit, 0) + balance
    return list(totals.values())


@pytest.mark.parametrize(
    "bad",
    [
        Posting("k", "test", accounts.SALES, "member:1:cash", "cash", 0),
        Posting("k", "test", accounts.SALES, "member:1:cash", "cash", -5),
        Posting("k", "test", accounts.SALES, "member:1:cash", "cash", True),
        Posting("k", "test", "member:1:cash", "member:1:cash", "cash", 5),
        Posting("k", "test", accounts.SALES, "member:1:gold", "cash", 5),
        Posting("k", "test", accounts.SALES, "platform:nowhere", "cash", 5),
        Posting("k", "test", accounts.POINTS_ISSUED, "member:1:cash", "points", 5),
        Posting("k", "test", accounts.SALES, "member:1:points", "cash", 5),
        Posting("k", "test", "queue:01", accounts.SALES, "cash", 5),
    ],
    ids=[
        "zero",
        "negative",
        "bool",
        "same-account",
        "no-balance",
        "no-account",
        "unit-mismatch",
        "mixed-units",
        "bad-id",
    ],
)
async def test_a_malformed_posting_is_refused_and_nothing_is_written(db, bad):
    await new_member("o1")
    good = cash("good", accounts.SALES, "member:1:cash", 5)
    with pytest.raises(MalformedPosting):
        async with in_transaction() as conn:
            await post(conn, [good, bad], T0)
    assert await PostingRow.all().count() == 0
    assert (await balances_of(1)).cash_fen == 0


async def test_the_check_finds_a_cache_that_is_not_its_accounts_balance(db):
    m = await new_member("o1")
    async with in_transaction() as conn:
        await post(conn, [cash("gift:1", accounts.SALES, accounts.member(m.id), 500)], T0)
    await execute(
        connections.get("default"), "UPDATE wallet SET cash_fen = 499 WHERE member_id = $1", [m.id]
    )
    assert await check_books() == [
        f"wallet ≠ its accounts in the ledger: member {m.id} cash balance 499, postings sum to 500"
    ]


async def test_the_check_finds_postings_that_break_the_books(db):
    conn = connections.get("default")
    row = "INSERT INTO posting (key, kind, debit, credit, unit, amount, memo, created_at) VALUES ($1, 'x', $2, $3, $4, $5, '', $6)"
    await execute(conn, row, ["a", accounts.SALES, accounts.SALES, "cash", 5, T0])
    await execute(conn, row, ["b", accounts.POINTS_ISSUED, accounts.COST, "points", 5, T0])
    await execute(conn, row, ["c", accounts.SALES, "somewhere", "cash", 5, T0])
    found = await check_books()
    assert "posting malformed: a moves 5 from platform:sales to platform:sales" in found
    assert (
        "posting between accounts of another unit: platform:cost holds cash, a posting moves points through it"
        in found
    )
    assert "posting between accounts of another unit: somewhere is not an account" in found
    # points left the points issuer and arrived in a cash account: neither unit sums to zero
    # (cash sums to zero only because "somewhere", no account, is left out: reported above)
    assert "the books do not sum to zero: points accounts sum to -5" in found


@pytest.mark.parametrize("account", ["member:x:cash", "member:1:gold", "member:1"])
async def test_the_check_reports_a_member_account_that_is_no_account_instead_of_failing(
    db, account
):
    await new_member("o1")
    conn = connections.get("default")
    await execute(
        conn,
        "INSERT INTO posting (key, kind, debit, credit, unit, amount, memo, created_at)"
        " VALUES ('a', 'x', $1, $2, 'cash', 5, '', $3)",
        [accounts.SALES, account, T0],
    )
    found = await check_books()
    assert f"posting between accounts of another unit: {account} is not an account" in found


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_concurrent_postings_to_one_member_all_count(db):
    m = await new_member("o1")

    async def gift(i: int) -> None:
        async with in_transaction() as conn:
            await post(conn, [cash(f"gift:{i}", accounts.SALES, accounts.member(m.id), 10 + i)], T0)

    await asyncio.gather(*(gift(i) for i in range(20)))
    assert (await balances_of(m.id)).cash_fen == sum(10 + i for i in range(20))
    assert await check_books() == []


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_the_copy_path_writes_the_same_rows_and_balances_as_post(db):
    a, b = await new_member("o1"), await new_member("o2")
    postings = [
        cash("x:1", accounts.SALES, accounts.queue(1), 900),
        cash("p:1", accounts.queue(1), accounts.member(a.id), 600),
        cash("p:2", accounts.queue(1), accounts.member(b.id), 300),
        Posting(
            "r:1",
            "rr",
            accounts.POINTS_ISSUED,
            accounts.member(b.id, "points"),
            "points",
            40,
            None,
            None,
            None,
            "m",
        ),
    ]
    conn = connections.get("default")
    async with in_transaction() as tx, tx.acquire_connection() as raw:
        await post_by_copy(raw, postings, T0)
    copied = await fetch(
        conn, "SELECT key, kind, debit, credit, unit, amount, memo FROM posting ORDER BY key"
    )
    wallets = [(await balances_of(a.id)).as_dict(), (await balances_of(b.id)).as_dict()]
    assert await check_books() == []

    await execute(conn, "DELETE FROM posting")
    await execute(conn, "UPDATE wallet SET cash_fen = 0, points = 0")
    async with in_transaction() as tx:
        await post(tx, postings, T0)
    posted = await fetch(
        conn, "SELECT key, kind, debit, credit, unit, amount, memo FROM posting ORDER BY key"
    )
    assert copied == posted
    assert wallets == [(await balances_of(a.id)).as_dict(), (await balances_of(b.id)).as_dict()]


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_the_copy_path_fails_the_transaction_on_a_key_already_posted(db):
    m = await new_member("o1")
    gift = cash("gift:1", accounts.SALES, accounts.member(m.id), 5)
    async with in_transaction() as conn:
        await post(conn, [gift], T0)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with in_transaction() as tx, tx.acquire_connection() as raw:
            await post_by_copy(raw, [gift], T0)
    assert (await balances_of(m.id)).cash_fen == 5
