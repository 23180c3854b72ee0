"""The attempt record, its JSON form, and the durable store of every attempt a run makes.

Covered:
- `ExecutionResult`: one program run on every grid of a task (built by `execution`).
- `Attempt`: one sample as it crosses the stages: task id, integer index, kind, parent index,
  completion, code, extraction reason, execution result and hard-coded probability. The scheduler,
  voting, the report, refinement and `arc-induct vote` all take Attempts.
- The JSON row of an attempt (`Attempt.to_json` / `Attempt.from_json`): this module is the only
  code that knows it, and `from_json` checks every field, naming the one at fault.
- `AttemptStore`: append-only JSONL (jsonl.py), one flushed line per attempt, read back for
  `--resume`, the report and re-voting.

Not covered: what the fields mean for a stage (voting weighs them, the scheduler counts them).

The row is flat, so a person can read it and `arc-induct execute` can add result fields to any
row it is given: task_id, index, kind, parent, prompt_hash, completion, code, extract_reason,
hardcoded_probability, sample_seconds, endpoint, truncated, status, then (when a program ran) train_outputs,
train_errors, test_outputs, test_errors, train_correct, test_correct, seconds. Rows without a
program have status "no_program" and no result fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_induct.grids import Grid
from arc_induct.jsonl import Appender, JsonlError, read_jsonl

# What one program run can end as. "no_program" (nothing to run) is an attempt's status, not a run's.
STATUSES = ("ok", "exception", "timeout", "memory", "crashed", "invalid_output", "no_function", "syntax_error")
NO_PROGRAM = "no_program"
KINDS = ("first", "refine", "given")  # "given": a program handed to `arc-induct execute`, not sampled


class StoreError(ValueError):
    """A stored row is not an attempt; the message names the file, line and field."""


@dataclass(frozen=True)
class ExecutionResult:
    """One program run on every grid of one task. `status` is "ok" when every grid gave a valid grid
    (right or wrong); otherwise a process-level failure (timeout, crashed, syntax_error, no_function,
    output too large) when there was one, else the kind of the first grid that failed."""

    status: str
    train_outputs: tuple[Grid | None, ...]
    train_errors: tuple[str | None, ...]
    test_outputs: tuple[Grid | None, ...]
    test_errors: tuple[str | None, ...]
    train_correct: tuple[bool, ...]
    test_correct: tuple[bool, ...] | None
    seconds: float
    task_id: str = ""  # not in the JSON row: the attempt carries it

    @property
    def train_accuracy(self) -> float:
        """The one train accuracy: the share of train pairs reproduced exactly."""
        return sum(self.train_correct) / len(self.train_correct) if self.train_correct else 0.0


RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(ExecutionResult) if f.name != "task_id")


@dataclass(frozen=True)
class Attempt:
    task_id: str
    index: int  # unique within its task; refinement parents are named by it
    kind: str = "first"
    parent: int | None = None  # index of the attempt this one refines
    code: str | None = None
    result: ExecutionResult | None = None
    hardcoded_p: float | None = None  # transduction's probability that `code` hard-codes outputs
    completion: str | None = None
    extract_reason: str | None = None  # why `code` is None
    prompt_hash: str | None = None  # prompts.prompt_hash of the text sent (joins completions.jsonl)
    sample_seconds: float | None = None
    endpoint: str | None = None
    truncated: bool | None = None  # the completion hit max_tokens (finish_reason "length"); None: unknown

    @property
    def id(self) -> str:
        """For people (logs, errors); code uses (task_id, index)."""
        return f"{self.task_id}/{self.index}"

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else NO_PROGRAM

    @property
    def train_accuracy(self) -> float:
        return self.result.train_accuracy if self.result is not None else 0.0

    def is_general(self, threshold: float) -> bool:
        """Not judged a hard-coder: the one place the threshold is compared."""
        return self.hardcoded_p is None or self.hardcoded_p < threshold

    def solved_train(self, threshold: float) -> bool:
        """Right on every train pair and general: what early stopping counts."""
        return self.train_accuracy == 1.0 and self.is_general(threshold)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "task_id": self.task_id, "index": self.index, "kind": self.kind, "parent": self.parent,
            "prompt_hash": self.prompt_hash, "completion": self.completion, "code": self.code,
            "extract_reason": self.extract_reason, "hardcoded_probability": self.hardcoded_p,
            "sample_seconds": self.sample_seconds, "endpoint": self.endpoint, "truncated": self.truncated,
            "status": self.status,
        }
        if self.result is not None:
            row |= result_to_json(self.result)
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any], default_index: int | None = None) -> Attempt:
        """Check and read one row; StoreError names the field. Rows written by `arc-induct
        execute` carry no index or kind: they get `default_index` (their line) and kind "given"."""
        get = _Fields(row)
        task_id = get.typed("task_id", str)
        index = row.get("index", default_index)
        if type(index) is not int or index < 0:
            raise StoreError(f"task {task_id}: field 'index' must be an integer >= 0, got {index!r}")
        kind = row.get("kind", "given" if "index" not in row else None)
        if kind not in KINDS:
            raise StoreError(f"task {task_id}: field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        p = get.typed("hardcoded_probability", float, optional=True)
        if p is not None and not 0.0 <= p <= 1.0:
            raise StoreError(f"task {task_id}: field 'hardcoded_probability' must be in [0, 1], got {p!r}")
        status = get.typed("status", str, optional=True)
        result = None
        if status is not None and status != NO_PROGRAM:
            result = result_from_json(row, task_id)
        return cls(
            task_id=task_id, index=index, kind=kind, parent=get.typed("parent", int, optional=True),
            code=get.typed("code", str, optional=True), result=result, hardcoded_p=p,
            completion=get.typed("completion", str, optional=True),
            extract_reason=get.typed("extract_reason", str, optional=True),
            prompt_hash=get.typed("prompt_hash", str, optional=True),
            sample_seconds=get.typed("sample_seconds", float, optional=True),
            endpoint=get.typed("endpoint", str, optional=True),
            truncated=get.typed("truncated", bool, optional=True),
        )


def result_to_json(result: ExecutionResult) -> dict[str, Any]:
    """The result's fields of a row (tuples become JSON lists when the row is dumped)."""
    return {name: getattr(result, name) for name in RESULT_FIELDS}


