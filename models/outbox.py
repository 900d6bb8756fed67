from tortoise import fields
from tortoise.models import Model

from models.fields import JSONTextField


class OutboxEvent(Model):
    """A domain event, written in the same transaction as the money it describes, for the chat
    bot to deliver later (SPEC §9). Delivery never rolls money back. Its member key has no
    database constraint, as on Entry (queue-rebate check verifies it)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)  # entry_joined, payout_received, entry_completed, …
    member = fields.ForeignKeyField(
        "models.Member",
        related_name="events",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    payload = JSONTextField()  # json, not jsonb: see JSONTextField
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_event"
