"""Operator settings documents that are not the engine's, and the audit trail of every change."""

from tortoise import fields
from tortoise.models import Model


class SettingDoc(Model):
    """A settings document of its own (member display and names, withdrawals), one row each."""

    name = fields.CharField(max_length=32, primary_key=True)
    config = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "setting_doc"


class AuditLog(Model):
    """One operator change: who, when, what (section and target), the old and the new value."""

    id = fields.BigIntField(primary_key=True)
    operator = fields.CharField(max_length=64)
    section = fields.CharField(max_length=32)  # base, clearing, display, product, withdrawal…
    target = fields.CharField(max_length=64, default="")  # product:<id>, store:<id>, …
    old = fields.JSONField(null=True)
    new = fields.JSONField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_log"
        indexes = (("section", "target", "id"),)
