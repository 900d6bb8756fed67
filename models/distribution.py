"""分销 (SPEC §8): distribution settings, team levels, commissions and shareholder dividends.

A commission is held here, frozen, until its order has been completed for the freeze period;
only then is it posted to the member's cash (kind ``commission``, the same key). While frozen
its amount waits in the platform's frozen commissions (posted from sales when earned), so
reducing or reversing it on a refund posts the difference back to sales and never touches the
member's wallet.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from rebate.distribution import CommissionKind as CommissionKind  # the engine's (SPEC §8)


class DistributionConfig(Model):
    """分销设置: one row (id 1) holding a ``DistributionSettings`` document."""

    id = fields.IntField(primary_key=True)
    doc = fields.JSONField()
    updated_by = fields.CharField(max_length=64, default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "distribution_config"


class TeamStanding(Model):
    """A member's team level (团队等级), level 0 (no row) is no team level. Levels rise
    automatically and only an operator lowers them; every change is a ``TeamLevelChange``."""

    member = fields.OneToOneField(
        "models.Member", related_name="team_standing", primary_key=True, on_delete=fields.RESTRICT
    )
    level = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "team_standing"


class TeamLevelChange(Model):
    """One change of a member's team level, with why (``auto``: thresholds met, ``operator``)."""

    id = fields.BigIntField(primary_key=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="team_level_changes", on_delete=fields.RESTRICT
    )
    from_level = fields.IntField()
    to_level = fields.IntField()
    reason = fields.CharField(max_length=16)  # auto | operator
    detail = fields.JSONField()  # turnover and direct count seen, or the operator and note
    created_at = fields.DatetimeField()

    class Meta:
        table = "team_level_change"
        indexes = (("member_id", "id"),)


class CommissionStatus(StrEnum):
    FROZEN = "frozen"  # earned, waiting out the freeze period
    RELEASED = "released"  # in the wallet: a posting with the same key exists
    REVERSED = "reversed"  # every line of its order was refunded before release


class Commission(Model):
    """佣金: one reward of one settled order to one member.

    ``key`` is ``reward:<kind>:<order id>`` (``reward:team:<order id>:<member id>`` for 级差):
    the same reward can never be written twice, and the posting written at release carries
    the same key. ``amount_fen = floor(base_fen × rate_bp / 10000)``; a refund before release
    lowers ``base_fen`` to what is left of the order and recomputes the amount."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=96, unique=True)
    member = fields.ForeignKeyField(
        "models.Member", related_name="commissions", on_delete=fields.RESTRICT
    )
    order = fields.ForeignKeyField(
        "models.Order", related_name="commissions", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(CommissionKind, max_length=16)
    depth = fields.IntField()  # 1: the buyer's referrer; 0 for 招商
    rate_bp = fields.IntField()
    base_fen = fields.BigIntField()
    initial_fen = fields.BigIntField()
    amount_fen = fields.BigIntField()
    status = fields.CharEnumField(CommissionStatus, max_length=16, default=CommissionStatus.FROZEN)
    release_at = fields.DatetimeField(null=True)  # null until its order is completed
    released_at = fields.DatetimeField(null=True)
    reversed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "commission"
        indexes = (("status", "release_at"), ("member_id", "id"), ("order_id",))


class DividendRun(Model):
    """股东分红: one run per period, the unique period makes a second run a no-op."""

    id = fields.BigIntField(primary_key=True)
    period = fields.CharField(max_length=16, unique=True)  # 2026-11 | 2026-W48
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    turnover_fen = fields.BigIntField()
    pool_bp = fields.IntField()
    pool_fen = fields.BigIntField()
    shareholders = fields.IntField()
    distributed_fen = fields.BigIntField()  # = pool_fen, or 0 when there was no shareholder
    ran_at = fields.DatetimeField()

    class Meta:
        table = "dividend_run"


class DividendShare(Model):
    """One shareholder's part of a run, paid as a ledger line ``dividend:<period>:<member>``."""

    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField(
        "models.DividendRun", related_name="shares", on_delete=fields.RESTRICT
    )
    member = fields.ForeignKeyField(
        "models.Member", related_name="dividend_shares", on_delete=fields.RESTRICT
    )
    amount_fen = fields.BigIntField()

    class Meta:
        table = "dividend_share"
        unique_together = (("run_id", "member_id"),)
