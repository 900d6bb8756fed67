"""随机返 (SPEC §6): consecutive groups, exactly ``points_places`` of each turned to points."""

import random

import pytest

from rebate.book import QueueBook, Waiting
from rebate.random_return import GroupCursor, next_place
from rebate.settings import Limits, PayoutOrder, RandomReturn
from rebate.settlement import SettlingLine, settle_batch


def places(config: RandomReturn, n: int, *, seed: int, cursor=None):
    """The points/cash flags of the next ``n`` new entries, and the moved cursor."""
    rng = random.Random(seed)
    cursor = cursor or GroupCursor()
    out = []
    for _ in range(n):
        is_points, cursor = next_place(cursor, config, rng)
        out.append(is_points)
    return out, cursor


@pytest.mark.parametrize(("cash", "points"), [(3, 1), (2, 2), (1, 4), (5, 0), (0, 3), (9, 1)])
def test_every_consecutive_group_has_exactly_points_places(cash, points):
    config = RandomReturn(cash_places=cash, points_places=points)
    size = config.group_size
    groups = 500
    flags, cursor = places(config, size * groups, seed=cash * 10 + points)
    for g in range(groups):
        assert sum(flags[g * size : (g + 1) * size]) == points
    assert cursor.index == 0  # ended exactly on a group boundary


def test_points_slots_are_spread_uniformly_over_the_group():
    config = RandomReturn(cash_places=3, points_places=1)
    groups = 4_000
    flags, _ = places(config, 4 * groups, seed=99)
    by_slot = [sum(flags[g * 4 + s] for g in range(groups)) for s in range(4)]
    expected = groups / 4
    chi2 = sum((c - expected) ** 2 / expected for c in by_slot)
    assert chi2 < 16.3  # df = 3, p ≈ 0.001


def test_cursor_moves_through_a_group_and_draws_a_new_one_when_full():
    config = RandomReturn(cash_places=2, points_places=1)
    rng = random.Random(5)
    _, c1 = next_place(GroupCursor(), config, rng)
    assert (c1.size, c1.index, len(c1.points_slots)) == (3, 1, 1)
    _, c2 = next_place(c1, config, rng)
    _, c3 = next_place(c2, config, rng)
    assert c2.points_slots == c1.points_slots
    assert c3.index == 0


def test_a_partial_group_continues_across_batches():
    config = RandomReturn(cash_places=3, points_places=2)
    first, cursor = places(config, 2, seed=1)
    rest, _ = places(config, 3, seed=2, cursor=cursor)
    assert sum(first + rest) == 2


def test_reconfigured_group_size_starts_a_new_group():
    old = RandomReturn(cash_places=3, points_places=1)
    _, cursor = places(old, 2, seed=3)  # half-way through a group of four
    assert cursor.index == 2
    new = RandomReturn(cash_places=1, points_places=1)
    flags, cursor = places(new, 2, seed=4, cursor=cursor)
    assert cursor.size == 2 and cursor.index == 0
    assert sum(flags) == 1  # a full fresh group of two, not the rest of the old one


def test_all_cash_groups_never_convert_and_all_points_groups_always_do():
    assert not any(places(RandomReturn(cash_places=4, points_places=0), 40, seed=1)[0])
    assert all(places(RandomReturn(cash_places=0, points_places=4), 40, seed=1)[0])


# --- through settle_batch ----------------------------------------------------------------------


def line(i: int, *, extraction=0, entitlement=10_001, rr=None) -> SettlingLine:
    return SettlingLine(
        line_id=i,
        order_id=i,
        member_id=i,
        extraction_fen=extraction,
        joins=True,
        entitlement_fen=entitlement,
        order_completed=True,
        target="store:1",
        day="2026-11-25",
        limits=Limits(),
        random_return=rr,
    )


def settle(book, lines, *, config, cursor=None, seed=0, points_bp=10_000):
    return settle_batch(
        book,
        lines,
        paused=False,
        random_return=config,
        cursor=cursor or GroupCursor(),
        rng=random.Random(seed),
        exchange_points_bp=points_bp,
        counts_today={},
        counts_total={},
    )


