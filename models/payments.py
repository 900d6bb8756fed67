from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class PaymentNotice(Model):
    """A WeChat Pay notification that took effect. Its unique key makes a retried or duplicated
    notification a no-op: it is inserted in the same transaction as its effect."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=96, unique=True)  # pay:<transaction_id> | refund:<refund_id>
    api_version = fields.CharField(max_length=4)  # v2 | v3
    order = fields.ForeignKeyField(
        "models.Order", related_name="notices", on_delete=fields.RESTRICT
    )
    amount_fen = fields.BigIntField()
    payload = fields.JSONField()  # the verified, decrypted fields we acted on
    received_at = fields.DatetimeField()

    class Meta:
        table = "payment_notice"


class RefundStatus(StrEnum):
    REQUESTED = "requested"  # asked WeChat Pay; waiting for its notification
    SUCCEEDED = "succeeded"  # applied: the line left its queue per SPEC §4
    FAILED = "failed"


class Refund(Model):
    """退款: one refund of one order line, identified to WeChat Pay by ``out_refund_no``."""

    id = fields.BigIntField(primary_key=True)
    order = fields.ForeignKeyField(
        "models.Order", related_name="refunds", on_delete=fields.RESTRICT
    )
    line = fields.ForeignKeyField(
        "models.OrderLine", related_name="refunds", on_delete=fields.RESTRICT
    )
    out_refund_no = fields.CharField(max_length=64, unique=True)
    amount_fen = fields.BigIntField()
    status = fields.CharEnumField(RefundStatus, max_length=16, default=RefundStatus.REQUESTED)
    reason = fields.CharField(max_length=80, default="")
    requested_by = fields.CharField(max_length=32, default="member")  # member | operator
    requested_at = fields.DatetimeField(auto_now_add=True)
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refund"
        indexes = (("order_id",),)  # an order's refunds (the member's order view)
