"""Members (会员) and their levels (会员等级): the operator's ladder, and every change of a
member's level."""

from tortoise import fields
from tortoise.models import Model


class Member(Model):
    """会员: a WeChat user of the mini-program."""

    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    nickname = fields.CharField(max_length=64, default="")
    avatar_url = fields.CharField(max_length=512, default="")
    level = fields.IntField(default=0)  # 会员等级: a MemberLevel's rank, 0 for none
    referrer = fields.ForeignKeyField(
        "models.Member", related_name="referrals", null=True, on_delete=fields.RESTRICT
    )
    referral_code = fields.CharField(max_length=16, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "member"
        indexes = (("referrer_id",), ("level",))  # a level's members: counted, never deleted


class MemberLevel(Model):
    """会员等级 as the operator defines it (``rebate.member_levels.LevelRule``). ``rank`` is what
    ``Member.level`` and the ratio settings' ``level_bp`` hold; no conditions: assigned only."""

    id = fields.IntField(primary_key=True)
    rank = fields.IntField(unique=True)
    name = fields.CharField(max_length=16, unique=True)
    spend_fen = fields.BigIntField(null=True)  # 累计消费（分）within ``days``
    orders = fields.IntField(null=True)  # 完成订单数 within ``days``
    days = fields.IntField(null=True)  # 统计天数; null: ever
    match = fields.CharField(max_length=8, default="all")  # all | any
    updated_by = fields.CharField(max_length=64, default="")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "member_level"


class MemberLevelChange(Model):
    """One change of a member's 会员等级: ``auto`` (conditions met when an order completed) or
    ``operator`` (by hand, with a reason; up or down)."""

    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="level_changes", on_delete=fields.RESTRICT
    )
    from_level = fields.IntField()
    to_level = fields.IntField()
    source = fields.CharField(max_length=16)  # auto | operator
    operator = fields.CharField(max_length=64)  # the operator, or "system"
    reason = fields.CharField(max_length=200)
    detail = fields.JSONField(null=True)  # auto: what was measured, and the completed order
    created_at = fields.DatetimeField()

    class Meta:
        table = "member_level_change"
        indexes = (("member_id", "id"),)
