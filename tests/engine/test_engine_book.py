"""The queue book: first come, first served payouts (SPEC §4)."""

import pytest

from rebate.book import Extracted, Payout, QueueBook, Waiting, WindowExhausted
from rebate.errors import RebateError
from rebate.settings import PayoutOrder

QUEUE, FIRST = PayoutOrder.QUEUE_ORDER, PayoutOrder.COMPLETED_FIRST


def book(*entries: Waiting, payout_order=QUEUE, complete=True, next_seq=None, waiting=None):
    return QueueBook(
        entries,
        next_seq=next_seq if next_seq is not None else max((e.seq for e in entries), default=0) + 1,
        waiting_count=waiting if waiting is not None else sum(e.remaining > 0 for e in entries),
        payout_order=payout_order,
        window_is_complete=complete,
    )


def entry(seq, entitlement, *, order=None, member=None, paid=0, completed=True) -> Waiting:
    return Waiting(
        seq,
        order if order is not None else 100 + seq,
        member if member is not None else 1_000 + seq,
        entitlement,
        paid,
        completed,
    )


def paid_to(result: Extracted) -> dict[int, int]:
    return {p.seq: p.amount for p in result.payouts}


def test_extraction_pays_the_head_entry_first():
    b = book(entry(1, 500), entry(2, 500))
    result = b.extract(300, order_id=999, paused=False)
    assert paid_to(result) == {1: 300}
    assert result == Extracted(300, (Payout(1, 1_001, 300, 300, 500),), 0, 0)


def test_extraction_spills_over_to_the_next_entry_each_up_to_its_remaining():
    b = book(entry(1, 500, paid=400), entry(2, 300), entry(3, 1_000))
    result = b.extract(700, order_id=999, paused=False)
    assert paid_to(result) == {1: 100, 2: 300, 3: 300}
    assert [p.paid_after for p in result.payouts] == [500, 300, 300]
    assert [p.entitlement for p in result.payouts] == [500, 300, 1_000]
    assert (result.paid, result.withheld, result.unallocated) == (700, 0, 0)


def test_an_entry_is_never_paid_beyond_its_entitlement():
    b = book(entry(1, 250))
    result = b.extract(1_000, order_id=999, paused=False)
    assert paid_to(result) == {1: 250}
    assert result.unallocated == 750


def test_no_waiting_entry_leaves_the_extraction_unallocated():
    result = book().extract(10_920, order_id=1, paused=False)
    assert result == Extracted(10_920, (), 0, 10_920)


def test_full_entries_in_the_window_are_passed_over():
    b = book(entry(1, 500, paid=500), entry(2, 500))
    assert paid_to(b.extract(100, order_id=999, paused=False)) == {2: 100}


def test_window_is_sorted_by_seq():
    b = QueueBook(
        [entry(3, 100), entry(1, 100), entry(2, 100)],
        next_seq=4,
        waiting_count=3,
        payout_order=QUEUE,
        window_is_complete=True,
    )
    result = b.extract(250, order_id=999, paused=False)
    assert [p.seq for p in result.payouts] == [1, 2, 3]


def test_zero_extraction_pays_nothing():
    b = book(entry(1, 500))
    assert b.extract(0, order_id=999, paused=False) == Extracted(0, (), 0, 0)
    assert b.touched == {}


def test_negative_extraction_is_refused():
    with pytest.raises(RebateError):
        book(entry(1, 500)).extract(-1, order_id=999, paused=False)


# --- own order ---------------------------------------------------------------------------------


def test_extraction_never_pays_own_order_entry():
    b = book(entry(1, 500, order=7), entry(2, 500, order=8))
    result = b.extract(300, order_id=7, paused=False)
    assert paid_to(result) == {2: 300}


def test_own_order_entry_alone_leaves_extraction_unallocated():
    b = book(entry(1, 500, order=7))
    result = b.extract(300, order_id=7, paused=False)
    assert (result.paid, result.unallocated) == (0, 300)
    assert b.waiting_count == 1


def test_multi_line_order_line_one_entry_never_receives_line_two_extraction():
    b = book(entry(1, 100, order=5))
    seq = b.join(order_id=7, member_id=42, entitlement=20_000, order_completed=True)  # line 1
    result = b.extract(10_000, order_id=7, paused=False)  # line 2 of the same order
    assert paid_to(result) == {1: 100}
    assert seq not in paid_to(result)
    assert result.unallocated == 9_900


def test_own_order_entry_keeps_its_place_for_later_orders():
    b = book(entry(1, 500, order=7), entry(2, 500, order=8))
    b.extract(300, order_id=7, paused=False)
    result = b.extract(200, order_id=9, paused=False)
    assert paid_to(result) == {1: 200}


# --- payout order rule -------------------------------------------------------------------------


def test_queue_order_pays_entries_whose_order_is_not_completed():
    b = book(entry(1, 500, completed=False), entry(2, 500, completed=True))
    assert paid_to(b.extract(300, order_id=999, paused=False)) == {1: 300}


def test_completed_first_skips_entries_whose_order_is_not_completed():
    b = book(entry(1, 500, completed=False), entry(2, 500, completed=True), payout_order=FIRST)
    assert paid_to(b.extract(300, order_id=999, paused=False)) == {2: 300}


