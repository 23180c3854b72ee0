"""Voting: from executed programs to two guesses per test input.

Covered:
- Rows as `arc-induct execute` writes them (JSON objects with task_id, code, train_correct,
  train_outputs, test_outputs, ...), read one at a time, so a results file of any size streams.
- Programs are grouped by the tuple of all their test outputs. Each program adds
  `(1 + 1000 * train_accuracy) * penalty(p)` to its group, p being `transduction`'s probability
  that it hard-codes answers. The 1000 makes one program that fits every train pair outweigh
  any crowd of programs that fit none, as in the published SOAR/BARC vote.
- `penalty(p) = max(1 - p, 0.001)`: a certain hard-coder keeps a thousandth of its weight, so it
  still beats nothing (it may be right when it hard-coded a general rule) but never a general
  program with comparable train accuracy.
- Ranking: total weight (rounded to 1e-6, so summation order cannot flip a tie), then program
  count, then the canonical JSON of the outputs: the same rows in any order give the same answer.
- Attempt 1 for each test input is the top group's grid; attempt 2 is the best-ranked other
  group whose grid for that input differs (two groups may agree on one input and differ on
  another; repeating a guess would waste the attempt).
- Rows whose test outputs are missing, errored or invalid (`grids.grid_fault`) take no part.
  A task with no usable program gets no guesses; `submission.build_submission` fills FALLBACK.

Not covered: executing programs (that is `execution`); per-test-input voting across different
programs (a program's test outputs are voted on as one answer, as in SOAR).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from arc_induct.grids import Grid, grid_fault
from arc_induct.tasks import Task
from arc_induct.transduction import probability_from_outputs

ACCURACY_WEIGHT = 1000.0
MIN_PENALTY = 0.001


class VoteError(ValueError):
    """A results row cannot be voted on; the message names the row's task and field."""


def penalty(p: float) -> float:
    return max(1.0 - p, MIN_PENALTY)


def program_weight(train_accuracy: float, hardcoded_p: float) -> float:
    return (1.0 + ACCURACY_WEIGHT * train_accuracy) * penalty(hardcoded_p)


@dataclass
class _Group:
    outputs: tuple[Grid, ...]
    weight: float = 0.0
    count: int = 0


@dataclass
class Ballot:
    """Running vote for one task: rows are added one at a time, then `guesses()` reads it."""

    task: Task
    groups: dict[bytes, _Group] = field(default_factory=dict)
    invalid: set[bytes] = field(default_factory=set)
    used: int = 0
    skipped: int = 0

    def add(self, row: dict) -> bool:
        """Count one row; False when it takes no part (missing, errored or invalid test outputs)."""
        key = _outputs_key(row, self.task)
        # Many programs agree, so each distinct answer is checked by `grid_fault` once.
        if key is not None and key not in self.groups and key not in self.invalid:
            if usable_test_outputs(row, self.task) is None:
                self.invalid.add(key)
        if key is None or key in self.invalid:
            self.skipped += 1
            return False
        outputs = tuple(row["test_outputs"])
        group = self.groups.setdefault(key, _Group(outputs))
        group.weight += program_weight(train_accuracy(row, self.task), hardcoded_p(row, self.task, outputs))
        group.count += 1
        self.used += 1
        return True

    def ranked(self) -> list[_Group]:
        return [
            g for _, g in sorted(self.groups.items(), key=lambda kv: (-round(kv[1].weight, 6), -kv[1].count, kv[0]))
        ]

    def guesses(self) -> list[list[Grid]]:
        ranked = self.ranked()
        if not ranked:
            return []
        answers = []
        for i in range(len(self.task.test_inputs)):
            first = ranked[0].outputs[i]
            second = next((g.outputs[i] for g in ranked[1:] if g.outputs[i] != first), None)
            answers.append([first] if second is None else [first, second])
        return answers


def hardcoded_p(row: dict, task: Task, test_outputs: tuple[Grid, ...]) -> float:
    """The row's `hardcoded_probability` when the run stored one, else computed from its code.

    A row with neither (a slimmed row without code) counts as general: p = 0.
    """
    p = row.get("hardcoded_probability")
    if p is not None:
        return float(p)
    if row.get("code"):
        return probability_from_outputs(row["code"], task, test_outputs)
    return 0.0


def _outputs_key(row: dict, task: Task) -> bytes | None:
    """Canonical JSON of the row's test outputs, or None when they are not one item per test input."""
    outputs = row.get("test_outputs")
    if not isinstance(outputs, list | tuple) or len(outputs) != len(task.test_inputs):
        return None
    try:
        return orjson.dumps(outputs)
    except TypeError:  # not JSON at all (e.g. a set): certainly not grids
        return None


def usable_test_outputs(row: dict, task: Task) -> tuple[Grid, ...] | None:
    """The row's test outputs when there is one valid grid per test input, else None."""
    outputs = row.get("test_outputs")
    # tuples too: rows built in memory from `ExecutionResult.to_row()` have not been through JSON
    if not isinstance(outputs, list | tuple) or len(outputs) != len(task.test_inputs):
        return None
    if any(g is None or grid_fault(g) is not None for g in outputs):
        return None
    return tuple(outputs)


def train_accuracy(row: dict, task: Task) -> float:
    """Fraction of train pairs right, from `train_correct` (as `ExecutionResult.train_accuracy`)."""
    correct = row.get("train_correct")
    if not isinstance(correct, list | tuple) or len(correct) != len(task.train):
        got = f"{len(correct)} values" if isinstance(correct, list | tuple) else repr(correct)
        raise VoteError(f"task {task.id}: field 'train_correct' must list one bool per train pair "
                        f"({len(task.train)}), got {got}")
    return sum(bool(c) for c in correct) / len(task.train)


def vote(task: Task, rows: Iterable[dict]) -> list[list[Grid]]:
    """Up to two guesses per test input, best first; [] when no row is usable."""
    ballot = Ballot(task)
    for row in rows:
        ballot.add(row)
    return ballot.guesses()


def tally(rows: Iterable[dict], tasks: Sequence[Task]) -> dict[str, Ballot]:
    """One ballot per task, filled from one stream of rows (any order, any mix of tasks).

    Rows naming a task outside `tasks` are an error: they mean the results and the dataset
    do not belong together.
    """
    ballots = {t.id: Ballot(t) for t in tasks}
    for n, row in enumerate(rows, 1):
        task_id = row.get("task_id") if isinstance(row, dict) else None
        if task_id not in ballots:
            raise VoteError(f"row {n}: task_id {task_id!r} is not in the dataset")
        ballots[task_id].add(row)
    return ballots


def vote_rows(rows: Iterable[dict], tasks: Sequence[Task]) -> dict[str, list[list[Grid]]]:
    """Guesses for every task with a usable row; tasks without one are absent (FALLBACK later)."""
    return {tid: g for tid, b in tally(rows, tasks).items() if (g := b.guesses())}
