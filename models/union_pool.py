"""工会排队 (SPEC §11): the union pool's settings, its entries, accelerations and daily closes.

The pool's balance is the ledger's ``pool:union`` account (contributions in, payouts,
accelerations and refunds' take-backs out); these rows say which line, entry and day each
posting belongs to, and ``queue-rebate check`` proves the two agree.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import PartialIndex
from tortoise.models import Model


class PoolEntryStatus(StrEnum):
    WAITING = "waiting"  # 排队中
    PAID = "paid"  # 已分红: its quota paid in full (by closes and accelerations)
    REFUNDED = "refunded"  # its line was refunded: it left the queue, what it got stays paid
    OVER_CEILING = "over_ceiling"  # 排队已满: the ceiling held it out; it gave, and is owed nothing


class PoolConfig(Model):
    """工会排队设置: one row (id 1) holding the settings document
    (``rebate.union_pool_settings.PoolSettings``)."""

    id = fields.IntField(primary_key=True)
    doc = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "union_pool_config"


class PoolEntry(Model):
    """A place in the union pool queue, one per settled line of a pool order, in id order
    (consumption order). ``contribution_fen`` is what its line gave: the part
    that accelerated the buyer's referrer (``accelerated_out_fen``) and the rest, into the
    balance. ``paid_fen`` counts closes' payouts and accelerations received
    (``accelerated_in_fen``); it never exceeds ``quota_fen``. When its line is refunded
    (``refunded_at``) the pool gives back what is still in its balance (``taken_back_fen``) and the
    rest of the contribution is platform cost (``refund_cost_fen``); the first daily close after
    that counts the take-back in its statement (``taken_back_on``)."""

    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="pool_entries", on_delete=fields.RESTRICT
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="pool_entries", on_delete=fields.RESTRICT
    )
    line = fields.OneToOneField(
        "models.OrderLine", related_name="pool_entry", on_delete=fields.RESTRICT
    )
    source = fields.CharField(max_length=8)  # mall | store | cashier
    profit_fen = fields.BigIntField()
    contribution_fen = fields.BigIntField()
    accelerated_out_fen = fields.BigIntField(default=0)
    quota_fen = fields.BigIntField()
    paid_fen = fields.BigIntField(default=0)
    accelerated_in_fen = fields.BigIntField(default=0)
    status = fields.CharEnumField(PoolEntryStatus, max_length=16, default=PoolEntryStatus.WAITING)
    created_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    taken_back_fen = fields.BigIntField(default=0, db_default=0)
    refund_cost_fen = fields.BigIntField(default=0, db_default=0)
    taken_back_on = fields.DateField(null=True)  # the statement that counted the take-back
    told_wait_days = fields.IntField(null=True)  # the projected wait the member last heard of

    class Meta:
        table = "union_pool_entry"
        indexes = (
            # the daily close reads the waiting entries in order; partial, as the share queue's
            PartialIndex(fields=("id",), condition={"status": "waiting"}),
            ("member_id", "status"),  # a member's entries; the referrer's oldest waiting one
            # the trailing inflow of members' estimates and the ceiling: the last 7 / 30 days
            # (1,000,000 entries over 140 days: 116 ms scanned, 7 ms through the index)
            ("created_at",),
        )


class PoolAcceleration(Model):
    """动态加速: a line of a direct referral paid down the oldest waiting entry of the referrer."""

    id = fields.BigIntField(primary_key=True)
    line = fields.OneToOneField(
        "models.OrderLine", related_name="pool_acceleration", on_delete=fields.RESTRICT
    )
    referrer = fields.ForeignKeyField(
        "models.Member", related_name="pool_accelerations", on_delete=fields.RESTRICT
    )
    entry = fields.ForeignKeyField(
        "models.PoolEntry", related_name="accelerations", on_delete=fields.RESTRICT
    )
    amount_fen = fields.BigIntField()
    day = fields.DateField()  # Beijing date, for the per-day cap
    created_at = fields.DatetimeField()

    class Meta:
        table = "union_pool_acceleration"
        indexes = (("referrer_id", "day"),)


class PoolDay(Model):
    """工会返利池日结单: one daily close. It counts the entries and accelerations written since
    the previous close: those with ids above that close's ``last_entry_id`` /
    ``last_acceleration_id``, up to its own — exact, because they are written under the pool's
    shared lock and the close takes it exclusively (``services.pool.settings.lock_pool``).
    ``closing_fen`` = ``opening_fen`` + contributions − accelerated − taken back − paid.

    ``postings_through``: the highest posting id when the close committed. Every posting of the
    pool account is written under the pool's lock, so ``closing_fen`` is the pool's balance over
    the postings up to it, and later balances add only the postings after it
    (``services.pool.balance``; ``queue-rebate check`` verifies the latest). 0: not recorded
    (statements written before it was), the balance is summed from the first posting."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField(unique=True)  # the Beijing date the close is for
    last_entry_id = fields.BigIntField()
    last_acceleration_id = fields.BigIntField()
    closed_at = fields.DatetimeField()
    opening_fen = fields.BigIntField()
    contributed = fields.JSONField()  # {"mall": fen, "store": fen, "cashier": fen}
    accelerated_fen = fields.BigIntField()  # paid out of contributions, never into the balance
    taken_back_fen = fields.BigIntField()
    paid_fen = fields.BigIntField()
    paid_count = fields.IntField()  # entries that left the queue paid in full
    closing_fen = fields.BigIntField()
    waiting_count = fields.BigIntField()
    waiting_owed_fen = fields.BigIntField()
    postings_through = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "union_pool_day"
