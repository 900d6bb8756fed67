"""Conservation (SPEC §2), checked over the whole database.

For every queue: Σ extractions = Σ payouts + Σ withheld + unallocated, and its cached counters
agree with the rows. For every extraction: its parts add up and its payouts sum to its paid
part. For every entry: 0 ≤ paid ≤ entitlement, paid = Σ its payouts, and its status agrees.
For every wallet: each balance equals the sum of its ledger lines. A payout is the ledger line
of kind ``payout`` that carries its extraction and entry. Every key the queue writer writes
(those tables carry no foreign-key constraints, see models.queues.Entry) refers to an existing
row, no two entries hold one place of a queue, and an extraction's entry is its own line's.
``queue-rebate check`` prints each problem found; none means the books balance.
"""

from typing import Any

from tortoise import connections

from runtime.sql import fetch

LIMIT = 20  # problems reported per check; the count says how many there were
PAYOUT = "p.kind = 'payout'"  # a payout is the ledger line of this kind (alias p)

# (table, key column, referenced table) for the keys without a database constraint
UNCHECKED_KEYS = (
    ("entry", "queue_id", "queue"),
    ("entry", "member_id", "member"),
    ("entry", "order_id", "orders"),
    ("entry", "line_id", "order_line"),
    ("extraction", "queue_id", "queue"),
    ("extraction", "line_id", "order_line"),
    ("extraction", "order_id", "orders"),
    ("extraction", "entry_id", "entry"),
    ("ledger_line", "member_id", "member"),
    ("ledger_line", "order_id", "orders"),
    ("ledger_line", "entry_id", "entry"),
    ("ledger_line", "extraction_id", "extraction"),
    ("outbox_event", "member_id", "member"),
    ("pending_settlement", "queue_id", "queue"),
    ("pending_settlement", "line_id", "order_line"),
    ("pending_settlement", "order_id", "orders"),
    ("pending_settlement", "member_id", "member"),
)


