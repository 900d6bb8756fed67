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


class DoublePaymentStatus(StrEnum):
    REFUND_PENDING = "refund_pending"  # to be refunded automatically; WeChat has not accepted yet
    REFUNDING = "refunding"  # WeChat Pay accepted the refund; waiting for its notification
    REFUNDED = "refunded"  # the money went back (posting double_payment_refund:<id>)
    AWAITING_OPERATOR = "awaiting_operator"  # [wechat_pay] double_payment = "alert"
    REFUND_FAILED = "refund_failed"  # WeChat closed the refund or found it abnormal: by hand


class DoublePayment(Model):
    """重复支付: a second WeChat Pay transaction for an order another transaction already paid.
    The order keeps its one payment; this money is owed back to the payer (posting
    ``double_payment:<id>`` into ``platform:double_payments``) until it is refunded, by
    ``transaction_id`` under ``out_refund_no`` (its only refund number, so a retried request is
    the same refund), or by an operator in the merchant platform."""

    id = fields.BigIntField(primary_key=True)
    order = fields.ForeignKeyField(
        "models.Order", related_name="double_payments", on_delete=fields.RESTRICT
    )
    transaction_id = fields.CharField(max_length=64, unique=True)  # the second payment's
    api_version = fields.CharField(max_length=4)  # v2 | v3, of its notification
    amount_fen = fields.BigIntField()
    status = fields.CharEnumField(
        DoublePaymentStatus, max_length=20, default=DoublePaymentStatus.REFUND_PENDING
    )
    out_refund_no = fields.CharField(max_length=64, unique=True)
    refund_id = fields.CharField(max_length=64, default="")  # WeChat's, once it accepted one
    attempts = fields.IntField(default=0)  # refund requests sent to WeChat Pay
    last_error = fields.CharField(max_length=200, default="")
    payload = fields.JSONField()  # the verified notification's fields
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    refunded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "double_payment"
        indexes = (("status", "id"),)  # the ones still to refund; the operators' list by status
