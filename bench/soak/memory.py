"""Resident memory of every process of the soak, sampled from ``/proc`` as the run goes.

A process that keeps growing after its warm-up is what a soak is for: the report gives each
process's RSS at start (servers ready), at the middle sample and at the end, the growth over
the whole run and over its second half (warm-up caches are full by then, so steady growth
there is the sign of a leak).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench.http_path.stack import Stack, rss_kib


@dataclass
class Memory:
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (s, name → KiB)

    def sample(self, stack: Stack, at: float) -> None:
        procs = [*stack.servers, *stack.helpers, *([stack.fake] if stack.fake else [])]
        found = {proc.name: rss_kib(proc.pid) for proc in procs}
        found["load generator (this process)"] = rss_kib(os.getpid())
        self.samples.append((at, found))

    def table(self) -> list[dict[str, object]]:
        """Per process: RSS at start, middle and end (MiB), growth and second-half growth."""
        if not self.samples:
            return []
        (_, first), (_, middle), (_, last) = (
            self.samples[0],
            self.samples[len(self.samples) // 2],
            self.samples[-1],
        )
        rows = []
        for name, start in first.items():
            end, mid = last.get(name, 0), middle.get(name, 0)
            rows.append(
                {
                    "process": name,
                    "start_mib": start / 1024,
                    "middle_mib": mid / 1024,
                    "end_mib": end / 1024,
                    "growth_mib": (end - start) / 1024,
                    "second_half_growth_mib": (end - mid) / 1024,
                }
            )
        return rows
