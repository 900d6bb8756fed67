"""提现: a member's request to move cash-wallet money to their WeChat change (零钱)."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class WithdrawalStatus(StrEnum):
    REQUESTED = "requested"  # 待审核: the amount is held (posting withdrawal_hold:<id>)
    PAYING = "paying"  # 已批准: the transfer bill is sent or its outcome is being asked
    SUCCEEDED = "succeeded"  # 已到账
    FAILED = "failed"  # the transfer definitely failed: the hold is released
    REJECTED = "rejected"  # an operator refused it (with a reason): the hold is released


class Withdrawal(Model):
    """One withdrawal request. Its amount leaves the cash wallet when requested (ledger line
    ``withdrawal_hold:<id>``) and comes back only if it is rejected or the transfer definitely
    fails (``withdrawal_release:<id>``). ``out_bill_no`` is its only 商家转账 bill number."""

    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="withdrawals", on_delete=fields.RESTRICT
    )
    amount_fen = fields.BigIntField()
    day = fields.CharField(max_length=10)  # Beijing date of the request (daily cap)
    status = fields.CharEnumField(
        WithdrawalStatus, max_length=16, default=WithdrawalStatus.REQUESTED
    )
    out_bill_no = fields.CharField(max_length=32, unique=True)
    openid = fields.CharField(max_length=64)  # the payee, as of the request
    transfer_state = fields.CharField(max_length=20, default="")  # WeChat's bill state, if known
    transfer_bill_no = fields.CharField(max_length=64, default="")
    package_info = fields.CharField(max_length=1024, default="")  # for wx.requestMerchantTransfer
    fail_reason = fields.CharField(max_length=64, default="")
    reject_reason = fields.CharField(max_length=80, default="")
    decided_by = fields.CharField(max_length=64, default="")
    requested_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "withdrawal"
        indexes = (("member_id", "id"), ("member_id", "day"), ("status", "id"))
