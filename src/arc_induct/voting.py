"""Voting: from executed programs to two guesses per test input.

Covered:
- Attempts (`store.Attempt`: from a run's store, or from what `arc-induct execute` writes), added
  one at a time, so a results file of any size streams.
- Programs are grouped by the tuple of all their test outputs. Each program adds
  `(1 + 1000 * train_accuracy) * penalty(p)` to its group, p being `transduction`'s probability
  that it hard-codes answers: the one stored with the attempt, computed from its code only when
  none was stored. The 1000 makes one program that fits every train pair outweigh
  any crowd of programs that fit none, as in the published SOAR/BARC vote.
- `penalty(p) = max(1 - p, 0.001)`: a certain hard-coder keeps a thousandth of its weight, so it
  still beats nothing (it may be right when it hard-coded a general rule) but never a general
  program with comparable train accuracy.
- Ranking: first by the programs right on every train pair and judged general
  (p < `transduction.THRESHOLD`), each counting `penalty(p)`; then total weight; then program
  count; then the canonical JSON of the outputs (weights rounded to 1e-6, so summation order
  cannot flip a tie): the same rows in any order give the same answer. Perfect programs come
  first because on real models' pools (benchmarks/bench_vote_real.py) crowds of programs right
  on most train pairs outvoted the few right on all (six at 2/3 outweigh three at 3/3 by weight
  alone), and the perfect ones were the right ones.
- Attempt 1 for each test input is the top group's grid; attempt 2 is the best-ranked other
  group whose grid for that input differs (two groups may agree on one input and differ on
  another; repeating a guess would waste the attempt).
- Attempts whose test outputs are missing, errored or invalid (`grids.grid_fault`) take no part.
  A task with no usable program gets no guesses; `submission.build_submission` fills FALLBACK.

Not covered: executing programs (that is `execution`); per-test-input voting across different
programs (a program's test outputs are voted on as one answer, as in SOAR).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from arc_induct.grids import Grid, grid_fault
from arc_induct.store import Attempt
from arc_induct.tasks import Task
from arc_induct.transduction import THRESHOLD, probability_from_outputs

ACCURACY_WEIGHT = 1000.0
MIN_PENALTY = 0.001


class VoteError(ValueError):
    """An attempt cannot be voted on; the message names its task and field."""


def penalty(p: float) -> float:
    return max(1.0 - p, MIN_PENALTY)


def program_weight(train_accuracy: float, hardcoded_p: float) -> float:
    return (1.0 + ACCURACY_WEIGHT * train_accuracy) * penalty(hardcoded_p)


@dataclass
class _Group:
    outputs: tuple[Grid, ...]
    weight: float = 0.0
    count: int = 0
    perfect: float = 0.0  # sum of penalty(p) over programs right on every train pair and judged general


@dataclass
class Ballot:
    """Running vote for one task: attempts are added one at a time, then `guesses()` reads it."""

    task: Task
    groups: dict[bytes, _Group] = field(default_factory=dict)
    invalid: set[bytes] = field(default_factory=set)
    used: int = 0
    skipped: int = 0

    def add(self, attempt: Attempt) -> bool:
        """Count one attempt; False when it takes no part (no program, errored or invalid test outputs)."""
        result = attempt.result
        if result is None or len(result.test_outputs) != len(self.task.test_inputs):
            self.skipped += 1
            return False
        if len(result.train_correct) != len(self.task.train):
            raise VoteError(f"task {self.task.id}: attempt {attempt.index}: field 'train_correct' has "
                            f"{len(result.train_correct)} values for {len(self.task.train)} train pairs")
        key = orjson.dumps(result.test_outputs)
        # Many programs agree, so each distinct answer is checked by `grid_fault` once.
        if key not in self.groups and key not in self.invalid:
            if any(g is None or grid_fault(g) is not None for g in result.test_outputs):
                self.invalid.add(key)
        if key in self.invalid:
            self.skipped += 1
            return False
        group = self.groups.setdefault(key, _Group(tuple(result.test_outputs)))
        p = hardcoded_p(attempt, self.task)
        group.weight += program_weight(result.train_accuracy, p)
        group.count += 1
        if result.train_accuracy == 1.0 and p < THRESHOLD:
            group.perfect += penalty(p)
        self.used += 1
        return True

    def ranked(self) -> list[_Group]:
        def key(kv: tuple[bytes, _Group]) -> tuple:
            return -round(kv[1].perfect, 6), -round(kv[1].weight, 6), -kv[1].count, kv[0]

        return [g for _, g in sorted(self.groups.items(), key=key)]

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


def hardcoded_p(attempt: Attempt, task: Task) -> float:
    """The attempt's stored probability, else computed from its code (p once: a run stores it when
    the program is executed). An attempt with neither (a slimmed row without code) counts as general."""
    if attempt.hardcoded_p is not None:
        return attempt.hardcoded_p
    if attempt.code and attempt.result is not None:
        return probability_from_outputs(attempt.code, task, attempt.result.test_outputs)
    return 0.0


def vote(task: Task, attempts: Iterable[Attempt]) -> list[list[Grid]]:
    """Up to two guesses per test input, best first; [] when no attempt is usable."""
    ballot = Ballot(task)
    for attempt in attempts:
        ballot.add(attempt)
    return ballot.guesses()


def tally(attempts: Iterable[Attempt], tasks: Sequence[Task]) -> dict[str, Ballot]:
    """One ballot per task, filled from one stream of attempts (any order, any mix of tasks).

    An attempt naming a task outside `tasks` is an error: the results and the dataset do not
    belong together.
    """
    ballots = {t.id: Ballot(t) for t in tasks}
    for attempt in attempts:
        if attempt.task_id not in ballots:
            raise VoteError(f"attempt {attempt.id}: task_id {attempt.task_id!r} is not in the dataset")
        ballots[attempt.task_id].add(attempt)
    return ballots


def answers(ballots: dict[str, Ballot]) -> dict[str, list[list[Grid]]]:
    """Guesses of every task that has a usable attempt; the others are absent (they get FALLBACK)."""
    return {tid: g for tid, b in ballots.items() if (g := b.guesses())}
