from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Asset(StrEnum):
    CASH = "cash"  # 返现钱包 (fen)
    POINTS = "points"  # 积分
    LOVE_AVAILABLE = "love_available"  # 爱心值（可用）
    LOVE_FROZEN = "love_frozen"  # 爱心值（冻结）


class Wallet(Model):
    """A member's balances: caches of the sums of their ledger lines, per asset."""

    member = fields.OneToOneField(
        "models.Member", related_name="wallet", primary_key=True, on_delete=fields.RESTRICT
    )
    cash_fen = fields.BigIntField(default=0)
    points = fields.BigIntField(default=0)
    love_available = fields.BigIntField(default=0)
    love_frozen = fields.BigIntField(default=0)

    class Meta:
        table = "wallet"


class LedgerLine(Model):
    """One immutable movement of value into (+) or out of (−) a member's wallet.

    ``key`` is the idempotency key: the same movement can never be written twice. Keys without
    database constraints, as on Entry (queue-rebate check verifies them).
    """

    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="ledger", on_delete=fields.RESTRICT, db_constraint=False
    )
    asset = fields.CharEnumField(Asset, max_length=16)
    amount = fields.BigIntField()
    kind = fields.CharField(max_length=32)  # payout, random_return, exchange, withdrawal, …
    key = fields.CharField(max_length=96, unique=True)
    order = fields.ForeignKeyField(
        "models.Order",
        related_name="ledger",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    entry = fields.ForeignKeyField(
        "models.Entry",
        related_name="ledger",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    extraction = fields.ForeignKeyField(
        "models.Extraction",
        related_name="ledger",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )  # kind payout: the extraction that paid it (a payout *is* its ledger line, SPEC §1)
    memo = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_line"
        indexes = (("member_id", "asset", "id"),)
