from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class JobRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobRun(Model):
    """One run of a scheduled job. ``(name, slot)`` is unique: the row is inserted before the
    work, so however many processes fire for the same scheduled time, exactly one does it."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=32)  # clearing, …
    slot = fields.CharField(max_length=48)  # scheduled time (UTC, minutes) or operator:<time>
    trigger = fields.CharField(max_length=16)  # schedule | operator
    status = fields.CharEnumField(JobRunStatus, max_length=16, default=JobRunStatus.RUNNING)
    attempts = fields.IntField(default=1)  # a failed slot may be retried by an operator
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    changes = fields.JSONField(null=True)  # what the run changed (counts, amounts)
    error = fields.TextField(default="")

    class Meta:
        table = "job_run"
        unique_together = (("name", "slot"),)
        indexes = (("name", "started_at"),)


class JobSetting(Model):
    """A scheduled job's own settings document (e.g. the clearing schedule), one row per job."""

    name = fields.CharField(max_length=32, primary_key=True)
    config = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job_setting"
