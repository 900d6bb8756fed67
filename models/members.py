from tortoise import fields
from tortoise.models import Model


class Member(Model):
    """会员: a WeChat user of the mini-program."""

    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    nickname = fields.CharField(max_length=64, default="")
    avatar_url = fields.CharField(max_length=512, default="")
    level = fields.IntField(default=0)  # 会员等级
    referrer = fields.ForeignKeyField(
        "models.Member", related_name="referrals", null=True, on_delete=fields.RESTRICT
    )
    referral_code = fields.CharField(max_length=16, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "member"
        indexes = (("referrer_id",),)