def test_completed_first_skipped_entries_keep_their_place():
    first = entry(1, 500, completed=False)
    b = book(first, entry(2, 500), entry(3, 500), payout_order=FIRST)
    b.extract(300, order_id=999, paused=False)
    first.order_completed = True  # its order completes later
    result = b.extract(400, order_id=998, paused=False)
    assert paid_to(result) == {1: 400}


def test_completed_first_with_no_completed_entry_leaves_extraction_unallocated():
    b = book(entry(1, 500, completed=False), payout_order=FIRST)
    result = b.extract(300, order_id=999, paused=False)
    assert (result.paid, result.unallocated) == (0, 300)


def test_completed_first_pays_joined_entries_only_once_completed():
    b = book(payout_order=FIRST)
    b.join(order_id=1, member_id=1, entitlement=500, order_completed=False)
    b.join(order_id=2, member_id=2, entitlement=500, order_completed=True)
    result = b.extract(100, order_id=3, paused=False)
    assert paid_to(result) == {2: 100}


# --- paused ------------------------------------------------------------------------------------


def test_paused_queue_withholds_everything_and_pays_nothing():
    head = entry(1, 500)
    b = book(head)
    result = b.extract(300, order_id=999, paused=True)
    assert result == Extracted(300, (), 300, 0)
    assert head.paid == 0
    assert b.touched == {}
    assert b.waiting_count == 1


def test_paused_with_no_waiting_entry_is_still_withheld_not_unallocated():
    assert book().extract(300, order_id=1, paused=True) == Extracted(300, (), 300, 0)


# --- window ------------------------------------------------------------------------------------


def test_incomplete_window_too_small_raises_window_exhausted():
    b = book(entry(1, 100), complete=False, next_seq=50, waiting=40)
    with pytest.raises(WindowExhausted) as caught:
        b.extract(150, order_id=999, paused=False)
    assert caught.value.code == "window_exhausted"


def test_window_exhausted_changes_nothing():
    head = entry(1, 100)
    b = book(head, complete=False, next_seq=50, waiting=40)
    with pytest.raises(WindowExhausted):
        b.extract(150, order_id=999, paused=False)
    assert head.paid == 0
    assert b.waiting_count == 40
    assert b.touched == {}
    # and the book still works for an extraction it can cover
    assert paid_to(b.extract(100, order_id=999, paused=False)) == {1: 100}


def test_incomplete_window_large_enough_pays_normally():
    b = book(entry(1, 100), entry(2, 100), complete=False, next_seq=50, waiting=40)
    result = b.extract(150, order_id=999, paused=False)
    assert paid_to(result) == {1: 100, 2: 50}


def test_incomplete_window_never_pays_a_new_entry_ahead_of_unloaded_ones():
    """Entries between the loaded head and the tail are unknown: a new tail entry must not jump
    them. The book says its window is exhausted instead."""
    b = book(entry(1, 100), complete=False, next_seq=50, waiting=40)
    b.join(order_id=20, member_id=2, entitlement=500, order_completed=True)
    with pytest.raises(WindowExhausted):
        b.extract(150, order_id=99, paused=False)


def test_complete_window_pays_entries_joined_in_the_same_batch():
    b = book(entry(1, 100))
    seq = b.join(order_id=20, member_id=2, entitlement=500, order_completed=True)
    result = b.extract(150, order_id=99, paused=False)
    assert paid_to(result) == {1: 100, seq: 50}


# --- bookkeeping -------------------------------------------------------------------------------


def test_join_appends_at_the_tail_with_the_next_seq():
    b = book(entry(1, 100), next_seq=10)
    assert b.join(order_id=1, member_id=1, entitlement=100, order_completed=True) == 10
    assert b.join(order_id=2, member_id=2, entitlement=100, order_completed=True) == 11
    assert b.next_seq == 12


def test_waiting_count_counts_joins_and_drops_when_an_entry_fills():
    b = book(entry(1, 100), entry(2, 100), next_seq=3, waiting=2)
    b.join(order_id=5, member_id=5, entitlement=300, order_completed=True)
    assert b.waiting_count == 3
    b.extract(150, order_id=999, paused=False)
    assert b.waiting_count == 2
    b.extract(50, order_id=999, paused=False)
    assert b.waiting_count == 1


def test_zero_entitlement_join_takes_a_seq_but_does_not_wait():
    b = book(next_seq=1, waiting=0)
    seq = b.join(order_id=1, member_id=1, entitlement=0, order_completed=True)
    assert seq == 1
    assert b.waiting_count == 0
    assert b.extract(10, order_id=2, paused=False).unallocated == 10


def test_take_seq_reserves_a_place_that_never_waits():
    b = book(next_seq=5, waiting=0)
    assert b.take_seq() == 5
    assert b.next_seq == 6
    assert b.waiting_count == 0
    assert b.extract(10, order_id=2, paused=False).unallocated == 10
    assert b.join(order_id=3, member_id=3, entitlement=10, order_completed=True) == 6


def test_touched_holds_every_entry_paid_or_joined():
    b = book(entry(1, 100), entry(2, 100), entry(3, 100))
    b.extract(150, order_id=999, paused=False)
    seq = b.join(order_id=5, member_id=5, entitlement=100, order_completed=True)
    assert set(b.touched) == {1, 2, seq}
    assert b.touched[1].paid == 100 and b.touched[2].paid == 50


def test_waiting_remaining_is_entitlement_minus_paid():
    assert entry(1, 500, paid=120).remaining == 380
