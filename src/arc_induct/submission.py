"""The Kaggle submission: build it, check it, write it atomically.

Format (ARC Prize 2025): `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`, one dict per
test input in order, every task id of the input present, both keys always present.

Covered: filling gaps with a fallback grid so the file is always complete; explaining every
fault of an existing file; writing with temp file + fsync + rename, so a kill mid-write leaves
the previous file intact.
Not covered: choosing the answers (that is `voting`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from arc_induct.grids import Grid, grid_fault
from arc_induct.tasks import Task

# A deliberately tiny placeholder: it is a valid grid and never mistaken for a real answer.
FALLBACK: Grid = [[0]]
ATTEMPT_KEYS = ("attempt_1", "attempt_2")

Submission = dict[str, list[dict[str, Grid]]]


class SubmissionError(ValueError):
    """A submission file cannot be read at all; the message names the file."""


def build_submission(
    tasks: Sequence[Task], answers: Mapping[str, Sequence[Sequence[Grid | None]]]
) -> Submission:
    """Turn per-task answers into a complete submission.

    `answers[task_id][i]` holds up to two guesses for test input i, best first. Missing tasks,
    missing test inputs, missing or invalid guesses all become FALLBACK, so the result is
    always valid for `tasks`.
    """
    sub: Submission = {}
    for task in tasks:
        guesses = answers.get(task.id, ())
        entries = []
        for i in range(len(task.test_inputs)):
            mine = list(guesses[i]) if i < len(guesses) else []
            mine = [g for g in mine if g is not None and grid_fault(g) is None][:2]
            mine += [FALLBACK] * (2 - len(mine))
            entries.append(dict(zip(ATTEMPT_KEYS, mine)))
        sub[task.id] = entries
    return sub


def submission_faults(sub: Any, tasks: Sequence[Task]) -> list[str]:
    """Every reason `sub` would be rejected for `tasks`; empty when it is valid."""
    if not isinstance(sub, dict):
        return [f"top level is {type(sub).__name__}, expected an object of task_id -> list"]
    faults = []
    wanted = {t.id for t in tasks}
    for extra in sorted(set(sub) - wanted):
        faults.append(f"task {extra}: not in the dataset")
    for task in tasks:
        if task.id not in sub:
            faults.append(f"task {task.id}: missing")
            continue
        entries = sub[task.id]
        if not isinstance(entries, list):
            faults.append(f"task {task.id}: expected a list, got {type(entries).__name__}")
            continue
        if len(entries) != len(task.test_inputs):
            faults.append(f"task {task.id}: {len(entries)} entries for {len(task.test_inputs)} test inputs")
        for i, entry in enumerate(entries):
            where = f"task {task.id}, test {i}"
            if not isinstance(entry, dict):
                faults.append(f"{where}: expected an object with attempt_1 and attempt_2")
                continue
            for key in ATTEMPT_KEYS:
                if key not in entry:
                    faults.append(f"{where}: missing {key}")
                elif (fault := grid_fault(entry[key])) is not None:
                    faults.append(f"{where}, {key}: {fault}")
            for key in sorted(set(entry) - set(ATTEMPT_KEYS)):
                faults.append(f"{where}: unexpected key {key!r}")
    return faults


def read_submission(path: str | Path) -> Any:
    path = Path(path)
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise SubmissionError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:
        raise SubmissionError(f"{path}: cannot read ({e.strerror})") from None


def write_submission(path: str | Path, sub: Submission) -> Path:
    """Write `sub` to `path` atomically: readers see the old file or the new one, never half."""
    return write_json_atomic(path, sub)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_bytes_atomic(path, orjson.dumps(obj))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Readers see the old file or the new one, never half; a failure leaves the old one untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; Kaggle and other readers must be able to read it
        os.replace(tmp, path)
    except BaseException:
        # Only our own temp file is removed; the previous `path` is untouched.
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
