"""Conservation of the queues (SPEC §2), checked over the whole database.

For every extraction: its parts add up and its payouts sum to its paid part. For every queue:
Σ extractions = Σ payouts + Σ withheld + unallocated, its cached counters agree with the rows,
its pool's postings say the same (each batch's extractions in from sales, ``extraction:<first
extraction id>``; its payouts, withheld and unallocated amounts out), and the pool balances to
zero. For every entry: 0 ≤ paid ≤ entitlement, paid = Σ its payouts, and its status agrees. A
payout is the posting of kind ``payout`` from the queue's pool to the member's cash that carries
its extraction and entry.
"""

from __future__ import annotations

from ledger.accounts import SALES, UNALLOCATED, WITHHELD
from services.checks.report import Finding, account, findings

PAYOUT = "p.kind = 'payout'"  # a payout is the posting of this kind (alias p)
POOL = account("queue", "q.id")

EXTRACTIONS = (
    Finding(
        "extraction parts do not add up",
        "SELECT id, amount_fen, paid_fen, withheld_fen, unallocated_fen FROM extraction"
        " WHERE amount_fen <> paid_fen + withheld_fen + unallocated_fen OR paid_fen < 0"
        " OR withheld_fen < 0 OR unallocated_fen < 0",
        lambda r: (
            f"extraction {r['id']} amount {r['amount_fen']} ≠ paid {r['paid_fen']}"
            f" + withheld {r['withheld_fen']} + unallocated {r['unallocated_fen']}"
        ),
    ),
    Finding(
        "extraction paid ≠ its payouts",
        "SELECT x.id, x.paid_fen, COALESCE(SUM(p.amount), 0) AS s FROM extraction x"
        f" LEFT JOIN posting p ON p.extraction_id = x.id AND {PAYOUT}"
        " GROUP BY x.id, x.paid_fen HAVING x.paid_fen <> COALESCE(SUM(p.amount), 0)",
        lambda r: f"extraction {r['id']} paid {r['paid_fen']}, payouts sum to {r['s']}",
    ),
)

