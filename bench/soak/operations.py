"""What an operator does while members buy: settings changes and job runs, on a timer.

Settings go through ``PUT /api/admin/settings`` with an admin token, as the console sends them:
the base extraction ratio down and back, rewards paused and resumed (队列奖励暂停), the display
name — every change reaches every server process through its settings cache and LISTEN/NOTIFY.
Jobs run through ``POST /api/admin/jobs/NAME/run`` and, every other time, through
``queue-rebate jobs run NAME`` (the operator's command line), while the servers' own
schedulers run theirs. A refused change, a failed or refused request or a job whose run
``failed`` counts as an error of its kind.

The admin token is signed with the servers' ``[auth] admin_token_secret`` (the soak wrote their
configuration), as a console's login would issue it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.http_path.clients import expect
from bench.http_path.stack import Stack, run_cli
from web.auth import TokenSigner

SETTINGS_CHANGES: tuple[dict[str, Any], ...] = (
    {"base": {"extract_bp": 6000}},
    {"base": {"paused": True}},
    {"display": {"rebate_name": "排队返利（压测）"}},
    {"base": {"paused": False}},
    {"base": {"extract_bp": 6500}},
    {"display": {"rebate_name": "排队返利"}},
)
JOBS = (
    "reconciliation",
    "auto_complete",
    "commission-release",
    "love-release",
    "double-payment-refunds",
    "team-levels",
)


@dataclass
class OperatorFigures:
    settings_changes: int = 0
    job_runs: Counter[str] = field(default_factory=Counter)  # "api" / "cli" → runs that answered
    job_statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def admin_token(stack: Stack) -> str:
    signer = TokenSigner(
        member_secret=stack.secrets["member"],
        admin_secret=stack.secrets["admin"],
        member_ttl=3600,
        admin_ttl=24 * 3600,
    )
    return signer.issue_admin("soak@bench")


class Operator:
    def __init__(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        self.stack, self.http = stack, http
        self.auth = {"Authorization": f"Bearer {admin_token(stack)}"}
        self.figures = OperatorFigures()
        self.turn = itertools.count()

    def url(self, path: str) -> str:
        ports = self.stack.ports
        return f"http://127.0.0.1:{ports[next(self.turn) % len(ports)]}{path}"

    async def change_settings(self, change: dict[str, Any]) -> None:
        async with self.http.put(
            self.url("/api/admin/settings"), json=change, headers=self.auth
        ) as reply:
            await expect(reply, 200, f"PUT /api/admin/settings {change}")
        self.figures.settings_changes += 1

    async def run_job(self, name: str, through_cli: bool) -> None:
        if through_cli:
            config = self.stack.scratch / f"serve-{self.stack.ports[0]}.toml"
            out = await run_cli("jobs", "run", name, "--config", str(config))  # exit 1: failed
            status = "succeeded" if ": done:" in out else "skipped"
            self.figures.job_runs["cli"] += 1
        else:
            async with self.http.post(
                self.url(f"/api/admin/jobs/{name}/run"), json={}, headers=self.auth
            ) as reply:
                answer = await expect(reply, 200, f"POST /api/admin/jobs/{name}/run")
            status = answer["job"]["status"]
            self.figures.job_runs["api"] += 1
        self.figures.job_statuses[f"{name}: {status}"] += 1
        if status == "failed":
            raise RuntimeError(f"job {name} failed")

    async def attempt(self, kind: str, work: Any) -> None:
        try:
            await work
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            self.figures.errors[kind] += 1
            print(f"soak: {kind} failed: {str(exc)[:300]}", flush=True)

    async def run(self, every: Sequence[float], stop: asyncio.Event) -> None:
        """A settings change every ``every[0]`` s and a job run every ``every[1]`` s, until
        ``stop``; the first of each comes after one interval."""
        settings_every, jobs_every = every
        loop = asyncio.get_running_loop()
        next_change, next_job = loop.time() + settings_every, loop.time() + jobs_every
        changes, jobs = itertools.cycle(SETTINGS_CHANGES), itertools.cycle(JOBS)
        runs = itertools.count()
        while not stop.is_set():
            now = loop.time()
            if now >= next_change:
                await self.attempt("settings change", self.change_settings(next(changes)))
                next_change += settings_every
            if now >= next_job:
                through_cli = next(runs) % 2 == 1
                await self.attempt("job run", self.run_job(next(jobs), through_cli))
                next_job += jobs_every
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, min(next_change, next_job) - now))
            except TimeoutError:
                pass
