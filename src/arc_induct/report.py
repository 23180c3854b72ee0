"""The run report: what a person reads in ten seconds after a run, also kept as JSON.

Covered: attempts per task, the share of samples cut at max_tokens, that became programs, ran cleanly, were right
on every train pair or were hard-coded; early stops, give-ups and tasks left open; failed
requests by cause; why sampling ended (and, when the run could not sample at all, why: the CLI
then exits non-zero); throughput; the share of the budget spent sampling; the score when the
dataset has solutions. `FailureLog`: the run's failed requests, counted by cause for the report
and logged at most once per cause per interval.
Not covered: anything not derivable from the store, the scheduler and the submission file.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson

from arc_induct.scoring import score_submission
from arc_induct.store import Attempt
from arc_induct.submission import read_submission
from arc_induct.tasks import Task

if TYPE_CHECKING:
    from arc_induct.router import RouterError

log = logging.getLogger("arc_induct.run")


class FailureLog:
    """Failed requests by cause: each one counted for the report, but logged at most once per cause
    per `interval_s` (the first at once, later ones as one line with their count and the last
    message), so a backend that fails a thousand times a second cannot flood the log."""

    def __init__(self, interval_s: float = 30.0) -> None:
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._unlogged: Counter[str] = Counter()
        self._last: dict[str, str] = {}
        self._logged_at: dict[str, float] = {}

    def add(self, error: RouterError, now: float) -> None:
        self.counts[error.cause] += 1
        self._unlogged[error.cause] += 1
        self._last[error.cause] = str(error)
        if error.cause not in self._logged_at:
            self._emit(error.cause, now)

    def flush(self, now: float, final: bool = False) -> None:
        for cause in list(self._unlogged):
            if final or now - self._logged_at[cause] >= self.interval_s:
                self._emit(cause, now)

    def _emit(self, cause: str, now: float) -> None:
        n = self._unlogged.pop(cause)
        level = logging.INFO if cause == "replay_exhausted" else logging.WARNING  # how a replay ends
        if cause in self._logged_at:
            log.log(level, "%d requests failed (%s) in the last %.0f s; the last: %s",
                    n, cause, now - self._logged_at[cause], self._last[cause])
        else:
            log.log(level, "request failed (%s): %s", cause, self._last[cause])
        self._logged_at[cause] = now


@dataclass(frozen=True)
class Report:
    dataset: str
    backend: str
    tasks: int
    attempts: int
    attempts_per_task: tuple[int, int, int]  # min, median, max
    programs: int  # a program was extracted
    truncated: int  # completions that hit max_tokens (finish_reason "length")
    statuses: dict[str, int]
    train_perfect: int
    hardcoded: int  # train-perfect but judged hard-coded
    refinements: int
    failed_requests: int  # requests that failed for good (after the router's retries), all causes
    failures: dict[str, int]  # the same by cause (router.CAUSES)
    resent_requests: int  # requests the router sent again after an endpoint failed (not failures)
    ended: str  # why sampling ended: the deadline, nothing left to sample, a signal, never started
    error: str | None  # why the run could not sample at all; None when it did
    task_outcomes: dict[str, int]  # early_stop, gave_up, budget, open
    sampling_seconds: float
    total_seconds: float
    budget_seconds: float
    checkpoints: int
    score: float | None  # tasks solved (fractional), over the tasks run
    score_fraction: float | None
    submission: str
    notes: tuple[str, ...]

    def text(self) -> str:
        n = max(self.attempts, 1)
        pct = lambda k: f"{k} ({100 * k / n:.1f}%)"  # noqa: E731 - local formatting helper
        lo, med, hi = self.attempts_per_task
        outcomes = ", ".join(f"{k} {v}" for k, v in self.task_outcomes.items())
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items(), key=lambda kv: -kv[1]))
        rate = self.attempts / self.sampling_seconds if self.sampling_seconds else 0.0
        causes = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items(), key=lambda kv: -kv[1]))
        lines = [
            f"arc-induct run report: {self.tasks} tasks of {self.dataset}, backend {self.backend}",
            *([f"  ERROR          {self.error}"] if self.error else []),
            f"  attempts       {self.attempts} ({lo}/{med}/{hi} per task, min/median/max), {self.refinements} refinements, "
            f"{self.failed_requests} failed requests" + (f" ({causes})" if causes else "")
            + (f", {self.resent_requests} re-sent after an endpoint failed" if self.resent_requests else ""),
            f"  programs       {pct(self.programs)} extracted; {pct(self.truncated)} cut at max_tokens; "
            f"statuses: {statuses or 'none'}",
            f"  train-perfect  {pct(self.train_perfect)}; of those hard-coded {self.hardcoded}",
            f"  tasks          {outcomes}; sampling ended: {self.ended}",
            f"  throughput     {rate:.2f} samples/s over {self.sampling_seconds:.0f} s sampling "
            f"({100 * self.sampling_seconds / max(self.total_seconds, 1e-9):.0f}% of {self.total_seconds:.0f} s run; budget {self.budget_seconds:.0f} s)",
            f"  submission     {self.submission} ({self.checkpoints} writes)",
        ]
        if self.score is not None:
            lines.append(f"  score          {self.score:g} / {self.tasks} = {100 * self.score_fraction:.2f}%")
        else:
            lines.append("  score          unknown (the dataset has no solutions)")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def write(self, out: Path) -> None:
        (out / "report.txt").write_text(self.text() + "\n")
        (out / "report.json").write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))


def build_report(*, dataset: str, backend: str, tasks: list[Task], attempts: Iterable[Attempt],
                 outcomes: Iterable[str | None], threshold: float, failures: dict[str, int], checkpoints: int,
                 sampling_seconds: float, total_seconds: float, budget_seconds: float, submission: Path,
                 notes: tuple[str, ...], resent_requests: int = 0, ended: str = "", error: str | None = None
                 ) -> Report:
    """`attempts`: every stored attempt of the run's tasks; `outcomes`: each task's scheduler state
    (None = still open); `threshold`: the hard-coded probability at which a program is not general;
    `failures`: requests that failed for good, by cause."""
    per_task: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    programs = perfect = hard = refines = truncated = 0
    for a in attempts:
        per_task[a.task_id] += 1
        statuses[a.status] += 1
        programs += a.code is not None
        refines += a.kind == "refine"
        truncated += a.truncated is True
        if a.train_accuracy == 1.0:
            perfect += 1
            hard += not a.is_general(threshold)
    counts = [per_task[t.id] for t in tasks] or [0]
    score = fraction = None
    if tasks and all(t.test_outputs is not None for t in tasks):
        s = score_submission(read_submission(submission), tasks)
        score, fraction = s.total, s.fraction
    return Report(
        dataset=dataset, backend=backend, tasks=len(tasks), attempts=sum(per_task.values()),
        attempts_per_task=(min(counts), int(statistics.median(counts)), max(counts)),
        programs=programs, truncated=truncated, statuses=dict(statuses), train_perfect=perfect, hardcoded=hard,
        refinements=refines, failed_requests=sum(failures.values()), failures=dict(failures),
        resent_requests=resent_requests, ended=ended, error=error,
        task_outcomes=dict(Counter(o or "open" for o in outcomes)), sampling_seconds=sampling_seconds,
        total_seconds=total_seconds, budget_seconds=budget_seconds, checkpoints=checkpoints,
        score=score, score_fraction=fraction, submission=str(submission), notes=notes,
    )
