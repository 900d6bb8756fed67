"""The chat bot's own tables (SPEC §9). None of them is a money table: the notifier reads the
outbox and writes only here, so a failed message can never roll money back.

- ``NotifierCursor``: how far one consumer has read the outbox (a high-water mark plus the ids
  it skipped because they were not committed yet, re-read until they appear or expire).
- ``NotificationDelivery``: one message of one outbox event on one channel. Its unique
  ``(event_id, channel)`` is the dedupe key: it is written before WeChat is called and marked
  ``sent`` after, so no notifier sends an event on a channel again once it is marked.
- ``DeliveryAttempt``: every try (and every deliberate skip), with WeChat's errcode.
- ``SubscribeConsent``: remaining mini-program subscribe-message consents per member and
  template (WeChat offers no API to read them: one consent buys one message).
- ``OfficialAccountFollower``: an official-account openid and the unionid that links it to a
  member, written when they follow the account.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first try or its next retry (next_attempt_at)
    SENDING = "sending"  # claimed by a notifier until lease_until
    SENT = "sent"  # WeChat accepted it
    SKIPPED = "skipped"  # nothing to send it to (no consent left, not following): not sent
    REFUSED = "refused"  # 43101: the member has no consent left for the template
    FAILED = "failed"  # a permanent error, or transient errors up to the attempt cap


class NotifierCursor(Model):
    consumer = fields.CharField(max_length=64, primary_key=True)
    last_event_id = fields.BigIntField(default=0)
    gaps = fields.JSONField(default=dict)  # {"<event id>": first seen missing, epoch seconds}
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notifier_cursor"


class NotificationDelivery(Model):
    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField(
        "models.OutboxEvent", related_name="deliveries", on_delete=fields.RESTRICT
    )
    channel = fields.CharField(max_length=16)  # subscribe | official | wecom
    member = fields.ForeignKeyField(
        "models.Member", related_name="deliveries", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharField(max_length=32)  # the event's kind
    content = fields.JSONField()  # the rendered message: text, template id, template data
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification_delivery"
        unique_together = (("event_id", "channel"),)
        indexes = (("status", "next_attempt_at"), ("member_id", "channel", "status"))


class DeliveryAttempt(Model):
    id = fields.BigIntField(primary_key=True)
    delivery = fields.ForeignKeyField(
        "models.NotificationDelivery", related_name="attempt_rows", on_delete=fields.RESTRICT
    )
    number = fields.IntField()
    outcome = fields.CharField(max_length=16)  # sent | retry | failed | refused | skipped
    recipient = fields.CharField(max_length=64, default="")
    errcode = fields.IntField(null=True)
    detail = fields.CharField(max_length=255, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "delivery_attempt"


class SubscribeConsent(Model):
    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="subscribe_consents", on_delete=fields.RESTRICT
    )
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "subscribe_consent"
        unique_together = (("member_id", "template_id"),)


class OfficialAccountFollower(Model):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)  # the official account's openid
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    following = fields.BooleanField(default=True)
    checked_at = fields.DatetimeField()  # when the unionid was last asked of WeChat
    updated_at = fields.DatetimeField()

    class Meta:
        table = "official_account_follower"
