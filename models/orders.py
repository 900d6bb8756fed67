from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from rebate.settings import OrderSource


class OrderStatus(StrEnum):
    CREATED = "created"  # awaiting payment
    PAID = "paid"
    COMPLETED = "completed"  # receipt confirmed (or auto-completed)
    REFUNDED = "refunded"  # every line refunded
    CLOSED = "closed"  # never paid


class LineStatus(StrEnum):
    OPEN = "open"  # not settled yet
    SETTLING = "settling"  # enqueued for its queue's writer
    SETTLED = "settled"
    REFUNDED = "refunded"


class Order(Model):
    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="orders", on_delete=fields.RESTRICT
    )
    source = fields.CharEnumField(OrderSource, max_length=16)
    store = fields.ForeignKeyField(
        "models.Store", related_name="orders", null=True, on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.CREATED)
    out_trade_no = fields.CharField(max_length=32, unique=True)
    total_fen = fields.BigIntField()  # price of the goods
    deduction_fen = fields.BigIntField(default=0)  # paid with points / love value (抵扣)
    deduction_points = fields.BigIntField(default=0, db_default=0)  # the points that paid it
    deduction_love = fields.BigIntField(default=0, db_default=0)  # available love value used
    paid_fen = fields.BigIntField()  # cash actually paid
    paid_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # 会员等级 of the member when the order was placed: the ratio chain's level (SPEC §5);
    # null for orders placed before it was recorded (they use the member's level at settlement)
    member_level = fields.IntField(null=True)
    # the client's Idempotency-Key: a retried POST /api/orders finds this order, not a new one
    idempotency_key = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "orders"
        unique_together = (("member_id", "idempotency_key"),)
        # cumulative-spend tiers (SPEC §5) sum a member's completed orders by source / store
        indexes = (("member_id", "status", "completed_at"), ("store_id", "status", "completed_at"))


class OrderLine(Model):
    id = fields.BigIntField(primary_key=True)
    order = fields.ForeignKeyField("models.Order", related_name="lines", on_delete=fields.CASCADE)
    product = fields.ForeignKeyField(
        "models.Product", related_name="lines", null=True, on_delete=fields.RESTRICT
    )  # null for a cashier payment
    quantity = fields.IntField(default=1)
    paid_fen = fields.BigIntField()
    deduction_fen = fields.BigIntField(default=0)
    status = fields.CharEnumField(LineStatus, max_length=16, default=LineStatus.OPEN)
    refunded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "order_line"
        indexes = (("order_id",),)  # an order's lines: every payment, completion and refund
