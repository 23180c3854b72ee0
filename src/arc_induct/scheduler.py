"""Which task to sample next, and whether it is a first attempt or a refinement.

Covered:
- Tasks in prompt-length order, shortest first, visited in rounds so every task gets samples
  before any task gets many (a round issues one request per open task, short ones first).
- A per-task sample budget, extended when every open task has used it and time is left; early stop once a task has K programs right on every train pair and
  not hard-coded; give-up after M samples with no program right on even one train pair (its
  remaining budget simply goes to the tasks still open).
- Refinement: once a task has partly-right, non-hard-coded programs, a share of its requests
  refine one of them, chosen by Thompson sampling (REx): Beta(1 + C*h, 1 + C*(1-h) + refined).
- The sampling deadline: the budget minus a reserve sized from measured vote-and-write time.
- Restoring all of the above from stored rows, for `--resume`.

Not covered: reading a clock. The scheduler is a pure state machine with no clock, so the run loop drives
it in real time and `benchmarks/simulate_run.py` drives it in simulated time.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from arc_induct.config import RunConfig
from arc_induct.tasks import Task

# A parent pool bounded per task keeps memory flat over 12 hours of samples.
MAX_PARENTS = 64


@dataclass(frozen=True)
class WorkItem:
    """One request: n samples for one task, each with its own attempt id."""

    task_id: str
    attempt_ids: tuple[str, ...]
    kind: str  # "first" | "refine"
    parent: dict[str, Any] | None  # the parent's stored row, for the refinement prompt
    seed: int


@dataclass(frozen=True)
class SchedulerSettings:
    samples_per_request: int
    max_samples_per_task: int
    early_stop_k: int
    give_up_after: int
    refine_share: float
    refine_c: float
    hardcoded_threshold: float
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: RunConfig) -> SchedulerSettings:
        return cls(
            samples_per_request=cfg.samples_per_request,
            max_samples_per_task=cfg.max_samples_per_task,
            early_stop_k=cfg.early_stop_k,
            give_up_after=cfg.give_up_after,
            refine_share=cfg.refine_share,
            refine_c=cfg.refine_c,
            hardcoded_threshold=cfg.hardcoded_threshold,
            seed=cfg.seed,
        )


@dataclass
class TaskState:
    task: Task
    prompt_length: int
    issued: int = 0  # samples requested so far (attempt ids handed out)
    recorded: int = 0  # samples whose rows came back
    in_flight: int = 0  # requests outstanding
    solved: int = 0  # train-perfect, not hard-coded
    any_partial: bool = False  # some program right on at least one train pair
    refines: int = 0
    done: str | None = None  # None | "early_stop" | "gave_up" | "budget" | a skip reason
    parents: dict[str, dict[str, Any]] = field(default_factory=dict)
    times_refined: dict[str, int] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.done is None


def train_accuracy(row: dict[str, Any]) -> float:
    correct = row.get("train_correct") or []
    return sum(correct) / len(correct) if correct else 0.0


class Scheduler:
    def __init__(self, tasks: Iterable[tuple[Task, int]], settings: SchedulerSettings) -> None:
        self.s = settings
        ordered = sorted(tasks, key=lambda tl: (tl[1], tl[0].id))
        self.states = {t.id: TaskState(t, n) for t, n in ordered}
        self.order = [t.id for t, _ in ordered]
        self._cursor = 0
        self._rng = random.Random(settings.seed)
        self.max_samples = settings.max_samples_per_task  # grows via extend_budget

    # --- issuing
    def next_item(self) -> WorkItem | None:
        """The next request to send, or None when every open task is at its budget or waiting."""
        for step in range(len(self.order)):
            st = self.states[self.order[(self._cursor + step) % len(self.order)]]
            if not st.open or st.issued >= self.max_samples:
                continue
            self._cursor = (self._cursor + step + 1) % len(self.order)
            return self._issue(st)
        return None

    def skip(self, task_id: str, reason: str) -> None:
        """Close a task before it starts (e.g. its prompt does not fit the model); never reopened."""
        self.states[task_id].done = reason

    def extend_budget(self, factor: float = 1.5) -> bool:
        """Time is left but every open task has used its samples: give each open task more.

        The per-task budget shapes how samples spread; it must never leave replicas idle while the
        clock still runs. Returns False when no task is open (nothing to extend)."""
        open_states = [st for st in self.states.values() if st.open or st.done == "budget"]  # not skipped
        if not open_states:
            return False
        self.max_samples = int(self.max_samples * factor) + 1
        for st in open_states:
            st.done = None
        return True

    def _issue(self, st: TaskState) -> WorkItem:
        n = min(self.s.samples_per_request, self.max_samples - st.issued)
        ids = tuple(f"{st.task.id}/{st.issued + i}" for i in range(n))
        st.issued += n
        st.in_flight += 1
        parent = self._pick_parent(st) if st.parents and self._rng.random() < self.s.refine_share else None
        if parent is not None:
            st.refines += 1
            st.times_refined[parent["attempt_id"]] = st.times_refined.get(parent["attempt_id"], 0) + 1
        return WorkItem(st.task.id, ids, "refine" if parent else "first", parent, self._seed(ids[0]))

    def _pick_parent(self, st: TaskState) -> dict[str, Any]:
        c = self.s.refine_c

        def draw(aid: str) -> float:
            h = train_accuracy(st.parents[aid])
            return self._rng.betavariate(1 + c * h, 1 + c * (1 - h) + st.times_refined.get(aid, 0))

        return st.parents[max(sorted(st.parents), key=draw)]

    def _seed(self, attempt_id: str) -> int:
        # Stable across processes (unlike hash()), distinct per attempt, so resumed runs differ
        # from nothing they already sampled.
        return zlib.crc32(f"{self.s.seed}:{attempt_id}".encode()) & 0x7FFFFFFF

    # --- results
    def finish(self, item: WorkItem, rows: list[dict[str, Any]]) -> None:
        """A request came back (rows may be empty if it failed for good)."""
        st = self.states[item.task_id]
        st.in_flight -= 1
        for row in rows:
            self.record(row)
        self._update_done(st)

    def record(self, row: dict[str, Any]) -> None:
        """Count one stored attempt row (also used to restore state on resume)."""
        st = self.states.get(row["task_id"])
        if st is None:
            return  # a row of a task outside this run (e.g. --tasks was lowered on resume)
        st.recorded += 1
        index = int(row["attempt_id"].rsplit("/", 1)[1])
        st.issued = max(st.issued, index + 1)
        if row.get("kind") == "refine" and row.get("parent"):
            st.times_refined[row["parent"]] = st.times_refined.get(row["parent"], 0) + 1
        h = train_accuracy(row)
        hard = (row.get("hardcoded_probability") or 0.0) >= self.s.hardcoded_threshold
        if h == 1.0 and not hard:
            st.solved += 1
        if h > 0:
            st.any_partial = True
        if 0 < h < 1 and not hard:
            st.parents[row["attempt_id"]] = _parent_view(row)
            if len(st.parents) > MAX_PARENTS:  # drop the weakest
                worst = min(sorted(st.parents), key=lambda a: train_accuracy(st.parents[a]))
                del st.parents[worst]
        self._update_done(st)

    def _update_done(self, st: TaskState) -> None:
        if st.done is not None:
            return
        if st.solved >= self.s.early_stop_k:
            st.done = "early_stop"
        elif not st.any_partial and st.recorded >= self.s.give_up_after:
            st.done = "gave_up"
        elif st.issued >= self.max_samples and st.in_flight == 0:
            st.done = "budget"

    @property
    def finished_tasks(self) -> int:
        """Tasks that will get no more samples: stopped early, given up, or skipped. A task at its
        budget is not one of them: extend_budget may reopen it, and a count that went down would
        tell the user progress was lost."""
        return sum(st.done not in (None, "budget") for st in self.states.values())


def sampling_deadline(started: float, budget_s: float, reserve_min_s: float, checkpoint_seconds: float) -> float:
    """When sampling must stop: the budget minus a reserve for the final vote and write, sized
    from the slowest checkpoint measured so far (three of them) and never below `reserve_min_s`."""
    return started + budget_s - max(reserve_min_s, 3 * checkpoint_seconds)


def _parent_view(row: dict[str, Any]) -> dict[str, Any]:
    # What a refinement prompt needs (the code and its execution result), without the completion
    # text, the bulk of a row.
    return {k: v for k, v in row.items() if k != "completion"}
