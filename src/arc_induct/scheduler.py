"""Which task to sample next, and whether it is a first attempt or a refinement.

Covered:
- Tasks in prompt-length order, shortest first, visited in rounds so every task gets samples
  before any task gets many (a round issues one request per open task, short ones first).
- A per-task sample budget, extended when every open task has used it and time is left; early stop once a task has K programs right on every train pair and
  not hard-coded; give-up after M samples with no program right on even one train pair (its
  remaining budget simply goes to the tasks still open).
- Refinement: once a task has partly-right, non-hard-coded programs, a share of its requests
  refine one of them, chosen by Thompson sampling (REx): Beta(1 + C*h, 1 + C*(1-h) + refined).
- Failed requests: a task whose request failed for good rests for a delay that doubles with each
  failure in a row (so no failure is re-sent in a tight loop, whatever the backend), and the
  request's samples go back to it, sent again once the rest is over, when the failure may pass.
  A task can also be closed for good (its prompt does not fit, its recordings are exhausted).
- The sampling deadline: the budget minus a reserve sized from measured vote-and-write time.
- Restoring all of the above from stored rows, for `--resume`.

Not covered: reading a clock. The scheduler is a pure state machine with no clock: every method
that depends on time takes `now` (seconds, any origin), so the run loop drives it in real time and
`benchmarks/simulate_run.py` in simulated time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from arc_induct.store import Attempt
from arc_induct.tasks import Task
from arc_induct.transduction import THRESHOLD

# A parent pool bounded per task keeps memory flat over 12 hours of samples.
MAX_PARENTS = 64


@dataclass(frozen=True)
class SchedulerConfig:
    """The run's scheduling section; every default here is the one default."""

    samples_per_request: int = 2  # vLLM's n: one prompt, several programs (they share the prefix)
    max_samples_per_task: int = 8  # grows by `extend_budget` while time is left
    extend_budget: bool = True  # when every task used its samples and time is left, sample more
    early_stop_k: int = 6  # programs right on every train pair and not hard-coded
    give_up_after: int = 64  # samples with no program right on even one train pair
    refine_share: float = 0.5  # share of a task's requests that refine, once it has a partial program
    refine_c: float = 20.0  # REx: Beta(1 + C*h, 1 + C*(1-h) + times refined)
    hardcoded_threshold: float = THRESHOLD
    retry_delay_s: float = 1.0  # a task rests this long after a failed request, doubling per failure in a row
    max_retry_delay_s: float = 60.0


@dataclass(frozen=True)
class WorkItem:
    """One request: n samples for one task, each with its own attempt index."""

    task_id: str
    indices: tuple[int, ...]
    kind: str  # "first" | "refine"
    parent: Attempt | None  # the attempt to refine (its completion text dropped)
    seed: int


