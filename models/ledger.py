from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Asset(StrEnum):
    CASH = "cash"  # 返现钱包 (fen)
    POINTS = "points"  # 积分
    LOVE_AVAILABLE = "love_available"  # 爱心值（可用）
    LOVE_FROZEN = "love_frozen"  # 爱心值（冻结）


class Wallet(Model):
    """A member's balances: caches of their accounts' balances in the ledger (``ledger.accounts``:
    ``member:<id>:cash`` …), moved in the same transaction as the postings."""

    member = fields.OneToOneField(
        "models.Member", related_name="wallet", primary_key=True, on_delete=fields.RESTRICT
    )
    cash_fen = fields.BigIntField(default=0)
    points = fields.BigIntField(default=0)
    love_available = fields.BigIntField(default=0)
    love_frozen = fields.BigIntField(default=0)

    class Meta:
        table = "wallet"


class Posting(Model):
    """One movement of value from the ``debit`` account to the ``credit`` account (see
    ``ledger.accounts``): ``amount`` (> 0) of ``unit`` (cash fen, points or love value). Written
    only through ``ledger.postings.post`` (or its COPY twin, ``ledger.bulk``); never changed.

    ``key`` is the idempotency key: the same movement is never written twice. The order, entry
    and extraction it belongs to are keys without database constraints, as on Entry
    (``queue-rebate check`` verifies them). An account's postings are found through the two
    indexes that lead with it.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=96, unique=True)
    kind = fields.CharField(max_length=32)  # payout, extraction, exchange, commission, …
    debit = fields.CharField(max_length=48)
    credit = fields.CharField(max_length=48)
    unit = fields.CharField(max_length=8)  # cash | points | love
    amount = fields.BigIntField()
    order = fields.ForeignKeyField(
        "models.Order",
        related_name="postings",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    entry = fields.ForeignKeyField(
        "models.Entry",
        related_name="postings",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    extraction = fields.ForeignKeyField(
        "models.Extraction",
        related_name="postings",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )  # kind payout: the extraction that paid it (a payout *is* its posting, SPEC §1)
    memo = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "posting"
        indexes = (("debit", "id"), ("credit", "id"))
