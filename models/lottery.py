from tortoise import fields
from tortoise.models import Model


class LotteryDraw(Model):
    """抽奖记录: the one draw an entry may have (SPEC §5), with what it replaced. The entry is
    unique here, so the database itself refuses a second draw."""

    id = fields.BigIntField(primary_key=True)
    entry = fields.OneToOneField(
        "models.Entry", related_name="lottery_draw", on_delete=fields.RESTRICT
    )
    member = fields.ForeignKeyField(
        "models.Member", related_name="lottery_draws", on_delete=fields.RESTRICT
    )
    mode = fields.CharField(max_length=16)  # fixed | range
    source = fields.CharField(max_length=32)  # the settings layer that offered the lottery
    old_ratio_bp = fields.IntField()
    old_entitlement_fen = fields.BigIntField()
    new_ratio_bp = fields.IntField()
    new_entitlement_fen = fields.BigIntField()
    drawn_at = fields.DatetimeField()

    class Meta:
        table = "lottery_draw"
