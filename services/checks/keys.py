"""Keys without database constraints (the queue writer's tables and the postings carry none:
models.queues.Entry) must still refer to existing rows."""

from __future__ import annotations

from services.checks.report import Finding, findings

# (table, key column, referenced table)
UNCHECKED_KEYS = (
    ("entry", "queue_id", "queue"),
    ("entry", "member_id", "member"),
    ("entry", "order_id", "orders"),
    ("entry", "line_id", "order_line"),
    ("extraction", "queue_id", "queue"),
    ("extraction", "line_id", "order_line"),
    ("extraction", "order_id", "orders"),
    ("extraction", "entry_id", "entry"),
    ("posting", "order_id", "orders"),
    ("posting", "entry_id", "entry"),
    ("posting", "extraction_id", "extraction"),
    ("outbox_event", "member_id", "member"),
    ("pending_settlement", "queue_id", "queue"),
    ("pending_settlement", "line_id", "order_line"),
    ("pending_settlement", "order_id", "orders"),
    ("pending_settlement", "member_id", "member"),
)

REFERENCES = tuple(
    Finding(
        f"{table}.{column} refers to a missing row",
        f"SELECT t.id, t.{column} AS k FROM {table} t LEFT JOIN {target} r ON r.id = t.{column}"
        f" WHERE t.{column} IS NOT NULL AND r.id IS NULL",
        lambda r, t=table, c=column, g=target: f"{t} {r['id']}: {c} {r['k']} is not in {g}",
    )
    for table, column, target in UNCHECKED_KEYS
)


async def check_keys() -> list[str]:
    return await findings(REFERENCES)
