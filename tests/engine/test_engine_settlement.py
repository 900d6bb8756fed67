"""Settling a batch of lines into one queue (SPEC §2 worked example, §4, §6 limits)."""

import random

from rebate.book import QueueBook, Waiting
from rebate.money import apply_bp
from rebate.random_return import GroupCursor
from rebate.settings import Limits, PayoutOrder
from rebate.settlement import BatchResult, SettlingLine, describe, settle_batch

DAY = "2026-11-25"


def empty_book(**kw) -> QueueBook:
    return QueueBook(
        kw.pop("window", []),
        next_seq=kw.pop("next_seq", 1),
        waiting_count=kw.pop("waiting_count", 0),
        payout_order=kw.pop("payout_order", PayoutOrder.QUEUE_ORDER),
        window_is_complete=True,
    )


def line(
    line_id: int,
    *,
    order=None,
    member=None,
    extraction=0,
    entitlement=1_000,
    joins=True,
    completed=True,
    target="product:1",
    day=DAY,
    limits=None,
) -> SettlingLine:
    return SettlingLine(
        line_id=line_id,
        order_id=order if order is not None else line_id,
        member_id=member if member is not None else line_id,
        extraction_fen=extraction,
        joins=joins,
        entitlement_fen=entitlement,
        order_completed=completed,
        target=target,
        day=day,
        limits=limits or Limits(),
    )


def settle(book, lines, *, paused=False, today=None, total=None) -> BatchResult:
    return settle_batch(
        book,
        lines,
        paused=paused,
        random_return=None,
        cursor=GroupCursor(),
        rng=random.Random(0),
        exchange_points_bp=10_000,
        counts_today=today if today is not None else {},
        counts_total=total if total is not None else {},
    )


def seed_line(i: int) -> SettlingLine:
    """A 168.00 order at reward 130% and extraction 65% (SPEC §2)."""
    return line(i, extraction=apply_bp(16_800, 6_500), entitlement=apply_bp(16_800, 13_000))


# --- the seed's worked example -----------------------------------------------------------------


def test_seed_worked_example_entry_is_full_after_exactly_two_later_orders():
    b = empty_book()
    first = settle(b, [seed_line(1)])
    joined = first.lines[0].joined
    assert joined is not None and joined.entitlement == 21_840
    assert first.lines[0].extracted.unallocated == 10_920  # nobody was waiting yet

    second = settle(b, [seed_line(2)])
    assert [(p.seq, p.amount, p.paid_after) for p in second.lines[0].extracted.payouts] == [
        (joined.seq, 10_920, 10_920)
    ]
    assert b.touched[joined.seq].remaining == 10_920

    third = settle(b, [seed_line(3)])
    payouts = third.lines[0].extracted.payouts
    assert [(p.seq, p.amount, p.paid_after) for p in payouts] == [(joined.seq, 10_920, 21_840)]
    assert b.touched[joined.seq].remaining == 0  # full after exactly two later orders

    fourth = settle(b, [seed_line(4)])
    assert joined.seq not in {p.seq for p in fourth.lines[0].extracted.payouts}
    assert fourth.lines[0].extracted.payouts[0].seq == second.lines[0].joined.seq


def test_seed_worked_example_in_one_batch():
    b = empty_book()
    result = settle(b, [seed_line(i) for i in range(1, 6)])
    first_seq = result.lines[0].joined.seq
    paid_to_first = sum(
        p.amount for o in result.lines for p in o.extracted.payouts if p.seq == first_seq
    )
    assert paid_to_first == 21_840
    assert [p.seq for p in result.lines[2].extracted.payouts] == [first_seq]
    assert describe(result) == {
        "lines": 5,
        "extracted": 5 * 10_920,
        "paid": 4 * 10_920,
        "withheld": 0,
        "unallocated": 10_920,
        "joined": 5,
    }


# --- order of work within a line ---------------------------------------------------------------


def test_line_extracts_before_its_own_entry_joins():
    b = empty_book()
    result = settle(b, [line(1, extraction=500, entitlement=1_000)])
    outcome = result.lines[0]
    assert outcome.extracted.unallocated == 500
    assert outcome.joined is not None and outcome.joined.position == 0


def test_second_line_of_an_order_never_pays_the_first_lines_entry():
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=1)
    result = settle(
        b,
        [
            line(10, order=7, extraction=100, entitlement=5_000),
            line(11, order=7, extraction=400, entitlement=5_000),
        ],
    )
    second = result.lines[1].extracted
    assert [(p.seq, p.amount) for p in second.payouts] == [(1, 200)]
    assert second.unallocated == 200


def test_position_is_waiting_entries_ahead_when_joining():
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=9)
    result = settle(b, [line(10), line(11)])
    assert [o.joined.position for o in result.lines] == [9, 10]
    assert [o.joined.seq for o in result.lines] == [2, 3]


