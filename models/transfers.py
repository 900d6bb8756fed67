"""积分转让: points one member sent another (by the receiver's referral code)."""

from tortoise import fields
from tortoise.models import Model


class PointsTransfer(Model):
    """One transfer of ``points`` from ``sender`` to ``receiver``, plus ``fee`` points from the
    sender to the platform. Its postings are ``points_transfer:<id>`` (sender → receiver) and,
    when the fee is not zero, ``points_transfer_fee:<id>`` (sender → ``platform:points``), written
    in the transaction that creates it. ``request_id`` is the sender's idempotency id."""

    id = fields.BigIntField(primary_key=True)
    sender = fields.ForeignKeyField(
        "models.Member", related_name="transfers_sent", on_delete=fields.RESTRICT
    )
    receiver = fields.ForeignKeyField(
        "models.Member", related_name="transfers_received", on_delete=fields.RESTRICT
    )
    request_id = fields.CharField(max_length=64)
    points = fields.BigIntField()  # what the receiver gets
    fee = fields.BigIntField(default=0)  # to the platform, on top of ``points``
    day = fields.CharField(max_length=10)  # Beijing date of the transfer (daily limit)
    created_at = fields.DatetimeField()

    class Meta:
        table = "points_transfer"
        unique_together = (("sender_id", "request_id"),)
        indexes = (("sender_id", "day"), ("sender_id", "id"), ("receiver_id", "id"))
