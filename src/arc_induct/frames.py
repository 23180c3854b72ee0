"""Frames between the pool and a zygote: a 4-byte little-endian length, then the payload.

The pool writes a job frame followed by the job's 16-byte nonce; the zygote answers with one frame:
that nonce, the header's JSON and a newline, then the child's raw result lines. Readers take
exactly what they ask for (what follows stays in the pipe) and refuse a frame longer than
expected, so a stream someone else wrote into is found out, not trusted. Not covered: what the
payloads mean (sandbox.py writes them, execution.decode reads them).
"""

from __future__ import annotations

import os
import select
import struct
import time

NONCE_BYTES = 16
_SIZE = struct.Struct("<I")


def frame(payload: bytes) -> bytes:
    return _SIZE.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes | None:
    """Exactly `n` bytes (never more: what follows stays in the pipe); None at end of stream;
    TimeoutError past `deadline` (a time.monotonic() value)."""
    data = b""
    while len(data) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(fd: int, limit: int, deadline: float | None = None) -> bytes | None:
    """One frame of at most `limit` bytes; ValueError for a longer one (a garbled stream)."""
    head = read_exact(fd, _SIZE.size, deadline)
    if head is None:
        return None
    (size,) = _SIZE.unpack(head)
    if size > limit:
        raise ValueError(f"frame of {size} bytes (at most {limit} expected)")
    return read_exact(fd, size, deadline)
