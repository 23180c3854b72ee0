"""The ARC Prize metric.

A test input scores 1 when either attempt equals its solution exactly; a task scores the mean
over its test inputs; the total is the mean over tasks. Missing tasks, entries or attempts
score 0 rather than raising, as on Kaggle; `submission.submission_faults` says why.

Not covered: partial credit of any kind (the competition gives none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from arc_induct.submission import ATTEMPT_KEYS
from arc_induct.tasks import Task


@dataclass(frozen=True)
class TaskScore:
    task_id: str
    correct: tuple[bool, ...]  # one per test input

    @property
    def score(self) -> float:
        return sum(self.correct) / len(self.correct)


@dataclass(frozen=True)
class Score:
    tasks: tuple[TaskScore, ...]

    @property
    def total(self) -> float:
        """Sum of task scores (fractional when a task is partly right)."""
        return sum(t.score for t in self.tasks)

    @property
    def fraction(self) -> float:
        return self.total / len(self.tasks) if self.tasks else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.total,
            "tasks": len(self.tasks),
            "fraction": self.fraction,
            "per_task": [asdict(t) | {"score": t.score} for t in self.tasks],
        }


class ScoringError(ValueError):
    """The dataset has no solutions for a task, so nothing can be scored."""


def score_submission(sub: Any, tasks: Sequence[Task]) -> Score:
    results = []
    sub = sub if isinstance(sub, dict) else {}
    for task in tasks:
        if task.test_outputs is None:
            raise ScoringError(f"task {task.id}: the dataset has no test outputs to score against")
        entries = sub.get(task.id)
        entries = entries if isinstance(entries, list) else []
        correct = []
        for i, solution in enumerate(task.test_outputs):
            entry = entries[i] if i < len(entries) and isinstance(entries[i], dict) else {}
            # Grids are plain nested lists everywhere in arc_induct, so == is exact equality.
            correct.append(any(entry.get(k) == solution for k in ATTEMPT_KEYS))
        results.append(TaskScore(task.id, tuple(correct)))
    return Score(tuple(results))