QUEUES = (
    Finding(
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
    ),
    Finding(
        "queue pool's postings ≠ its extractions",
        "SELECT q.id, q.key, q.extracted_fen, q.paid_fen, q.withheld_fen, q.unallocated_fen,"
        " COALESCE(t.x, 0) AS x, COALESCE(t.p, 0) AS p, COALESCE(t.w, 0) AS w,"
        " COALESCE(t.u, 0) AS u FROM queue q LEFT JOIN (SELECT account,"
        " SUM(CASE WHEN kind = 'extraction' THEN amount ELSE 0 END) AS x,"
        " SUM(CASE WHEN kind = 'payout' THEN amount ELSE 0 END) AS p,"
        " SUM(CASE WHEN kind = 'withheld' THEN amount ELSE 0 END) AS w,"
        " SUM(CASE WHEN kind = 'unallocated' THEN amount ELSE 0 END) AS u FROM"
        " (SELECT credit AS account, kind, amount FROM posting WHERE credit LIKE 'queue:%'"
        " UNION ALL SELECT debit AS account, kind, amount FROM posting WHERE debit LIKE 'queue:%')"
        f" AS moves GROUP BY account) AS t ON t.account = {POOL}"
        " WHERE COALESCE(t.x, 0) <> q.extracted_fen OR COALESCE(t.p, 0) <> q.paid_fen"
        " OR COALESCE(t.w, 0) <> q.withheld_fen OR COALESCE(t.u, 0) <> q.unallocated_fen",
        lambda r: (
            f"queue {r['key']} says extracted/paid/withheld/unallocated ="
            f" {r['extracted_fen']}/{r['paid_fen']}/{r['withheld_fen']}/{r['unallocated_fen']},"
            f" its pool's postings say {r['x']}/{r['p']}/{r['w']}/{r['u']}"
        ),
    ),
    Finding(
        "pool posting malformed",
        "SELECT p.id, p.key FROM posting p LEFT JOIN extraction x ON x.id = p.extraction_id"
        " WHERE p.kind IN ('extraction', 'withheld', 'unallocated') AND (x.id IS NULL"
        " OR p.key <> p.kind || ':' || CAST(p.extraction_id AS VARCHAR(20))"
        f" OR (p.kind = 'extraction' AND (p.debit <> '{SALES}'"
        f" OR p.credit <> {account('queue', 'x.queue_id')}))"
        f" OR (p.kind = 'withheld' AND (p.debit <> {account('queue', 'x.queue_id')}"
        f" OR p.credit <> '{WITHHELD}'))"
        f" OR (p.kind = 'unallocated' AND (p.debit <> {account('queue', 'x.queue_id')}"
        f" OR p.credit <> '{UNALLOCATED}')))",
        lambda r: (
            f"posting {r['id']} ({r['key']}) does not move its first extraction's batch"
            " between sales, that extraction's queue and withheld / unallocated"
        ),
    ),
    Finding(
        "queue pool does not balance",
        "SELECT account, SUM(amount) AS balance FROM (SELECT credit AS account, amount"
        " FROM posting WHERE credit LIKE 'queue:%' UNION ALL SELECT debit AS account, -amount"
        " FROM posting WHERE debit LIKE 'queue:%') AS moves GROUP BY account"
        " HAVING SUM(amount) <> 0",
        lambda r: (
            f"{r['account']} holds {r['balance']} after its payouts, withheld and unallocated"
        ),
    ),
    *(
        Finding(
            f"{name} ≠ the queues' {column}",
            f"SELECT queues, books FROM (SELECT (SELECT COALESCE(SUM({column}), 0) FROM queue)"
            f" AS queues, (SELECT COALESCE(SUM(amount), 0) FROM posting WHERE credit = '{target}')"
            f" - (SELECT COALESCE(SUM(amount), 0) FROM posting WHERE debit = '{target}') AS books)"
            " AS t WHERE queues <> books",
            lambda r, name=name: f"{name} holds {r['books']}, the queues say {r['queues']}",
        )
        for name, column, target in (
            (WITHHELD, "withheld_fen", WITHHELD),
            (UNALLOCATED, "unallocated_fen", UNALLOCATED),
        )
    ),
    Finding(
        "queue waiting count is stale",
        "SELECT q.id, q.key, q.waiting_count, COUNT(e.id) AS n FROM queue q"
        " LEFT JOIN entry e ON e.queue_id = q.id AND e.status = 'waiting'"
        " GROUP BY q.id, q.key, q.waiting_count HAVING q.waiting_count <> COUNT(e.id)",
        lambda r: f"queue {r['key']} says {r['waiting_count']} waiting, rows say {r['n']}",
    ),
    Finding(
        "two entries in one place of a queue",
        "SELECT queue_id, seq, COUNT(*) AS n FROM entry GROUP BY queue_id, seq HAVING COUNT(*) > 1",
        lambda r: f"queue {r['queue_id']} has {r['n']} entries at seq {r['seq']}",
    ),
    Finding(
        "queue tail behind its entries",
        "SELECT q.id, q.key, q.next_seq, MAX(e.seq) AS m FROM queue q JOIN entry e"
        " ON e.queue_id = q.id GROUP BY q.id, q.key, q.next_seq HAVING q.next_seq <= MAX(e.seq)",
        lambda r: f"queue {r['key']} next seq {r['next_seq']} but an entry has seq {r['m']}",
    ),
)

