"""`arc-induct execute`: a JSONL file (or pipe) of programs in, each row plus its result and its
hard-coded probability (transduction, computed once here so `vote` only reads it) out.

Covered: streaming in input order (only the rows in flight are held); checks that protect data
before the output is opened (it is not an input, its folder exists, the programs file opens and
its first row reads, the pool starts); one flushed line per result, so a stop of any kind (a bad
row, Ctrl-C, SIGTERM turned into KeyboardInterrupt by the CLI, SIGKILL) keeps every row before it.
Not covered: running the programs (execution.py); what the rows mean (store.py).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
from tqdm import tqdm

from arc_induct.execution import ExecutionPool, Limits
from arc_induct.jsonl import JsonlError, read_jsonl
from arc_induct.store import result_to_json
from arc_induct.tasks import Task
from arc_induct.transduction import probability_from_outputs


class ProgramFileError(ValueError):
    """`arc-induct execute` input that cannot be used; the message names the file, line, field or flag."""


def execute_file(programs: Path, tasks: Sequence[Task], out: Path, workers: int | None = None, limits: Limits = Limits(),
                 counts: Counter[str] | None = None, inputs: Sequence[Path] = ()) -> Counter[str]:
    """Run every `{"task_id", "code", ...}` row of `programs` (a file or a pipe, streamed), writing
    the row plus its result to `out` in input order, one flushed line per row; `counts` (per status)
    grows as rows are written. Before `out` is opened: it must not be `programs` or any of
    `inputs` (the dataset's files), its folder must exist, `programs` must open, the pool must
    start. A bad row then stops the run with ProgramFileError, every row before it written; so does
    KeyboardInterrupt (the CLI turns SIGTERM into one)."""
    counts = Counter() if counts is None else counts
    for path in (programs, *inputs):
        if out.exists() and path.exists() and os.path.samefile(out, path):
            raise ProgramFileError(f"--out {out} is an input of this run ({path}); choose another file")
    if not out.parent.is_dir():
        raise ProgramFileError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ProgramFileError(f"--out {out} is a folder")
    try:  # the first row is read now: a missing file or bad first line fails before --out is touched
        rows = read_jsonl(programs)
        first = next(rows, None)
    except JsonlError as e:
        raise ProgramFileError(str(e)) from None
    rows = itertools.chain([first] if first else [], rows)
    by_id = {t.id: t for t in tasks}
    in_flight: deque[dict] = deque()

    def items() -> Iterator[tuple[str, Task]]:
        try:
            for number, row in rows:
                task = by_id.get(row.get("task_id")) if isinstance(row.get("task_id"), str) else None
                if not isinstance(row.get("code"), str):
                    raise ProgramFileError(f"{programs}, line {number}: expected an object with a string field 'code'")
                if task is None:
                    raise ProgramFileError(f"{programs}, line {number}: task_id {row.get('task_id')!r} is not in the dataset")
                in_flight.append(row)
                yield row["code"], task
        except JsonlError as e:
            raise ProgramFileError(str(e)) from None

    with ExecutionPool(workers, limits) as pool, open(out, "wb") as sink, \
            tqdm(unit=" programs") as bar:
        for result in pool.imap(items()):
            row = in_flight.popleft()
            # p once: scored here, where the test outputs are fresh; `vote` reads it back.
            p = probability_from_outputs(row["code"], by_id[row["task_id"]], result.test_outputs)
            sink.write(orjson.dumps({**row, **result_to_json(result), "hardcoded_probability": p}) + b"\n")
            sink.flush()  # into the OS: a kill loses no row already counted
            counts[result.status] += 1
            bar.update()
    return counts
