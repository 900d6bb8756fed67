"""The server's garbage-collector settings (runtime/gc_tuning.py), in a fresh interpreter: they
are process-wide, so this test process keeps CPython's own."""

import json
import subprocess
import sys

PROBE = """
import gc, json
before = gc.get_threshold()
from runtime.gc_tuning import YOUNG_THRESHOLD, tune_collector
tune_collector()
print(json.dumps({"before": before, "after": gc.get_threshold(), "young": YOUNG_THRESHOLD,
                  "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def test_tuning_raises_the_young_threshold_keeps_the_older_ratios_and_freezes_startup():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["after"] == [seen["young"], *seen["before"][1:]]
    assert seen["young"] > seen["before"][0]
    assert seen["frozen"] > 0  # start-up's objects are out of the collector's sight
    assert seen["enabled"]  # cycles are still collected