ENTRIES = (
    Finding(
        "entry paid out of bounds",
        "SELECT id, paid_fen, entitlement_fen FROM entry"
        " WHERE paid_fen < 0 OR paid_fen > entitlement_fen",
        lambda r: f"entry {r['id']} paid {r['paid_fen']} of entitlement {r['entitlement_fen']}",
    ),
    Finding(
        "entry paid ≠ its payouts",
        "SELECT e.id, e.paid_fen, COALESCE(SUM(p.amount), 0) AS s FROM entry e"
        f" LEFT JOIN posting p ON p.entry_id = e.id AND {PAYOUT}"
        " GROUP BY e.id, e.paid_fen HAVING e.paid_fen <> COALESCE(SUM(p.amount), 0)",
        lambda r: f"entry {r['id']} paid {r['paid_fen']}, payouts sum to {r['s']}",
    ),
    Finding(
        "entry status disagrees with its payouts",
        "SELECT id, status, paid_fen, entitlement_fen FROM entry WHERE"
        " (status = 'waiting' AND paid_fen >= entitlement_fen)"
        " OR (status = 'completed' AND points = 0 AND paid_fen <> entitlement_fen)",
        lambda r: (
            f"entry {r['id']} is {r['status']} with {r['paid_fen']} of {r['entitlement_fen']}"
        ),
    ),
    Finding(
        "extraction names another line's entry",
        "SELECT x.id, x.line_id, e.id AS entry_id, e.line_id AS entry_line FROM extraction x"
        " JOIN entry e ON e.id = x.entry_id WHERE e.line_id <> x.line_id OR e.queue_id <> x.queue_id",
        lambda r: (
            f"extraction {r['id']} of line {r['line_id']} names entry {r['entry_id']}"
            f" of line {r['entry_line']}"
        ),
    ),
    Finding(
        "entry not named by its line's extraction",
        "SELECT e.id, e.line_id FROM entry e LEFT JOIN extraction x ON x.entry_id = e.id"
        " WHERE x.id IS NULL",
        lambda r: f"entry {r['id']} of line {r['line_id']} has no extraction naming it",
    ),
    Finding(
        "payout posting malformed",
        "SELECT p.id, p.key, p.amount FROM posting p LEFT JOIN entry e ON e.id = p.entry_id"
        f" WHERE {PAYOUT} AND (p.extraction_id IS NULL OR e.id IS NULL"
        f" OR p.credit <> {account('member', 'e.member_id', 'cash')}"
        f" OR p.debit <> {account('queue', 'e.queue_id')} OR p.unit <> 'cash'"
        " OR p.key <> 'payout:' || CAST(p.extraction_id AS VARCHAR(20)) || ':'"
        " || CAST(p.entry_id AS VARCHAR(20)))",
        lambda r: (
            f"posting {r['id']} ({r['key']}) of {r['amount']} is not a payout of an entry"
            " from its queue's pool to its member"
        ),
    ),
    Finding(
        "entry turned into points without exactly its posting",
        "SELECT e.id, e.status, e.points, COUNT(p.id) AS n, COALESCE(SUM(p.amount), 0) AS s"
        " FROM entry e LEFT JOIN posting p ON p.entry_id = e.id"
        " AND p.kind IN ('random_return', 'exchange') AND p.unit = 'points'"
        f" AND p.credit = {account('member', 'e.member_id', 'points')}"
        " WHERE e.points > 0 OR p.id IS NOT NULL GROUP BY e.id, e.status, e.points"
        " HAVING COUNT(p.id) <> 1 OR COALESCE(SUM(p.amount), 0) <> e.points",
        lambda r: (
            f"entry {r['id']} ({r['status']}) says {r['points']} points,"
            f" {r['n']} postings give {r['s']}"
        ),
    ),
    Finding(
        "exchanged entry without exactly one exchange posting",
        "SELECT e.id, COUNT(p.id) AS n FROM entry e LEFT JOIN posting p"
        " ON p.entry_id = e.id AND p.kind = 'exchange'"
        f" AND p.credit LIKE {account('member', 'e.member_id')} || ':%'"
        " WHERE e.status = 'exchanged' GROUP BY e.id HAVING COUNT(p.id) <> 1",
        lambda r: f"entry {r['id']} is exchanged with {r['n']} exchange postings",
    ),
    Finding(
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
    ),
)


async def check_queues() -> list[str]:
    return await findings((*EXTRACTIONS, *QUEUES, *ENTRIES))
