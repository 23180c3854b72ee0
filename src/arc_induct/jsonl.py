"""JSON Lines, the one file format every run writes: read with torn-tail tolerance, append flushed.

Covered: `read_jsonl` yields (line number, object) for every non-blank line; a last line that does
not parse and has no newline is a row torn by a kill mid-write and is skipped; any other bad line
is a `JsonlError` naming the file and line. `Appender` writes one orjson line per object and
flushes it to the OS at once, so a SIGKILL loses nothing already written; opened to continue a
file, it first cuts a torn last line off.
Not covered: what the objects mean (store.py owns the attempt schema, router.py the recorded
completions); concurrent writers; surviving a power cut (no fsync per row: it costs more than a
row is worth).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class JsonlError(ValueError):
    """A JSONL file cannot be read, or a line in it is not a JSON object; names file and line."""


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as e:
        raise JsonlError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                if not line.endswith(b"\n"):
                    return  # the last line was being written when the writer was killed
                raise JsonlError(f"{path}: line {n} is not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise JsonlError(f"{path}: line {n} is a JSON {type(row).__name__}, not an object")
            yield n, row


class Appender:
    """Append-only JSONL writer. `resume=False` refuses a file that already has rows."""

    def __init__(self, path: str | Path, resume: bool = False, what: str = "file") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            if not resume:
                raise JsonlError(f"{self.path}: a {what} already exists; pass --resume to continue it "
                                 f"or choose another --out")
            _cut_torn_tail(self.path)
        self._f = self.path.open("ab")

    def append(self, obj: dict[str, Any]) -> None:
        self._f.write(orjson.dumps(obj) + b"\n")
        self._f.flush()  # into the OS: survives SIGKILL of this process

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_tail(path: Path) -> None:
    with path.open("r+b") as f:
        size = f.seek(0, 2)
        # Read back until a newline: only the tail is looked at, whatever the file's size.
        step, keep = 1 << 16, 0
        pos = size
        while pos > 0:
            start = max(0, pos - step)
            f.seek(start)
            chunk = f.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        if keep != size:
            f.truncate(keep)
