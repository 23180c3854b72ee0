"""The run report: what a person reads in ten seconds after a run, also kept as JSON.

Covered: attempts per task, the share of samples cut at max_tokens, that became programs, ran
cleanly, were right on every train pair or were hard-coded; early stops, give-ups and tasks left open; throughput;
the share of the budget spent sampling; the score when the dataset has solutions.
Not covered: anything not derivable from the store, the scheduler and the submission file.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Iterable

import orjson

from arc_induct.scoring import score_submission
from arc_induct.store import Attempt
from arc_induct.submission import read_submission
from arc_induct.tasks import Task


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
    failed_requests: int  # requests that failed after the router's retries
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
        lines = [
            f"arc-induct run report: {self.tasks} tasks of {self.dataset}, backend {self.backend}",
            f"  attempts       {self.attempts} ({lo}/{med}/{hi} per task, min/median/max), {self.refinements} refinements, "
            f"{self.failed_requests} failed requests",
            f"  programs       {pct(self.programs)} extracted; {pct(self.truncated)} cut at max_tokens; "
            f"statuses: {statuses or 'none'}",
            f"  train-perfect  {pct(self.train_perfect)}; of those hard-coded {self.hardcoded}",
            f"  tasks          {outcomes}",
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
                 outcomes: Iterable[str | None], threshold: float, failed_requests: int, checkpoints: int,
                 sampling_seconds: float, total_seconds: float, budget_seconds: float, submission: Path,
                 notes: tuple[str, ...]) -> Report:
    """`attempts`: every stored attempt of the run's tasks; `outcomes`: each task's scheduler state
    (None = still open); `threshold`: the hard-coded probability at which a program is not general."""
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
        refinements=refines, failed_requests=failed_requests,
        task_outcomes=dict(Counter(o or "open" for o in outcomes)), sampling_seconds=sampling_seconds,
        total_seconds=total_seconds, budget_seconds=budget_seconds, checkpoints=checkpoints,
        score=score, score_fraction=fraction, submission=str(submission), notes=notes,
    )
