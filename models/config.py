from tortoise import fields
from tortoise.models import Model


class RebateConfig(Model):
    """排队返利插件基础设置: one row (id 1), a BaseSettings document."""

    id = fields.IntField(primary_key=True)
    base = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "rebate_config"
