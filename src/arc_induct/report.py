"""The run report: what a person reads in ten seconds after a run, also kept as JSON.

Covered: attempts per task, the share of samples that became programs, ran cleanly, were right
on every train pair or were hard-coded; early stops, give-ups and tasks left open; throughput;
the share of the budget spent sampling; the score when the dataset has solutions.
Not covered: anything not derivable from the store, the scheduler and the submission file.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from arc_induct.scheduler import train_accuracy
from arc_induct.scoring import score_submission
from arc_induct.store import read_rows
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
            f"  programs       {pct(self.programs)} extracted; statuses: {statuses or 'none'}",
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


def build_report(cfg: Any, chosen: list[Task], store_path: Path, ctx: Any,
                 sampling_seconds: float, total_seconds: float) -> Report:
    per_task: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    programs = perfect = hard = refines = 0
    for row in read_rows(store_path):
        per_task[row["task_id"]] += 1
        statuses[row.get("status", "?")] += 1
        programs += row.get("code") is not None
        refines += row.get("kind") == "refine"
        if train_accuracy(row) == 1.0:
            perfect += 1
            hard += (row.get("hardcoded_probability") or 0.0) >= cfg.hardcoded_threshold
    counts = [per_task[t.id] for t in chosen] or [0]
    outcomes = Counter(st.done or "open" for st in ctx.scheduler.states.values())
    score = fraction = None
    if chosen and all(t.test_outputs is not None for t in chosen):
        s = score_submission(read_submission(cfg.submission_path), chosen)
        score, fraction = s.total, s.fraction
    return Report(
        dataset=cfg.dataset, backend=cfg.backend, tasks=len(chosen), attempts=sum(per_task.values()),
        attempts_per_task=(min(counts), int(statistics.median(counts)), max(counts)),
        programs=programs, statuses=dict(statuses), train_perfect=perfect, hardcoded=hard,
        refinements=refines, failed_requests=ctx.failed_requests, task_outcomes=dict(outcomes), sampling_seconds=sampling_seconds,
        total_seconds=total_seconds, budget_seconds=cfg.budget_s, checkpoints=ctx.checkpoints,
        score=score, score_fraction=fraction, submission=str(cfg.submission_path), notes=cfg.notes,
    )
