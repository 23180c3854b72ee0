"""The durable record of a run: one JSON line per attempt, appended and flushed as it is made.

Covered: appending rows (orjson, one line each, flushed to the OS at once so a SIGKILL loses
nothing already written); reading them back for `--resume`, for voting and for the report,
tolerating the one torn last line a kill mid-write can leave (it is cut off before appending).
Not covered: concurrent writers (one run owns its store) or surviving a power cut (no fsync per
row: that would cost more than the rows are worth).

An attempt row holds: task_id, attempt_id, kind ("first" | "refine"), parent, prompt_hash,
completion, code, extract_reason, hardcoded_probability, sample_seconds, endpoint, and, when a
program ran, the fields of `ExecutionResult.to_row()` (status, train/test outputs and errors,
train_correct, test_correct, seconds). Rows without a program have status "no_program".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class StoreError(ValueError):
    """A store file is corrupt beyond a torn last line; the message names file and line."""


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield every row of a JSONL file of attempts (a store, or what `arc-induct execute` writes).

    A last line that does not parse and has no newline is a row torn by a kill mid-write: it is
    skipped. Any other bad line is an error naming the file and line. Blank lines are ignored.
    """
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as e:
        raise StoreError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                if not line.endswith(b"\n"):
                    return  # the last line was being written when the run was killed
                raise StoreError(f"{path}: line {n} is not valid JSON ({e})") from None
            if not isinstance(row, dict) or "task_id" not in row:
                raise StoreError(f"{path}: line {n} is not an attempt row (no task_id)")
            yield row


class AttemptStore:
    """Append-only JSONL. Open with `resume=False` on a fresh run, `True` to continue one."""

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not resume and self.path.stat().st_size > 0:
            raise StoreError(f"{self.path}: a store already exists; pass --resume to continue it or choose another --out")
        if resume and self.path.exists():
            self._cut_torn_tail()
        self._f = self.path.open("ab")

    def _cut_torn_tail(self) -> None:
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with self.path.open("r+b") as f:
                f.truncate(keep)

    def rows(self) -> Iterator[dict[str, Any]]:
        self._f.flush()
        return read_rows(self.path)

    def append(self, row: dict[str, Any]) -> None:
        self._f.write(orjson.dumps(row) + b"\n")
        self._f.flush()  # into the OS: survives SIGKILL of this process

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> AttemptStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
