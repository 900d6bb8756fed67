"""A queue's waiting entries, paid first come first served (SPEC §4).

``QueueBook`` holds a window of a queue's waiting entries from its head, in queue order, plus
the entries that join while it is open. It never needs the whole queue: the caller loads
enough entries from the head to cover the extractions it is about to apply.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from rebate.errors import RebateError
from rebate.settings import PayoutOrder


@dataclass(slots=True)
class Waiting:
    """One waiting entry as the book sees it. ``seq`` is its place in the queue."""

    seq: int
    order_id: int
    member_id: int
    entitlement: int
    paid: int = 0
    order_completed: bool = False

    @property
    def remaining(self) -> int:
        return self.entitlement - self.paid


# Values the engine returns per settled line are NamedTuples: immutable like frozen dataclasses,
# and built several times faster (a frozen dataclass sets each field through object.__setattr__),
# which counts at thousands of lines a second (issue 3).


class Payout(NamedTuple):
    seq: int
    member_id: int
    amount: int
    paid_after: int
    entitlement: int


class Extracted(NamedTuple):
    """What one extraction became: payouts, withheld (paused) and unallocated, summing to it."""

    amount: int
    payouts: tuple[Payout, ...]
    withheld: int
    unallocated: int

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payouts)


class WindowExhausted(RebateError):
    """The caller loaded too few entries from the head to apply this extraction exactly."""

    code = "window_exhausted"


class QueueBook:
    def __init__(
        self,
        window: Iterable[Waiting],
        *,
        next_seq: int,
        waiting_count: int,
        payout_order: PayoutOrder,
        window_is_complete: bool,
    ) -> None:
        self._entries: list[Waiting] = sorted(window, key=lambda w: w.seq)
        self._loaded = len(self._entries)  # entries past this joined here, behind unloaded ones
        self._start = 0
        self.next_seq = next_seq
        self.waiting_count = waiting_count
        self.payout_order = payout_order
        self._complete = window_is_complete
        self.touched: dict[int, Waiting] = {}  # seq → entry whose paid amount changed

    def extract(self, amount: int, *, order_id: int, paused: bool) -> Extracted:
        """Pay ``amount`` to waiting entries in queue order, each up to what it is still owed.

        Entries of ``order_id`` never receive its own extraction. Paused: all of it is withheld.
        What no eligible entry can take is unallocated (SPEC §4). An incomplete window that
        cannot cover it raises ``WindowExhausted`` and changes nothing.
        """
        if amount < 0:
            raise RebateError("提取金额不能为负", field="amount")
        if paused or amount == 0:
            return Extracted(amount, (), amount if paused else 0, 0)
        left = amount
        plan: list[tuple[Waiting, int]] = []
        # An incomplete window may only pay what was loaded: an entry that joined here sits
        # behind the unloaded rest of the queue and must not jump it.
        entries = self._entries
        end = len(entries) if self._complete else self._loaded
        any_order = self.payout_order == PayoutOrder.QUEUE_ORDER
        i = self._start
        while left > 0 and i < end:  # the hot loop of settlement: _payable inlined
            entry = entries[i]
            i += 1
            owed = entry.entitlement - entry.paid
            if owed <= 0 or entry.order_id == order_id or not (any_order or entry.order_completed):
                continue
            pay = owed if owed < left else left
            plan.append((entry, pay))
            left -= pay
        if left > 0 and not self._complete:
            raise WindowExhausted("loaded window too small for this extraction")
        payouts: list[Payout] = []
        touched = self.touched
        for entry, pay in plan:
            entry.paid += pay
            touched[entry.seq] = entry
            payouts.append(Payout(entry.seq, entry.member_id, pay, entry.paid, entry.entitlement))
            if entry.paid == entry.entitlement:
                self.waiting_count -= 1
        start, n = self._start, len(entries)
        while start < n and entries[start].paid == entries[start].entitlement:
            start += 1
        self._start = start
        return Extracted(amount, tuple(payouts), 0, left)

    def join(
        self, *, order_id: int, member_id: int, entitlement: int, order_completed: bool
    ) -> int:
        """Append a new entry at the tail; returns its seq. Its position is ``waiting_count``."""
        seq = self.next_seq
        self.next_seq += 1
        entry = Waiting(seq, order_id, member_id, entitlement, 0, order_completed)
        self._entries.append(entry)
        self.touched[seq] = entry
        if entitlement > 0:
            self.waiting_count += 1
        return seq

    def take_seq(self) -> int:
        """Reserve a seq for an entry that never waits (random return converted it to points)."""
        seq = self.next_seq
        self.next_seq += 1
        return seq
