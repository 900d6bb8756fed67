"""A store's commission (SPEC §8): what the platform keeps of a store's order, what the store is
owed, what a late refund takes back, and the guardrail that the commission covers every payout.

The commission (``commission_bp`` of the cash paid) is floored like every ratio (SPEC §2); the
store is owed the rest, so commission + owed = paid, to the fen.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rebate.distribution_settings import DistributionSettings
from rebate.money import apply_bp


def net_of_commission(paid_fen: int, commission_bp: int) -> tuple[int, int]:
    """(commission, what the store is owed): the commission is floored, the store gets the
    rest, and the two add up to what was paid."""
    commission = apply_bp(paid_fen, commission_bp)
    return commission, paid_fen - commission


@dataclass(frozen=True)
class Clawback:
    """What a refund after the statement takes back from the store: each part ≤ 0."""

    paid_fen: int
    commission_fen: int
    amount_fen: int  # what the store is owed less


def clawback(accounted_fen: int, paid_after: int, commission_bp: int) -> Clawback | None:
    """A refund after the store's credit is on a statement: the difference between the store's
    net on what was accounted for and its net on what is left, taken back on the next
    statement (``None``: nothing to take back)."""
    if paid_after >= accounted_fen:
        return None
    commission_before, net_before = net_of_commission(accounted_fen, commission_bp)
    commission_after, net_after = net_of_commission(paid_after, commission_bp)
    return Clawback(
        paid_fen=paid_after - accounted_fen,
        commission_fen=commission_after - commission_before,
        amount_fen=net_after - net_before,
    )


@dataclass(frozen=True)
class GuardrailNumbers:
    """What a store's orders may pay out, against what the platform earns on them (bp)."""

    store_id: int | None
    commission_bp: int
    extract_bp: int
    direct_bp: int
    indirect_bp: int
    team_bp: int
    merchant_referral_bp: int
    dividend_pool_bp: int

    @property
    def payout_bp(self) -> int:
        """Everything one of the store's orders can pay out, as a ratio of its cash."""
        return (
            self.extract_bp
            + self.direct_bp
            + self.indirect_bp
            + self.team_bp
            + self.merchant_referral_bp
            + self.dividend_pool_bp
        )

    @property
    def exceeded(self) -> bool:
        """The platform would pay out more than it earns on the store's orders."""
        return self.payout_bp > self.commission_bp

    def as_doc(self) -> dict[str, int | None]:
        return {**asdict(self), "payout_bp": self.payout_bp}


def guardrail(
    store_id: int | None,
    commission_bp: int,
    extract_bps: Sequence[int],
    settings: DistributionSettings,
) -> GuardrailNumbers:
    """The commission guardrail (SPEC §8): the store's commission must fund the queue
    extraction (the highest ratio any of its orders can give: ``extract_bps``), 直推 + 间推,
    the highest team rate (级差 differences add up to at most that), 招商 and the dividend
    pool's share of turnover."""
    return GuardrailNumbers(
        store_id=store_id,
        commission_bp=commission_bp,
        extract_bp=max(extract_bps),
        direct_bp=settings.direct_bp,
        indirect_bp=settings.indirect_bp,
        team_bp=settings.max_team_bp,
        merchant_referral_bp=settings.merchant_referral_bp,
        dividend_pool_bp=settings.dividend_pool_bp,
    )


# The numbers a change can raise, in the order a refusal names them.
RAISABLE = (
    "extract_bp",
    "direct_bp",
    "indirect_bp",
    "team_bp",
    "merchant_referral_bp",
    "dividend_pool_bp",
)


def raised(old: GuardrailNumbers, new: GuardrailNumbers) -> str | None:
    """What a change makes worse for the store, judged against the numbers before it: the
    first payout number it raises, ``commission_bp`` when it lowers the commission, or None
    when it raises nothing. A store already over its commission is not the change's doing."""
    for name in RAISABLE:
        if getattr(new, name) > getattr(old, name):
            return name
    if new.commission_bp < old.commission_bp:
        return "commission_bp"
    return None
