"""Invariants of settlement over random histories (SPEC §2 conservation, §4 FIFO).

Each history is a queue with some waiting entries, then batches of settling lines (random
amounts, ratios, own-order collisions, paused flags, completed flags, limits, random return),
with orders completing between batches. The engine is checked three ways: its own output must
conserve money and keep every entry within its entitlement; a replay of its payouts must be
first come, first served over the entries SPEC §4 calls eligible; and it must agree exactly with
a deliberately simple reference model (a plain list scanned from the start every time).
"""

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from rebate.book import QueueBook, Waiting, WindowExhausted
from rebate.money import apply_bp
from rebate.random_return import GroupCursor, next_place
from rebate.settings import Limits, PayoutOrder, RandomReturn
from rebate.settlement import BatchResult, SettlingLine, settle_batch

PROPERTY = settings(max_examples=100, deadline=None)  # ~1.5 s each: the suite stays fast
QUICK = settings(max_examples=60, deadline=None)
ORDERS = st.integers(1, 8)  # a small pool, so lines collide with their own orders' entries
DAYS = ("2026-11-25", "2026-11-26")
TARGET = "product:1"
POINTS_BP = 12_500


# --- scenario -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Initial:
    order: int
    entitlement: int
    paid: int
    completed: bool


@dataclass(frozen=True)
class Batch:
    paused: bool
    lines: tuple[SettlingLine, ...]
    completes_after: frozenset[int]  # orders that complete once this batch is applied


@dataclass(frozen=True)
class Scenario:
    payout_order: PayoutOrder
    initial: tuple[Initial, ...]
    batches: tuple[Batch, ...]
    random_return: RandomReturn | None
    seed: int


@st.composite
def initial_entries(draw: st.DrawFn) -> Initial:
    entitlement = draw(st.integers(1, 3_000))
    return Initial(
        draw(ORDERS), entitlement, draw(st.integers(0, entitlement - 1)), draw(st.booleans())
    )


@st.composite
def settling_lines(draw: st.DrawFn, line_id: int) -> SettlingLine:
    paid = draw(st.integers(0, 5_000))
    limits = draw(
        st.sampled_from(
            [
                Limits(),
                Limits(per_day=1),
                Limits(per_day=2, total=3),
                Limits(total=2),
                Limits(per_day=0),
            ]
        )
    )
    return SettlingLine(
        line_id=line_id,
        order_id=draw(ORDERS),
        member_id=draw(st.integers(1, 3)),
        extraction_fen=apply_bp(paid, draw(st.sampled_from([0, 1_000, 3_333, 6_500, 10_000]))),
        joins=draw(st.booleans()),
        entitlement_fen=apply_bp(paid, draw(st.sampled_from([0, 5_000, 10_000, 13_000, 20_000]))),
        order_completed=draw(st.booleans()),
        target=TARGET,
        day=draw(st.sampled_from(DAYS)),
        limits=limits,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    payout_order = draw(st.sampled_from(list(PayoutOrder)))
    initial = tuple(draw(st.lists(initial_entries(), max_size=6)))
    batches = []
    line_id = 0
    for _ in range(draw(st.integers(1, 4))):
        lines = []
        for _ in range(draw(st.integers(0, 8))):
            line_id += 1
            lines.append(draw(settling_lines(line_id)))
        batches.append(
            Batch(draw(st.booleans()), tuple(lines), frozenset(draw(st.sets(ORDERS, max_size=3))))
        )
    rr = draw(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, 3), st.integers(0, 2))
            .filter(lambda cp: sum(cp) > 0)
            .map(lambda cp: RandomReturn(cash_places=cp[0], points_places=cp[1])),
        )
    )
    return Scenario(payout_order, initial, tuple(batches), rr, draw(st.integers(0, 2**32)))


# --- running the engine -------------------------------------------------------------------------


@dataclass
class Run:
    results: list[BatchResult] = field(default_factory=list)
    entries: dict[int, Waiting] = field(default_factory=dict)  # every queued entry, by seq


def run_engine(sc: Scenario) -> Run:
    """Settle every batch; between batches, orders complete and the book is re-opened from the
    waiting entries (as the queue writer does)."""
    run = Run()
    for seq, e in enumerate(sc.initial, start=1):
        run.entries[seq] = Waiting(seq, e.order, 100 + seq, e.entitlement, e.paid, e.completed)
    next_seq, waiting = len(sc.initial) + 1, len(sc.initial)
    rng, cursor = random.Random(sc.seed), GroupCursor()
    today: dict[tuple[int, str, str], int] = {}
    total: dict[tuple[int, str], int] = {}
    for batch in sc.batches:
        window = [w for w in run.entries.values() if w.remaining > 0]
        book = QueueBook(
            window,
            next_seq=next_seq,
            waiting_count=waiting,
            payout_order=sc.payout_order,
            window_is_complete=True,
        )
        result = settle_batch(
            book,
            batch.lines,
            paused=batch.paused,
            random_return=sc.random_return,
            cursor=cursor,
            rng=rng,
            exchange_points_bp=POINTS_BP,
            counts_today=today,
            counts_total=total,
        )
        run.results.append(result)
        run.entries.update(book.touched)
        assert book.waiting_count == sum(w.remaining > 0 for w in run.entries.values())
        next_seq, waiting, cursor = book.next_seq, book.waiting_count, result.cursor
        today, total = result.counts_today, result.counts_total
        for w in run.entries.values():
            if w.order_id in batch.completes_after:
                w.order_completed = True
    return run