def empty_book() -> QueueBook:
    return QueueBook(
        [],
        next_seq=1,
        waiting_count=0,
        payout_order=PayoutOrder.QUEUE_ORDER,
        window_is_complete=True,
    )


def test_converted_entry_gets_floor_of_entitlement_times_exchange_ratio_in_points():
    b = empty_book()
    result = settle(
        b,
        [line(1, entitlement=10_001)],
        config=RandomReturn(cash_places=0, points_places=1),
        points_bp=15_050,
    )
    joined = result.lines[0].joined
    assert joined is not None
    assert joined.points == 10_001 * 15_050 // 10_000
    assert joined.entitlement == 10_001


def test_converted_entries_never_wait_and_never_receive_payouts():
    b = empty_book()
    config = RandomReturn(cash_places=1, points_places=1)
    lines = [line(i, extraction=500) for i in range(1, 201)]
    result = settle(b, lines, config=config, seed=8)
    converted = {o.joined.seq for o in result.lines if o.joined and o.joined.points > 0}
    queued = {o.joined.seq for o in result.lines if o.joined and o.joined.points == 0}
    assert len(converted) == len(queued) == 100
    paid_seqs = {p.seq for o in result.lines for p in o.extracted.payouts}
    assert paid_seqs and not paid_seqs & converted
    assert paid_seqs <= queued
    assert not converted & set(b.touched)
    # only queued entries wait; some of them have been filled by later orders
    filled = {seq for seq in queued if b.touched[seq].remaining == 0}
    assert filled
    assert b.waiting_count == 100 - len(filled)
    assert b.next_seq == 201  # converted entries still consumed a seq each


def test_queued_entries_in_groups_get_no_points():
    b = empty_book()
    result = settle(
        b,
        [line(i) for i in range(1, 41)],
        config=RandomReturn(cash_places=3, points_places=1),
        seed=4,
    )
    flags = [o.joined.points > 0 for o in result.lines if o.joined]
    assert [sum(flags[g * 4 : (g + 1) * 4]) for g in range(10)] == [1] * 10


def test_lines_that_do_not_join_do_not_take_a_place_in_the_group():
    b = empty_book()
    lines = []
    for i in range(1, 41):
        lines.append(line(i))
        lines.append(
            SettlingLine(
                1_000 + i, 1_000 + i, 1_000 + i, 0, False, 500, True, "store:1", "2026-11-25"
            )
        )
    result = settle(b, lines, config=RandomReturn(cash_places=1, points_places=1), seed=6)
    flags = [o.joined.points > 0 for o in result.lines if o.joined]
    assert len(flags) == 40
    assert [sum(flags[g * 2 : (g + 1) * 2]) for g in range(20)] == [1] * 20


def test_batch_returns_the_moved_cursor_for_the_next_batch():
    config = RandomReturn(cash_places=2, points_places=1)
    b = empty_book()
    first = settle(b, [line(1), line(2)], config=config, seed=1)
    assert first.cursor.index == 2
    second = settle(b, [line(3)], config=config, cursor=first.cursor, seed=2)
    assert second.cursor.index == 0
    flags = [o.joined.points > 0 for r in (first, second) for o in r.lines if o.joined]
    assert sum(flags) == 1


def test_without_random_return_every_joining_entry_queues_for_cash():
    b = empty_book()
    result = settle(b, [line(i) for i in range(1, 21)], config=None)
    assert all(o.joined and o.joined.points == 0 for o in result.lines)
    assert b.waiting_count == 20


def test_line_random_return_overrides_the_batch_setting():
    b = empty_book()
    own = RandomReturn(cash_places=0, points_places=1)
    result = settle(b, [line(1, rr=own), line(2)], config=None)
    assert result.lines[0].joined.points > 0
    assert result.lines[1].joined.points == 0


def test_waiting_entry_window_is_unaffected_by_conversions():
    head = Waiting(1, 50, 50, 1_000)
    b = QueueBook(
        [head],
        next_seq=2,
        waiting_count=1,
        payout_order=PayoutOrder.QUEUE_ORDER,
        window_is_complete=True,
    )
    settle(
        b,
        [line(i, extraction=100) for i in range(2, 12)],
        config=RandomReturn(cash_places=0, points_places=1),
    )
    assert head.paid == 1_000
    assert b.waiting_count == 0
