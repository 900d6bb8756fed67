"""Garbage-collector settings for the long-running server, where queue writers run.

CPython starts a young collection every 700 container objects allocated and not yet freed.
A queue writer's batch builds tens of thousands of short-lived rows (tuples, lists, records);
none of them is part of a cycle, so reference counting frees them, yet with the default
thresholds the settling process ran ~1,150 young, ~105 middle and 9 full collections per
60,000 settled orders — ~0.45 s of its ~3.8 s of CPU (bench/RESULTS.md). With the young
threshold above a batch's working set, collections become rare; cycles are still collected.
"""

import gc

YOUNG_THRESHOLD = 50_000  # CPython's default: 700


def tune_collector() -> None:
    """Call once, after start-up: what start-up built (modules, models, the application) is
    moved out of the collector's sight for good, and young collections wait for
    ``YOUNG_THRESHOLD`` objects. The older generations keep CPython's ratios (10, 10)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