# --- the reference model ------------------------------------------------------------------------


@dataclass
class RefEntry:
    seq: int
    order: int
    entitlement: int
    paid: int
    completed: bool


def reference(sc: Scenario) -> tuple[list[tuple], dict[int, int]]:
    """What should happen, computed the plain way. Returns one tuple per line and final paid."""
    queue = [
        RefEntry(s, e.order, e.entitlement, e.paid, e.completed)
        for s, e in enumerate(sc.initial, start=1)
    ]
    next_seq = len(queue) + 1
    rng, cursor = random.Random(sc.seed), GroupCursor()
    per_day: dict[tuple[int, str], int] = {}
    in_all: dict[int, int] = {}
    out: list[tuple] = []
    for batch in sc.batches:
        for line in batch.lines:
            # 1. extraction: scan the whole list from the start
            payouts, withheld, left = [], 0, line.extraction_fen
            if batch.paused:
                withheld, left = left, 0
            for e in queue:
                if left == 0:
                    break
                if e.paid == e.entitlement or e.order == line.order_id:
                    continue
                if sc.payout_order == PayoutOrder.COMPLETED_FIRST and not e.completed:
                    continue
                pay = min(left, e.entitlement - e.paid)
                e.paid += pay
                left -= pay
                payouts.append((e.seq, pay))
            # 2. the line's own entry
            joined, skipped = None, ""
            day_count = per_day.get((line.member_id, line.day), 0)
            all_count = in_all.get(line.member_id, 0)
            if not line.joins:
                skipped = "not_eligible"
            elif line.entitlement_fen <= 0:
                skipped = "zero_entitlement"
            elif (line.limits.per_day is not None and day_count >= line.limits.per_day) or (
                line.limits.total is not None and all_count >= line.limits.total
            ):
                skipped = "limit_reached"
            else:
                per_day[(line.member_id, line.day)] = day_count + 1
                in_all[line.member_id] = all_count + 1
                to_points = False
                if sc.random_return is not None:
                    to_points, cursor = next_place(cursor, sc.random_return, rng)
                position = sum(e.paid < e.entitlement for e in queue)
                points = apply_bp(line.entitlement_fen, POINTS_BP) if to_points else 0
                joined = (next_seq, position, points)
                if not to_points:
                    queue.append(
                        RefEntry(
                            next_seq, line.order_id, line.entitlement_fen, 0, line.order_completed
                        )
                    )
                next_seq += 1
            out.append((tuple(payouts), withheld, left, joined, skipped))
        for e in queue:
            if e.order in batch.completes_after:
                e.completed = True
    return out, {e.seq: e.paid for e in queue}


def engine_view(run: Run) -> list[tuple]:
    view = []
    for result in run.results:
        for o in result.lines:
            j = o.joined
            view.append(
                (
                    tuple((p.seq, p.amount) for p in o.extracted.payouts),
                    o.extracted.withheld,
                    o.extracted.unallocated,
                    None if j is None else (j.seq, j.position, j.points),
                    o.skipped,
                )
            )
    return view


# --- properties ---------------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_every_extraction_is_conserved(sc):
    run = run_engine(sc)
    for result, batch in zip(run.results, sc.batches, strict=True):
        for outcome, line in zip(result.lines, batch.lines, strict=True):
            ex = outcome.extracted
            assert ex.amount == line.extraction_fen
            assert ex.amount == ex.paid + ex.withheld + ex.unallocated
            assert ex.withheld >= 0 and ex.unallocated >= 0
            assert all(p.amount > 0 for p in ex.payouts)
            if batch.paused:
                assert ex.payouts == () and ex.withheld == ex.amount
            else:
                assert ex.withheld == 0


@PROPERTY
@given(scenarios())
def test_every_entry_stays_within_its_entitlement(sc):
    run = run_engine(sc)
    for w in run.entries.values():
        assert 0 <= w.paid <= w.entitlement
    for result in run.results:
        for o in result.lines:
            for p in o.extracted.payouts:
                assert 0 < p.paid_after <= p.entitlement


