"""Whether a settled line gets an entry (SPEC §6, §4 deduction switch)."""

from dataclasses import dataclass
from datetime import datetime

from rebate.settings import BaseSettings, DeductionMode, Limits, TargetSettings


@dataclass(frozen=True)
class Verdict:
    extracts: bool  # the line's extraction flows to its queue
    joins: bool  # the line may get an entry (limits are checked later, under the queue lock)
    reason: str  # why not, for the record ("" when it joins)


def line_verdict(
    base: BaseSettings,
    target: TargetSettings,
    *,
    paid_at_local: datetime,
    deduction_fen: int,
) -> Verdict:
    """Master switch off: nothing. Target disabled: nothing. Outside every reward window, or a
    deduction order under ``exclude``: the extraction still flows, but no entry."""
    if not base.enabled:
        return Verdict(False, False, "master_off")
    if not target.enabled:
        return Verdict(False, False, "target_disabled")
    if target.windows and not any(w.contains(paid_at_local.time()) for w in target.windows):
        return Verdict(True, False, "outside_window")
    if deduction_fen > 0 and base.deduction == DeductionMode.EXCLUDE:
        return Verdict(True, False, "deduction_excluded")
    return Verdict(True, True, "")


def within_limits(limits: Limits, *, today: int, total: int) -> bool:
    """At most ``per_day`` entries a day and ``total`` in all, per member and target."""
    if limits.per_day is not None and today >= limits.per_day:
        return False
    return limits.total is None or total < limits.total
