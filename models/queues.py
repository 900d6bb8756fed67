from enum import StrEnum

from tortoise import fields
from tortoise.indexes import PartialIndex
from tortoise.models import Model


class EntryStatus(StrEnum):
    WAITING = "waiting"  # 排队中
    COMPLETED = "completed"  # 已完成: paid in full, or converted to points by random return
    REFUNDED = "refunded"  # its line was refunded after settlement; remainder forfeited
    EXCHANGED = "exchanged"  # 已兑换 to points / love value
    CLEARED = "cleared"  # 已清零 by scheduled clearing


class Queue(Model):
    """队列. Keeps its own tail (``next_seq``) and counters so that settling one order never
    scans the queue. The counters are caches of sums that ``queue-rebate check`` verifies."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)  # mall, product:<id>, stores, store:<id>…
    next_seq = fields.BigIntField(default=1)
    waiting_count = fields.BigIntField(default=0)
    extracted_fen = fields.BigIntField(default=0)
    paid_fen = fields.BigIntField(default=0)
    withheld_fen = fields.BigIntField(default=0)  # extracted while 队列奖励暂停
    unallocated_fen = fields.BigIntField(default=0)  # extracted when no eligible entry waited
    rr_size = fields.IntField(default=0)  # random-return group cursor (SPEC §6)
    rr_slots = fields.CharField(max_length=255, default="")
    rr_index = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "queue"


class Entry(Model):
    """排队权益: one place in a queue, created by one settled line.

    No foreign-key constraints in the database (``db_constraint=False``) on the tables the queue
    writer fills (entry, extraction, posting, outbox_event): every key it writes is
    copied from a pending settlement row, whose keys come from the order its enqueueing
    transaction held locked and the queue it found, and nothing referenced is ever deleted. A
    per-row check would cost the writer an index probe per key (~19 per order, half its
    database time, issue 3). ``queue-rebate check`` verifies every such reference instead
    (services.checks.queues, "refers to a missing row").
    """

    id = fields.BigIntField(primary_key=True)
    queue = fields.ForeignKeyField(
        "models.Queue", related_name="entries", on_delete=fields.RESTRICT, db_constraint=False
    )
    seq = fields.BigIntField()
    member = fields.ForeignKeyField(
        "models.Member", related_name="entries", on_delete=fields.RESTRICT, db_constraint=False
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="entries", on_delete=fields.RESTRICT, db_constraint=False
    )
    # No index of its own: a line's entry is found through the line's extraction
    # (extraction(line_id) is unique, and it names the entry it created).
    line = fields.ForeignKeyField(
        "models.OrderLine", related_name="entries", on_delete=fields.RESTRICT, db_constraint=False
    )
    target = fields.CharField(max_length=32)  # product:<id> | store:<id> | cashier:<id>
    day = fields.CharField(max_length=10)  # local date of payment, for 奖励限制
    base_fen = fields.BigIntField()
    ratio_bp = fields.IntField()
    ratio_source = fields.CharField(max_length=32)
    entitlement_fen = fields.BigIntField()
    paid_fen = fields.BigIntField(default=0)
    status = fields.CharEnumField(EntryStatus, max_length=16, default=EntryStatus.WAITING)
    order_completed = fields.BooleanField(default=False)
    points = fields.BigIntField(default=0)  # > 0: converted to points (random return / exchange)
    lottery = fields.JSONField(null=True)  # the lottery it may draw on, if any
    lottery_drawn = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "entry"
        # No unique (queue_id, seq): the writer alone gives places, from the queue's tail under
        # its lock, and updates entries by id; queue-rebate check reports two entries in one
        # place. Each index here costs the writer an insert per new entry and per entry that
        # stops waiting (issue 3).
        indexes = (
            # The head of a queue: its waiting entries in order. Partial, so an entry leaves it
            # when it stops waiting, and it stays as small as the queue's waiting part.
            PartialIndex(fields=("queue_id", "seq"), condition={"status": "waiting"}),
            ("member_id", "target", "day"),  # a member's entries; 奖励限制 counts
            # No index on order_id: completing an order finds its entries through its lines'
            # extractions (order_line(order_id), extraction(line_id), then entry_id), so the
            # writer maintains one index less.
        )


class PendingSettlement(Model):
    """A line waiting for its queue's writer: the queue's backlog.

    Written when the order settles (paid or completed). The writer applies the rows of a queue
    in id order and deletes each in the transaction that applies it, so every row is applied
    exactly once, and what stays here is only what is still waiting. An applied line is
    recorded by its extraction (and entry), which carry its line id and the time it settled.

    Keys without database constraints, as on Entry: they are copied from the order that the
    enqueueing transaction holds locked (its id, member and lines) and from the queue it found
    or created, and nothing referenced is ever deleted. A constraint would check each key per
    row and lock the referenced rows — the queue's row, which its writer holds, among them —
    at several times the cost of storing the row (issue 3); ``queue-rebate check`` verifies
    these keys instead. ``line_id`` stays unique: a line is enqueued once.
    """

    id = fields.BigIntField(primary_key=True)
    queue = fields.ForeignKeyField(
        "models.Queue", related_name="pending", on_delete=fields.RESTRICT, db_constraint=False
    )
    line = fields.OneToOneField(
        "models.OrderLine", related_name="pending", on_delete=fields.RESTRICT, db_constraint=False
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="pending", on_delete=fields.RESTRICT, db_constraint=False
    )
    member = fields.ForeignKeyField(
        "models.Member", related_name="pending", on_delete=fields.RESTRICT, db_constraint=False
    )
    extraction_fen = fields.BigIntField()
    joins = fields.BooleanField()
    skip_reason = fields.CharField(max_length=32, default="")
    base_fen = fields.BigIntField()
    ratio_bp = fields.IntField()
    ratio_source = fields.CharField(max_length=32)
    entitlement_fen = fields.BigIntField()
    lottery = fields.JSONField(null=True)
    target = fields.CharField(max_length=32)
    day = fields.CharField(max_length=10)
    limit_per_day = fields.IntField(null=True)
    limit_total = fields.IntField(null=True)
    rr_cash = fields.IntField(default=0)  # 随机返 group in force for this line (0/0: off)
    rr_points = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pending_settlement"
        indexes = (("queue_id", "id"),)


class Extraction(Model):
    """提取: what one settled line gave its queue. ``amount = paid + withheld + unallocated``.

    One per line (unique ``line_id``: a line settles exactly once), naming the entry the line
    created, if any. Its payouts are the ``payout`` postings that carry its id. Keys without
    database constraints, as on Entry."""

    id = fields.BigIntField(primary_key=True)
    queue = fields.ForeignKeyField(
        "models.Queue", related_name="extractions", on_delete=fields.RESTRICT, db_constraint=False
    )
    line = fields.OneToOneField(
        "models.OrderLine",
        related_name="extraction",
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="extractions", on_delete=fields.RESTRICT, db_constraint=False
    )
    entry = fields.ForeignKeyField(
        "models.Entry",
        related_name="extractions",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )  # the entry this line's settlement created (None: it joined no queue)
    amount_fen = fields.BigIntField()
    paid_fen = fields.BigIntField()
    withheld_fen = fields.BigIntField()
    unallocated_fen = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "extraction"
        # Found by line only (refunds, completion through the order's lines); queue totals are
        # sums over the whole table, so no other index is worth the writer's insert.