def test_paused_queue_withholds_but_entries_still_join():
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=1)
    result = settle(b, [line(10, extraction=100), line(11, extraction=200)], paused=True)
    assert [o.extracted.withheld for o in result.lines] == [100, 200]
    assert all(o.joined is not None for o in result.lines)
    assert describe(result)["paid"] == 0
    assert b.waiting_count == 3


def test_ineligible_line_still_extracts_but_gets_no_entry():
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=1)
    result = settle(b, [line(10, extraction=100, joins=False)])
    outcome = result.lines[0]
    assert (outcome.joined, outcome.skipped) == (None, "not_eligible")
    assert outcome.extracted.paid == 100


def test_zero_entitlement_line_gets_no_entry():
    result = settle(empty_book(), [line(10, entitlement=0)])
    assert (result.lines[0].joined, result.lines[0].skipped) == (None, "zero_entitlement")


def test_joined_line_has_no_skip_reason():
    assert settle(empty_book(), [line(1)]).lines[0].skipped == ""


# --- limits -------------------------------------------------------------------------------------


def test_per_day_limit_counts_entries_within_one_batch():
    lim = Limits(per_day=2)
    result = settle(empty_book(), [line(i, member=5, limits=lim) for i in range(1, 5)])
    assert [o.skipped for o in result.lines] == ["", "", "limit_reached", "limit_reached"]
    assert result.counts_today == {(5, "product:1", DAY): 2}
    assert result.counts_total == {(5, "product:1"): 2}


def test_per_day_limit_resets_on_another_day():
    lim = Limits(per_day=1)
    result = settle(
        empty_book(),
        [line(1, member=5, limits=lim), line(2, member=5, limits=lim, day="2026-11-26")],
    )
    assert [o.skipped for o in result.lines] == ["", ""]


def test_total_limit_counts_across_days():
    lim = Limits(total=2)
    lines = [line(i, member=5, limits=lim, day=f"2026-11-2{i}") for i in range(1, 5)]
    assert [o.skipped for o in settle(empty_book(), lines).lines] == [
        "",
        "",
        "limit_reached",
        "limit_reached",
    ]


def test_limits_count_per_member_and_per_target():
    lim = Limits(per_day=1)
    lines = [
        line(1, member=5, limits=lim),
        line(2, member=6, limits=lim),
        line(3, member=5, limits=lim, target="product:2"),
        line(4, member=5, limits=lim),
    ]
    assert [o.skipped for o in settle(empty_book(), lines).lines] == ["", "", "", "limit_reached"]


def test_limits_use_preloaded_counts():
    today = {(5, "product:1", DAY): 1}
    total = {(5, "product:1"): 9}
    result = settle(
        empty_book(),
        [line(1, member=5, limits=Limits(per_day=2)), line(2, member=5, limits=Limits(per_day=2))],
        today=today,
        total=total,
    )
    assert [o.skipped for o in result.lines] == ["", "limit_reached"]
    assert result.counts_today[(5, "product:1", DAY)] == 2
    assert result.counts_total[(5, "product:1")] == 10

    capped = settle(empty_book(), [line(3, member=5, limits=Limits(total=10))], total=total)
    assert capped.lines[0].skipped == ""
    capped = settle(empty_book(), [line(4, member=5, limits=Limits(total=9))], total=total)
    assert capped.lines[0].skipped == "limit_reached"


def test_preloaded_counts_are_not_mutated():
    today = {(5, "product:1", DAY): 0}
    total = {(5, "product:1"): 0}
    settle(empty_book(), [line(1, member=5)], today=today, total=total)
    assert today == {(5, "product:1", DAY): 0} and total == {(5, "product:1"): 0}


def test_limit_reached_line_still_extracts():
    lim = Limits(total=0)
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=1)
    result = settle(b, [line(10, extraction=100, limits=lim)])
    assert result.lines[0].skipped == "limit_reached"
    assert result.lines[0].extracted.paid == 100


def test_ineligible_lines_do_not_count_against_limits():
    lim = Limits(per_day=1)
    result = settle(
        empty_book(), [line(1, member=5, joins=False, limits=lim), line(2, member=5, limits=lim)]
    )
    assert [o.skipped for o in result.lines] == ["not_eligible", ""]


def test_describe_totals_a_batch():
    b = empty_book(window=[Waiting(1, 50, 50, 300)], next_seq=2, waiting_count=1)
    result = settle(b, [line(10, extraction=500, joins=False), line(11, extraction=0)])
    assert describe(result) == {
        "lines": 2,
        "extracted": 500,
        "paid": 300,
        "withheld": 0,
        "unallocated": 200,
        "joined": 1,
    }