def attempt_seed(base_seed: int, task_id: str, index: int) -> int:
    """The one seed function: stable across processes (unlike hash()), distinct per request, so a
    resumed run samples nothing it already sampled, and the same on every retry of a request."""
    digest = hashlib.blake2b(f"{base_seed}\0{task_id}\0{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


@dataclass
class TaskState:
    task: Task
    prompt_length: int
    issued: int = 0  # samples requested so far (attempt indices handed out)
    recorded: int = 0  # samples whose attempts came back
    in_flight: int = 0  # requests outstanding
    solved: int = 0  # train-perfect, not hard-coded
    any_partial: bool = False  # some program right on at least one train pair
    refines: int = 0
    failures: int = 0  # failed requests in a row; a success resets it
    resume_at: float = -math.inf  # after a failure nothing is issued for this task before then
    held: list[WorkItem] = field(default_factory=list)  # failed requests to send again after the rest
    done: str | None = None  # None | "early_stop" | "gave_up" | "budget" | a close reason
    parents: dict[int, Attempt] = field(default_factory=dict)
    times_refined: dict[int, int] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.done is None


class Scheduler:
    def __init__(self, tasks: Iterable[tuple[Task, int]], config: SchedulerConfig, seed: int = 0) -> None:
        self.s = config
        self.seed = seed
        ordered = sorted(tasks, key=lambda tl: (tl[1], tl[0].id))
        self.states = {t.id: TaskState(t, n) for t, n in ordered}
        self.order = [t.id for t, _ in ordered]
        self._cursor = 0
        self._rng = random.Random(seed)
        self.max_samples = config.max_samples_per_task  # grows via extend_budget

    # --- issuing
    def next_item(self, now: float) -> WorkItem | None:
        """The next request to send, or None when every open task is at its budget, resting after a
        failure, or waiting. A task's failed requests go again (same indices, same seed) before new ones."""
        for step in range(len(self.order)):
            st = self.states[self.order[(self._cursor + step) % len(self.order)]]
            if not st.open or st.resume_at > now or (not st.held and st.issued >= self.max_samples):
                continue
            self._cursor = (self._cursor + step + 1) % len(self.order)
            if st.held:
                st.in_flight += 1
                return st.held.pop(0)
            return self._issue(st)
        return None

    def close(self, task_id: str, reason: str) -> None:
        """Close a task for good, e.g. its prompt does not fit the model ("too_long") or its
        recordings ran out ("replay_exhausted"); never reopened. Requests in flight may still land."""
        st = self.states[task_id]
        if st.done in (None, "budget"):
            st.done = reason
        st.held.clear()

    def extend_budget(self, now: float, factor: float = 1.5) -> bool:
        """Time is left but every open task has used its samples: give each open task more.

        The per-task budget shapes how samples spread; it must never leave replicas idle while the
        clock still runs. Returns False when that cannot help: no task is open, or each one left is
        resting after a failure or has failed requests to send again (more samples would only
        grow the budget while nothing is sent)."""
        open_states = [st for st in self.states.values() if st.open or st.done == "budget"]  # not closed
        if not any(st.resume_at <= now and not st.held for st in open_states):
            return False
        self.max_samples = int(self.max_samples * factor) + 1
        for st in open_states:
            st.done = None
        return True

    def _issue(self, st: TaskState) -> WorkItem:
        n = min(self.s.samples_per_request, self.max_samples - st.issued)
        indices = tuple(range(st.issued, st.issued + n))
        st.issued += n
        st.in_flight += 1
        parent = self._pick_parent(st) if st.parents and self._rng.random() < self.s.refine_share else None
        if parent is not None:
            st.refines += 1
            st.times_refined[parent.index] = st.times_refined.get(parent.index, 0) + 1
        return WorkItem(st.task.id, indices, "refine" if parent else "first", parent,
                        attempt_seed(self.seed, st.task.id, indices[0]))

    def _pick_parent(self, st: TaskState) -> Attempt:
        c = self.s.refine_c

        def draw(index: int) -> float:
            h = st.parents[index].train_accuracy
            return self._rng.betavariate(1 + c * h, 1 + c * (1 - h) + st.times_refined.get(index, 0))

        return st.parents[max(sorted(st.parents), key=draw)]

    # --- results
    def finish(self, item: WorkItem, attempts: list[Attempt]) -> None:
        """A request came back with its attempts (also: one cancelled at the deadline, with none)."""
        st = self.states[item.task_id]
        st.in_flight -= 1
        if attempts:
            st.failures = 0
        for attempt in attempts:
            self.record(attempt)
        self._update_done(st)

    def fail(self, item: WorkItem, now: float, retry: bool) -> None:
        """A request failed for good. Its task rests for retry_delay_s, doubling with each failure
        in a row up to max_retry_delay_s; with `retry` (the failure may pass: a replica down, a
        timeout) the request goes back to the task and is sent again after the rest, else its
        samples are lost (sending the same request again would get the same answer)."""
        st = self.states[item.task_id]
        st.in_flight -= 1
        st.failures += 1
        delay = min(self.s.max_retry_delay_s, self.s.retry_delay_s * 2 ** min(st.failures - 1, 30))
        st.resume_at = max(st.resume_at, now + delay)
        if retry and st.open:
            st.held.append(item)
        self._update_done(st)

    def wake_at(self, now: float) -> float | None:
        """When a task now resting could be sent something again; None if no task is resting.
        With nothing in flight and nothing to issue, the run sleeps until then or ends."""
        waiting = [st.resume_at for st in self.states.values()
                   if st.resume_at > now and (st.open or (st.done == "budget" and self.s.extend_budget))]
        return min(waiting, default=None)

    def record(self, attempt: Attempt) -> None:
        """Count one stored attempt (also used to restore state on resume)."""
        st = self.states.get(attempt.task_id)
        if st is None:
            return  # an attempt of a task outside this run (e.g. --tasks was lowered on resume)
        st.recorded += 1
        st.issued = max(st.issued, attempt.index + 1)
        if attempt.kind == "refine" and attempt.parent is not None:
            st.times_refined[attempt.parent] = st.times_refined.get(attempt.parent, 0) + 1
        h = attempt.train_accuracy
        general = attempt.is_general(self.s.hardcoded_threshold)
        if attempt.solved_train(self.s.hardcoded_threshold):
            st.solved += 1
        if h > 0:
            st.any_partial = True
        if 0 < h < 1 and general:
            # What a refinement prompt needs is the code and its result, not the completion text,
            # the bulk of an attempt.
            st.parents[attempt.index] = dataclasses.replace(attempt, completion=None)
            if len(st.parents) > MAX_PARENTS:  # drop the weakest
                worst = min(sorted(st.parents), key=lambda i: st.parents[i].train_accuracy)
                del st.parents[worst]
        self._update_done(st)

    def _update_done(self, st: TaskState) -> None:
        if st.done is not None:
            return
        if st.solved >= self.s.early_stop_k:
            st.done = "early_stop"
        elif not st.any_partial and st.recorded >= self.s.give_up_after:
            st.done = "gave_up"
        elif st.issued >= self.max_samples and st.in_flight == 0 and not st.held:
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