def result_from_json(row: dict[str, Any], task_id: str = "") -> ExecutionResult:
    get = _Fields(row)
    status = get.typed("status", str)
    if status not in STATUSES:
        raise StoreError(f"task {task_id}: field 'status' must be one of {', '.join(STATUSES)}, got {status!r}")
    lists = {name: get.typed(name, list) for name in ("train_outputs", "train_errors", "test_outputs",
                                                      "test_errors", "train_correct")}
    for name in ("train_errors", "test_errors"):
        if any(e is not None and not isinstance(e, str) for e in lists[name]):
            raise StoreError(f"task {task_id}: field {name!r} must hold strings or nulls")
    if len(lists["train_outputs"]) != len(lists["train_errors"]) or len(lists["test_outputs"]) != len(lists["test_errors"]):
        raise StoreError(f"task {task_id}: outputs and errors must have one item per grid")
    test_correct = get.typed("test_correct", list, optional=True)
    for name, flags in (("train_correct", lists["train_correct"]), ("test_correct", test_correct or [])):
        if any(type(c) is not bool for c in flags):
            raise StoreError(f"task {task_id}: field {name!r} must hold booleans")
    return ExecutionResult(
        status, tuple(lists["train_outputs"]), tuple(lists["train_errors"]), tuple(lists["test_outputs"]),
        tuple(lists["test_errors"]), tuple(lists["train_correct"]),
        None if test_correct is None else tuple(test_correct), get.typed("seconds", float), task_id)


class _Fields:
    """Typed reads of one row, each failure naming the field (and the task when known)."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        task_id = row.get("task_id")
        self.where = f"task {task_id}" if isinstance(task_id, str) else "row"

    def typed(self, name: str, kind: type, optional: bool = False) -> Any:
        value = self.row.get(name)
        if value is None and optional:
            return None
        if kind is float and type(value) is int:
            return float(value)
        if kind is list and isinstance(value, tuple):  # rows built in memory, not through JSON
            value = list(value)
        if type(value) is not kind:
            got = "missing" if name not in self.row else f"{type(value).__name__} {str(value)[:40]!r}"
            raise StoreError(f"{self.where}: field {name!r} must be {kind.__name__}, got {got}")
        return value


def read_attempts(path: str | Path) -> Iterator[Attempt]:
    """Every attempt of a store, or of what `arc-induct execute` writes; errors name file and line."""
    path = Path(path)
    try:
        for n, row in read_jsonl(path):
            try:
                yield Attempt.from_json(row, default_index=n)
            except StoreError as e:
                raise StoreError(f"{path}: line {n}: {e}") from None
    except JsonlError as e:
        raise StoreError(str(e)) from None


class AttemptStore:
    """Append-only JSONL of attempts. `resume=False` on a fresh run, `True` to continue one."""

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path = Path(path)
        try:
            self._out = Appender(self.path, resume=resume, what="store")
        except JsonlError as e:
            raise StoreError(str(e)) from None

    def attempts(self) -> Iterator[Attempt]:
        self._out.flush()
        return read_attempts(self.path)

    def append(self, attempt: Attempt) -> None:
        self._out.append(attempt.to_json())

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> AttemptStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