@PROPERTY
@given(scenarios())
def test_payouts_are_first_come_first_served_over_eligible_entries(sc):
    """Replaying the engine's own payouts: each goes to an eligible entry (SPEC §4: waiting, not
    of the paying order, and under completed_first with its order completed); after the
    extraction, every eligible entry ahead of a paid one is full; and nothing is left
    unallocated while an eligible entry still waits."""
    run = run_engine(sc)
    state = {
        s: RefEntry(s, e.order, e.entitlement, e.paid, e.completed)
        for s, e in enumerate(sc.initial, start=1)
    }
    converted: set[int] = set()

    def eligible(e: RefEntry, order_id: int) -> bool:
        if e.paid >= e.entitlement or e.order == order_id:
            return False
        return sc.payout_order == PayoutOrder.QUEUE_ORDER or e.completed

    for result, batch in zip(run.results, sc.batches, strict=True):
        for outcome, line in zip(result.lines, batch.lines, strict=True):
            ex = outcome.extracted
            before = {s: eligible(e, line.order_id) for s, e in state.items()}
            for p in ex.payouts:
                assert p.seq not in converted, "a points entry was paid"
                assert before[p.seq], "a payout went to an ineligible entry"
                state[p.seq].paid += p.amount
                assert state[p.seq].paid == p.paid_after <= state[p.seq].entitlement
            for p in ex.payouts:
                for s, e in state.items():
                    if s < p.seq and before[s]:
                        assert e.paid == e.entitlement, f"entry {p.seq} paid before {s}"
            if ex.unallocated:
                assert not any(eligible(e, line.order_id) for e in state.values())
            j = outcome.joined
            if j is not None:
                assert j.seq not in state and j.seq not in converted
                if j.points:
                    converted.add(j.seq)
                else:
                    state[j.seq] = RefEntry(
                        j.seq, line.order_id, j.entitlement, 0, line.order_completed
                    )
        for e in state.values():
            if e.order in batch.completes_after:
                e.completed = True
    assert {s: e.paid for s, e in state.items()} == {s: w.paid for s, w in run.entries.items()}


@PROPERTY
@given(scenarios())
def test_engine_agrees_with_the_plain_reference_model(sc):
    run = run_engine(sc)
    expected_lines, expected_paid = reference(sc)
    assert engine_view(run) == expected_lines
    assert {s: w.paid for s, w in run.entries.items()} == expected_paid


@QUICK
@given(scenarios())
def test_random_return_converts_exactly_points_places_per_group(sc):
    run = run_engine(sc)
    flags = [o.joined.points > 0 for r in run.results for o in r.lines if o.joined is not None]
    rr = sc.random_return
    if rr is None:
        assert not any(flags)
        return
    size = rr.group_size
    for g in range(len(flags) // size):
        assert sum(flags[g * size : (g + 1) * size]) == rr.points_places
    tail = flags[len(flags) // size * size :]
    assert sum(tail) <= rr.points_places


# --- a loaded window either agrees with the whole queue or refuses --------------------------------


@st.composite
def window_cases(draw: st.DrawFn):
    queue = draw(st.lists(initial_entries(), min_size=0, max_size=8))
    loaded = draw(st.integers(0, len(queue)))
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("extract"), st.integers(0, 4_000), ORDERS),
                st.tuples(st.just("join"), st.integers(1, 3_000), ORDERS),
            ),
            max_size=8,
        )
    )
    return draw(st.sampled_from(list(PayoutOrder))), queue, loaded, ops


def open_book(queue, payout_order, *, loaded: int | None) -> QueueBook:
    window = [
        Waiting(s, e.order, 100 + s, e.entitlement, e.paid, e.completed)
        for s, e in enumerate(queue, start=1)
    ]
    return QueueBook(
        window[:loaded] if loaded is not None else window,
        next_seq=len(queue) + 1,
        waiting_count=len(queue),
        payout_order=payout_order,
        window_is_complete=loaded is None,
    )


@settings(max_examples=200, deadline=None)
@given(window_cases())
def test_incomplete_window_agrees_with_the_whole_queue_or_refuses_without_change(case):
    payout_order, queue, loaded, ops = case
    whole = open_book(queue, payout_order, loaded=None)
    part = open_book(queue, payout_order, loaded=loaded)
    for kind, amount, order in ops:
        if kind == "join":
            args = dict(order_id=order, member_id=order, entitlement=amount, order_completed=True)
            assert whole.join(**args) == part.join(**args)
            continue
        snapshot = {s: w.paid for s, w in part.touched.items()}, part.waiting_count
        try:
            got = part.extract(amount, order_id=order, paused=False)
        except WindowExhausted:
            assert ({s: w.paid for s, w in part.touched.items()}, part.waiting_count) == snapshot
            return
        assert got == whole.extract(amount, order_id=order, paused=False)
        assert part.waiting_count == whole.waiting_count