async def check_conservation() -> list[str]:
    conn = connections.get("default")
    problems: list[str] = []

    async def report(title: str, query: str, fmt: Any) -> None:
        rows = await fetch(conn, query)
        for r in rows[:LIMIT]:
            problems.append(f"{title}: {fmt(r)}")
        if len(rows) > LIMIT:
            problems.append(f"{title}: … and {len(rows) - LIMIT} more")

    await report(
        "extraction parts do not add up",
        "SELECT id, amount_fen, paid_fen, withheld_fen, unallocated_fen FROM extraction"
        " WHERE amount_fen <> paid_fen + withheld_fen + unallocated_fen OR paid_fen < 0"
        " OR withheld_fen < 0 OR unallocated_fen < 0",
        lambda r: (
            f"extraction {r['id']} amount {r['amount_fen']} ≠ paid {r['paid_fen']}"
            f" + withheld {r['withheld_fen']} + unallocated {r['unallocated_fen']}"
        ),
    )
    await report(
        "extraction paid ≠ its payouts",
        "SELECT x.id, x.paid_fen, COALESCE(SUM(p.amount), 0) AS s FROM extraction x"
        f" LEFT JOIN ledger_line p ON p.extraction_id = x.id AND {PAYOUT}"
        " GROUP BY x.id, x.paid_fen HAVING x.paid_fen <> COALESCE(SUM(p.amount), 0)",
        lambda r: f"extraction {r['id']} paid {r['paid_fen']}, payouts sum to {r['s']}",
    )
    await report(
        "queue totals ≠ its extractions",
        "SELECT q.id, q.key, q.extracted_fen, q.paid_fen, q.withheld_fen, q.unallocated_fen,"
        " COALESCE(SUM(x.amount_fen), 0) AS a, COALESCE(SUM(x.paid_fen), 0) AS p,"
        " COALESCE(SUM(x.withheld_fen), 0) AS w, COALESCE(SUM(x.unallocated_fen), 0) AS u"
        " FROM queue q LEFT JOIN extraction x ON x.queue_id = q.id"
        " GROUP BY q.id, q.key, q.extracted_fen, q.paid_fen, q.withheld_fen, q.unallocated_fen"
        " HAVING q.extracted_fen <> COALESCE(SUM(x.amount_fen), 0)"
        " OR q.paid_fen <> COALESCE(SUM(x.paid_fen), 0)"
        " OR q.withheld_fen <> COALESCE(SUM(x.withheld_fen), 0)"
        " OR q.unallocated_fen <> COALESCE(SUM(x.unallocated_fen), 0)"
        " OR q.extracted_fen <> q.paid_fen + q.withheld_fen + q.unallocated_fen",
        lambda r: (
            f"queue {r['key']} says extracted/paid/withheld/unallocated ="
            f" {r['extracted_fen']}/{r['paid_fen']}/{r['withheld_fen']}/{r['unallocated_fen']},"
            f" rows say {r['a']}/{r['p']}/{r['w']}/{r['u']}"
        ),
    )
    await report(
        "entry paid out of bounds",
        "SELECT id, paid_fen, entitlement_fen FROM entry WHERE paid_fen < 0 OR paid_fen > entitlement_fen",
        lambda r: f"entry {r['id']} paid {r['paid_fen']} of entitlement {r['entitlement_fen']}",
    )
    await report(
        "entry paid ≠ its payouts",
        "SELECT e.id, e.paid_fen, COALESCE(SUM(p.amount), 0) AS s FROM entry e"
        f" LEFT JOIN ledger_line p ON p.entry_id = e.id AND {PAYOUT}"
        " GROUP BY e.id, e.paid_fen HAVING e.paid_fen <> COALESCE(SUM(p.amount), 0)",
        lambda r: f"entry {r['id']} paid {r['paid_fen']}, payouts sum to {r['s']}",
    )
    await report(
        "entry status disagrees with its payouts",
        "SELECT id, status, paid_fen, entitlement_fen FROM entry WHERE"
        " (status = 'waiting' AND paid_fen >= entitlement_fen)"
        " OR (status = 'completed' AND points = 0 AND paid_fen <> entitlement_fen)",
        lambda r: (
            f"entry {r['id']} is {r['status']} with {r['paid_fen']} of {r['entitlement_fen']}"
        ),
    )
    await report(
        "queue waiting count is stale",
        "SELECT q.id, q.key, q.waiting_count, COUNT(e.id) AS n FROM queue q"
        " LEFT JOIN entry e ON e.queue_id = q.id AND e.status = 'waiting'"
        " GROUP BY q.id, q.key, q.waiting_count HAVING q.waiting_count <> COUNT(e.id)",
        lambda r: f"queue {r['key']} says {r['waiting_count']} waiting, rows say {r['n']}",
    )
    await report(
        "two entries in one place of a queue",
        "SELECT queue_id, seq, COUNT(*) AS n FROM entry GROUP BY queue_id, seq HAVING COUNT(*) > 1",
        lambda r: f"queue {r['queue_id']} has {r['n']} entries at seq {r['seq']}",
    )
    await report(
        "extraction names another line's entry",
        "SELECT x.id, x.line_id, e.id AS entry_id, e.line_id AS entry_line FROM extraction x"
        " JOIN entry e ON e.id = x.entry_id WHERE e.line_id <> x.line_id OR e.queue_id <> x.queue_id",
        lambda r: (
            f"extraction {r['id']} of line {r['line_id']} names entry {r['entry_id']}"
            f" of line {r['entry_line']}"
        ),
    )
    await report(
        "entry not named by its line's extraction",
        "SELECT e.id, e.line_id FROM entry e LEFT JOIN extraction x ON x.entry_id = e.id"
        " WHERE x.id IS NULL",
        lambda r: f"entry {r['id']} of line {r['line_id']} has no extraction naming it",
    )
    await report(
        "queue tail behind its entries",
        "SELECT q.id, q.key, q.next_seq, MAX(e.seq) AS m FROM queue q JOIN entry e ON e.queue_id = q.id"
        " GROUP BY q.id, q.key, q.next_seq HAVING q.next_seq <= MAX(e.seq)",
        lambda r: f"queue {r['key']} next seq {r['next_seq']} but an entry has seq {r['m']}",
    )
    for column, asset in (
        ("cash_fen", "cash"),
        ("points", "points"),
        ("love_available", "love_available"),
        ("love_frozen", "love_frozen"),
    ):
        await report(
            f"wallet {asset} ≠ its ledger lines",
            f"SELECT w.member_id, w.{column} AS b, COALESCE(SUM(l.amount), 0) AS s FROM wallet w"
            f" LEFT JOIN ledger_line l ON l.member_id = w.member_id AND l.asset = '{asset}'"
            f" GROUP BY w.member_id, w.{column} HAVING w.{column} <> COALESCE(SUM(l.amount), 0)"
            f" OR w.{column} < 0",
            lambda r, a=asset: (
                f"member {r['member_id']} {a} balance {r['b']}, ledger sums to {r['s']}"
            ),
        )
    await report(
        "ledger lines without a wallet",
        "SELECT DISTINCT l.member_id FROM ledger_line l LEFT JOIN wallet w ON w.member_id = l.member_id"
        " WHERE w.member_id IS NULL",
        lambda r: f"member {r['member_id']} has ledger lines but no wallet",
    )
    await report(
        "payout ledger line malformed",
        "SELECT l.id, l.key, l.amount FROM ledger_line l LEFT JOIN entry e ON e.id = l.entry_id"
        " WHERE l.kind = 'payout' AND (l.extraction_id IS NULL OR e.id IS NULL"
        " OR l.member_id <> e.member_id OR l.asset <> 'cash' OR l.amount <= 0"
        " OR l.key <> 'payout:' || CAST(l.extraction_id AS VARCHAR(20)) || ':'"
        " || CAST(l.entry_id AS VARCHAR(20)))",
        lambda r: (
            f"ledger line {r['id']} ({r['key']}) of {r['amount']} is not a payout of an entry to its member"
        ),
    )
    await report(
        "exchanged entry without exactly one exchange ledger line",
        "SELECT e.id, COUNT(l.id) AS n FROM entry e LEFT JOIN ledger_line l"
        " ON l.entry_id = e.id AND l.kind = 'exchange' AND l.member_id = e.member_id"
        " WHERE e.status = 'exchanged' GROUP BY e.id HAVING COUNT(l.id) <> 1",
        lambda r: f"entry {r['id']} is exchanged with {r['n']} exchange ledger lines",
    )
    await report(
        "lottery draw disagrees with its entry",
        "SELECT e.id, e.ratio_bp, e.entitlement_fen, d.new_ratio_bp, d.new_entitlement_fen"
        " FROM entry e LEFT JOIN lottery_draw d ON d.entry_id = e.id"
        " WHERE (e.lottery_drawn = TRUE AND (d.id IS NULL OR d.new_ratio_bp <> e.ratio_bp"
        " OR d.new_entitlement_fen <> e.entitlement_fen))"
        " OR (e.lottery_drawn = FALSE AND d.id IS NOT NULL)",
        lambda r: (
            f"entry {r['id']} has ratio {r['ratio_bp']} / entitlement {r['entitlement_fen']},"
            f" its draw says {r['new_ratio_bp']} / {r['new_entitlement_fen']}"
        ),
    )
    for table, column, target in UNCHECKED_KEYS:
        await report(
            f"{table}.{column} refers to a missing row",
            f"SELECT t.id, t.{column} AS k FROM {table} t LEFT JOIN {target} r ON r.id = t.{column}"
            f" WHERE t.{column} IS NOT NULL AND r.id IS NULL",
            lambda r, t=table, c=column, g=target: f"{t} {r['id']}: {c} {r['k']} is not in {g}",
        )
    for check in await _extra_checks():
        problems.extend(await check())
    return problems


async def _extra_checks() -> list[Any]:
    """Checks of the money other modules own (merchant credits and statements, commissions)."""
    from services.checks.merchants import check_merchant_conservation
    from services.wallets.withdrawals import check_withdrawal_conservation

    return [check_merchant_conservation, check_withdrawal_conservation]


async def totals() -> dict[str, int]:
    """Headline figures for the check's OK line."""
    conn = connections.get("default")
    rows = await fetch(
        conn,
        "SELECT (SELECT COUNT(*) FROM queue) AS queues, (SELECT COUNT(*) FROM entry) AS entries,"
        " (SELECT COALESCE(SUM(amount_fen), 0) FROM extraction) AS extracted,"
        f" (SELECT COALESCE(SUM(amount), 0) FROM ledger_line p WHERE {PAYOUT}) AS paid,"
        " (SELECT COUNT(*) FROM ledger_line) AS ledger_lines",
    )
    return {k: int(v) for k, v in rows[0].items()}
