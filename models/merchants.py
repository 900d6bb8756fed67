"""Merchants (SPEC §8): invites, applications, approved merchants, the commission guardrail's
audit, and merchant settlement (store credits, statements, transfers)."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class MerchantInvite(Model):
    """A merchant-invite QR's opaque token (scene ``m:<token>``). ``inviter`` earns 招商,
    null when an operator made the invite."""

    id = fields.BigIntField(primary_key=True)
    token = fields.CharField(max_length=24, unique=True)
    inviter = fields.ForeignKeyField(
        "models.Member", related_name="merchant_invites", null=True, on_delete=fields.RESTRICT
    )
    created_by = fields.CharField(max_length=64)  # member:<id> | operator:<name>
    created_at = fields.DatetimeField()

    class Meta:
        table = "merchant_invite"


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class MerchantApplication(Model):
    """商家入驻申请, filed by the member who scanned an invite."""

    id = fields.BigIntField(primary_key=True)
    applicant = fields.ForeignKeyField(
        "models.Member", related_name="merchant_applications", on_delete=fields.RESTRICT
    )
    invite = fields.ForeignKeyField(
        "models.MerchantInvite", related_name="applications", null=True, on_delete=fields.RESTRICT
    )
    inviter = fields.ForeignKeyField(
        "models.Member", related_name="invited_applications", null=True, on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=64)
    contact = fields.CharField(max_length=32)
    phone = fields.CharField(max_length=11)
    licence_no = fields.CharField(max_length=18)
    address = fields.CharField(max_length=128)
    category = fields.CharField(max_length=32)
    status = fields.CharEnumField(
        ApplicationStatus, max_length=16, default=ApplicationStatus.PENDING
    )
    reject_reason = fields.CharField(max_length=200, default="")
    commission_bp = fields.IntField(null=True)
    store = fields.ForeignKeyField(
        "models.Store", related_name="applications", null=True, on_delete=fields.RESTRICT
    )
    decided_by = fields.CharField(max_length=64, default="")
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "merchant_application"
        indexes = (("applicant_id", "status"), ("status", "id"))


class Merchant(Model):
    """An approved merchant: who owns the store (and receives its statements) and who invited it."""

    store = fields.OneToOneField(
        "models.Store", related_name="merchant", primary_key=True, on_delete=fields.RESTRICT
    )
    owner = fields.ForeignKeyField(
        "models.Member", related_name="owned_merchants", on_delete=fields.RESTRICT
    )
    inviter = fields.ForeignKeyField(
        "models.Member", related_name="invited_merchants", null=True, on_delete=fields.RESTRICT
    )
    application = fields.OneToOneField(
        "models.MerchantApplication", related_name="merchant", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "merchant"


class GuardrailAck(Model):
    """An operator's explicit acknowledgement that a store's payouts exceed its commission:
    who, when, what for, and the numbers they saw."""

    id = fields.BigIntField(primary_key=True)
    store = fields.ForeignKeyField(
        "models.Store", related_name="guardrail_acks", on_delete=fields.RESTRICT
    )
    operator = fields.CharField(max_length=64)
    context = fields.CharField(max_length=32)  # approve | commission | distribution_settings
    commission_bp = fields.IntField()
    payout_bp = fields.IntField()
    numbers = fields.JSONField()
    acknowledged_at = fields.DatetimeField()

    class Meta:
        table = "guardrail_ack"


class CreditKind(StrEnum):
    CREDIT = "credit"  # a settled order: paid − commission
    CLAWBACK = "clawback"  # a refund after the order's credit was already on a statement


class CreditStatus(StrEnum):
    OPEN = "open"  # waiting for a statement
    REVERSED = "reversed"  # refunded in full before any statement took it
    STATED = "stated"  # on a statement; never changes again


class StoreCredit(Model):
    """What a store is owed for one settled store / cashier order (``credit:<order id>``), or
    what it gives back for a line refunded after that credit was stated (``clawback:<line id>``,
    negative). A statement's lines are the credits that point at it."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=48, unique=True)
    store = fields.ForeignKeyField(
        "models.Store", related_name="credits", on_delete=fields.RESTRICT
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="store_credits", on_delete=fields.RESTRICT
    )
    line = fields.ForeignKeyField(
        "models.OrderLine", related_name="store_credits", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(CreditKind, max_length=16)
    paid_fen = fields.BigIntField()  # the order's paid amount (clawback: the refunded part, < 0)
    commission_bp = fields.IntField()
    commission_fen = fields.BigIntField()
    amount_fen = fields.BigIntField()  # paid − commission (clawback: < 0)
    status = fields.CharEnumField(CreditStatus, max_length=16, default=CreditStatus.OPEN)
    statement = fields.ForeignKeyField(
        "models.Statement", related_name="credits", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "store_credit"
        indexes = (("store_id", "status", "created_at"), ("statement_id",), ("order_id",))


class StatementStatus(StrEnum):
    UNPAID = "unpaid"  # closed, payout not started
    PAYING = "paying"  # a transfer is in flight (or its outcome is unknown)
    PAID = "paid"
    MANUAL = "manual"  # above the single-transfer cap, or no payee: an operator pays it


class Statement(Model):
    """结算单: one per store per closing day, ``total_fen`` is exactly Σ its credits."""

    id = fields.BigIntField(primary_key=True)
    store = fields.ForeignKeyField(
        "models.Store", related_name="statements", on_delete=fields.RESTRICT
    )
    period = fields.CharField(max_length=10)  # closing day, Beijing date
    cutoff = fields.DatetimeField()  # credits created before this moment
    total_fen = fields.BigIntField()
    credit_count = fields.IntField()
    status = fields.CharEnumField(StatementStatus, max_length=16, default=StatementStatus.UNPAID)
    note = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "statement"
        unique_together = (("store_id", "period"),)
        indexes = (("status", "id"),)


class TransferState(StrEnum):
    """商家转账 bill states, plus ``requested``: sent, no answer seen yet."""

    REQUESTED = "requested"
    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
    TRANSFERING = "TRANSFERING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"


class MerchantTransfer(Model):
    """One 商家转账 attempt for a statement. ``out_bill_no`` is ``MS<statement>N<attempt>``,
    a new attempt exists only after the previous one is definitely failed (FAIL / CANCELLED)."""

    id = fields.BigIntField(primary_key=True)
    statement = fields.ForeignKeyField(
        "models.Statement", related_name="transfers", on_delete=fields.RESTRICT
    )
    attempt = fields.IntField()
    out_bill_no = fields.CharField(max_length=32, unique=True)
    amount_fen = fields.BigIntField()
    openid = fields.CharField(max_length=64)
    state = fields.CharEnumField(TransferState, max_length=20, default=TransferState.REQUESTED)
    transfer_bill_no = fields.CharField(max_length=64, default="")
    package_info = fields.CharField(max_length=1024, default="")
    fail_reason = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "merchant_transfer"
        unique_together = (("statement_id", "attempt"),)
