"""Execution: run untrusted `transform(grid)` programs on every grid of a task, isolated, without
ever taking the run down. Linux only. The pool lives here; the zygote and the child that runs one
program in sandbox.py; the confinement steps in confine.py; files of programs in batch.py.

Covered: one forked process per program from a warm zygote (nothing a program changes reaches the
next); per-program `Limits`; `Confinement` layers, each one a setting that can be switched off,
reported by `ExecutionPool.confinement`; results decided here from plain data (`decode`: JSON
values, statuses only from store.STATUSES, every grid re-checked by grids.grid_fault) and replies
only with the job's nonce; a zygote that dies, hangs, forges or garbles its reply, or cannot
empty its scratch folder is replaced with a fresh folder, and only its running program is lost.
Not covered: this is a robustness boundary against generated code, not a security sandbox (see
confine.py for what each layer does not hold).
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from arc_induct.grids import grid_fault
from arc_induct.frames import NONCE_BYTES, frame, read_frame, write_all
from arc_induct.sandbox import MAX_ERROR_CHARS, empty_folder
from arc_induct.store import STATUSES, ExecutionResult
from arc_induct.tasks import Task

__all__ = ["Confinement", "ExecutionConfig", "ExecutionPool", "ExecutionResult", "Limits", "LimitsError"]

# In the zygote's environment, so they hold before numpy loads: one BLAS thread per program and few
# malloc arenas (each reserves address space, which the RLIMIT_AS cap counts).
ZYGOTE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1"}
ZYGOTE_MAIN = "import sys; from arc_induct.sandbox import zygote_main; zygote_main(sys.argv[1])"
GRACE_S = 60.0  # beyond the timeout before a zygote counts as hung (it empties its scratch folder first)
START_TIMEOUT_S = 120.0  # a zygote's start-up (python + numpy + scipy) on a loaded machine
GRID_KINDS = ("ok", "exception", "memory", "invalid_output")  # what one grid can end as
# What real programs import, loaded once per zygote; a module not installed (scipy) is skipped.
PRELOAD = ("numpy", "scipy.ndimage", "collections", "itertools", "functools", "math", "copy", "typing", "re",
           "random", "heapq", "operator", "dataclasses", "string", "queue", "bisect", "statistics",
           "fractions", "enum", "json", "array")


class LimitsError(ValueError):
    """Limits no program could run under; the message names the setting."""


@dataclass(frozen=True)
class Limits:
    """Per-program limits. The wall-clock timeout is `timeout_s` per grid (train inputs plus test
    inputs), capped at `max_timeout_s`; `memory_mb` caps the address space of the program's process,
    which includes the warm interpreter and its preloaded modules."""

    timeout_s: float = 1.0
    max_timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: float = 10.0
    max_output_bytes: int = 1 << 20
    file_bytes: int = 16 << 20

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise LimitsError(f"{name} must be a finite number > 0, got {value!r}")

    def timeout_for(self, n_grids: int) -> float:
        return min(self.max_timeout_s, self.timeout_s * max(1, n_grids))


@dataclass(frozen=True)
class Confinement:
    """Which confinement layers children get (confine.py). All on by default; each can be switched
    off (tests do, one at a time, to show the others still hold). `drop_uid` applies only when the
    pool runs as root: children then run as uid/gid `uid_base` + their zygote's pid."""

    drop_uid: bool = True
    landlock: bool = True
    seccomp: bool = True
    uid_base: int = 0x70000000
    preload: tuple[str, ...] = PRELOAD


@dataclass(frozen=True)
class ExecutionConfig:
    """The run's execution section: how many zygotes (None = every usable core), limits, confinement."""

    workers: int | None = None
    limits: Limits = field(default_factory=Limits)
    confinement: Confinement = field(default_factory=Confinement)


def decode(task: Task, header: dict[str, Any], data: bytes) -> ExecutionResult:
    """The result, decided here from plain data. `header` comes from the zygote (trusted once its
    nonce matched); `data` is whatever the program's process wrote, one JSON line per grid
    ([index, output, error, kind], or ["fatal", status, message]); a grid without a valid line
    carries the fatal error."""
    n_train = len(task.train)
    n = n_train + len(task.test_inputs)
    grids: list[tuple | None] = [None] * n  # (output, kind, error) from each grid's first valid line
    fatal, child_fatal = header["fatal"], None
    for number, line in enumerate(data.split(b"\n")[:-1], 1):  # the last piece has no newline: cut by a kill, or empty
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            item = None
        if isinstance(item, list) and len(item) == 4 and type(item[0]) is int and 0 <= item[0] < n \
                and item[3] in GRID_KINDS and (item[2] is None or type(item[2]) is str):
            i, out, err, kind = item
            if kind == "ok" and (fault := grid_fault(out)):
                out, err, kind = None, f"not a grid: {fault}", "invalid_output"
            grids[i] = grids[i] or ((out if kind == "ok" else None), kind, (err or "")[:MAX_ERROR_CHARS] or None)
        elif isinstance(item, list) and len(item) == 3 and item[0] == "fatal" and item[1] in STATUSES \
                and type(item[2]) is str:
            child_fatal = child_fatal or [item[1], item[2][:MAX_ERROR_CHARS]]
        else:  # the program wrote into its own result stream: none of its results can be trusted
            fatal = fatal or ["invalid_output", f"unreadable result line {number} from the program's process"]
            grids = [None] * n
            break
    fatal = fatal or child_fatal
    missing = (None, *(fatal or ("crashed", "no result: the program's process ended before this grid")))
    outputs, kinds, errors = zip(*(g or missing for g in grids))
    status = fatal[0] if fatal else next((k for k in kinds if k != "ok"), "ok")
    train_correct = tuple(o == p.output for o, p in zip(outputs, task.train))
    test_correct = (None if task.test_outputs is None
                    else tuple(o == g for o, g in zip(outputs[n_train:], task.test_outputs)))
    return ExecutionResult(status, outputs[:n_train], errors[:n_train], outputs[n_train:], errors[n_train:],
                           train_correct, test_correct, header["seconds"], task.id)


class _Zygote:
    """One warm zygote process in a scratch folder of its own. Replaced, in a fresh folder, when it
    died, hung, forged or garbled its reply, or could not empty its folder: only its running
    program is lost."""

    def __init__(self, root: str, index: int, settings: dict[str, Any]) -> None:
        self.root, self.index, self.settings = root, index, settings
        self.proc: subprocess.Popen | None = None
        self.workdir: str | None = None
        self.restarts = -1  # the first start is not a restart
        self.start()

    def start(self) -> None:
        self.stop()
        self.workdir = tempfile.mkdtemp(prefix=f"w{self.index}-", dir=self.root)
        settings = orjson.dumps({**self.settings, "workdir": self.workdir}).decode()
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE_MAIN, settings], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env={**os.environ, **ZYGOTE_ENV})
        hello = read_frame(self.proc.stdout.fileno(), 1 << 16, time.monotonic() + START_TIMEOUT_S)
        if hello is None:
            raise RuntimeError(f"execution worker {self.index} exited during start-up (see stderr)")
        self.report = orjson.loads(hello)
        self.restarts += 1

    def stop(self) -> None:
        if self.proc is not None:
            with self.proc:  # then its pipes are closed and it is reaped
                self.proc.kill()  # its children die with it (PDEATHSIG)
            self.proc = None
        if self.workdir is not None:
            if empty_folder(self.workdir):
                os.rmdir(self.workdir)
            self.workdir = None

    def run(self, task: Task, job: bytes, timeout: float, limit: int) -> ExecutionResult:
        """Send one job with a fresh nonce and decode the reply that carries it."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()  # died while idle, or stopped after the last job
        nonce = secrets.token_bytes(NONCE_BYTES)
        start = time.monotonic()
        fatal, meta, data = None, None, b""
        try:
            write_all(self.proc.stdin.fileno(), frame(job) + nonce)
            reply = read_frame(self.proc.stdout.fileno(), NONCE_BYTES + (1 << 16) + limit, start + timeout + GRACE_S)
            if reply is None:
                raise BrokenPipeError
            if not reply.startswith(nonce):
                fatal = ["invalid_output", "the worker's reply was forged (wrong nonce)"]
            else:
                header, _, data = reply[NONCE_BYTES:].partition(b"\n")
                meta = orjson.loads(header)
        except BrokenPipeError:
            code = self.proc.wait()
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            fatal = ["crashed", f"execution worker died ({how}) while running this program"]
        except TimeoutError:
            fatal = ["crashed", "execution worker stopped answering while running this program"]
        except ValueError:  # a frame longer than any reply: someone else wrote into the stream
            fatal = ["invalid_output", "the worker's reply stream was written by someone else"]
        if meta is None or not meta["clean"]:
            self.stop()  # a stream no longer trusted, or a scratch folder that would not empty
        return decode(task, meta or {"fatal": fatal, "seconds": time.monotonic() - start}, data)


class ExecutionPool:
    """Runs programs on tasks in `workers` zygote processes (default: all usable cores), each pinned
    to a core of its own unless `pin` is False, fed by as many threads. A context manager;
    submit/run/imap may be called from any thread. Linux only."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits(), in_flight: int | None = None,
                 pin: bool = True, confinement: Confinement = Confinement()) -> None:
        cpus = sorted(os.sched_getaffinity(0))  # the usable cores (cpuset, taskset), in order
        self.workers = workers or len(cpus)
        self.limits, self.confinement_settings = limits, confinement
        self._job_limits = asdict(limits)  # every job's frame carries them (timeout_s then set per task)
        self.in_flight = in_flight or 4 * self.workers
        self.root = tempfile.mkdtemp(prefix="arc-exec-")
        self._closed = False
        self._threads = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="exec-worker")
        # Pinned, a zygote woken by its child's exit does not queue behind the other worker while a
        # core idles (11-14% idle time and ~15% fewer programs/s unpinned on 2 cores, issue 3).
        pinned = pin and self.workers <= len(cpus)
        settings = [{**asdict(confinement), "cpu": cpus[i] if pinned else None} for i in range(self.workers)]
        starts = [self._threads.submit(_Zygote, self.root, i, settings[i]) for i in range(self.workers)]
        self._zygotes = [f.result() for f in starts if f.exception() is None]  # exception() waits for the start
        self._idle: queue.SimpleQueue[_Zygote] = queue.SimpleQueue()  # a thread takes one, runs, puts it back
        for z in self._zygotes:
            self._idle.put(z)
        failed = next((f.exception() for f in starts if f.exception() is not None), None)
        if failed is not None:
            self.close()
            raise RuntimeError(f"could not start the execution pool: {failed}") from failed
        # A cap below what the warm interpreter maps would make every program a "memory" failure.
        floor = self._zygotes[0].report["address_space_mb"] + 64
        if limits.memory_mb < floor:
            self.close()
            raise LimitsError(f"memory_mb={limits.memory_mb} leaves no room: the warm interpreter alone "
                              f"maps {floor - 64} MB; use at least {floor}")

    @property
    def confinement(self) -> dict[str, Any]:
        """What children get: {"uid": int | None, "ipc_namespace": bool, "landlock_abi": int (0: none),
        "seccomp": bool, "preloaded": [module names]}."""
        return {k: v for k, v in self._zygotes[0].report.items() if k != "address_space_mb"}

    @property
    def pids(self) -> list[int]:  # the zygotes now running (for monitoring, and tests that kill one)
        return [z.proc.pid for z in self._zygotes if z.proc is not None]

    @property
    def restarts(self) -> int:  # how many times a zygote was replaced since the pool started
        return sum(z.restarts for z in self._zygotes)

    def submit(self, code: str, task: Task) -> concurrent.futures.Future[ExecutionResult]:
        if self._closed:
            raise RuntimeError("ExecutionPool is closed")
        return self._threads.submit(self._run, code, task)

    def _run(self, code: str, task: Task) -> ExecutionResult:
        grids = [p.input for p in task.train] + list(task.test_inputs)
        timeout = self.limits.timeout_for(len(grids))
        job = orjson.dumps({**self._job_limits, "code": code, "grids": grids, "timeout_s": timeout})
        zygote = self._idle.get()  # never waits: there are as many zygotes as threads
        try:
            return zygote.run(task, job, timeout, self.limits.max_output_bytes + 1)
        finally:
            self._idle.put(zygote)

    def run(self, code: str, task: Task) -> ExecutionResult:
        return self.submit(code, task).result()

    def imap(self, items: Iterable[tuple[str, Task]]) -> Iterator[ExecutionResult]:
        """Results in input order, at most `in_flight` programs queued or running. If `items` raises,
        the results already submitted are yielded first, then the error is re-raised."""
        pending: deque[concurrent.futures.Future[ExecutionResult]] = deque()
        source, error = iter(items), None
        try:
            while True:
                try:
                    code, task = next(source)
                except StopIteration:
                    break
                except Exception as e:  # deferred, not swallowed: raised once in-flight work is out
                    error = e
                    break
                pending.append(self.submit(code, task))
                if len(pending) >= self.in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:  # the consumer stopped early: drop what has not started
                f.cancel()
        if error is not None:
            raise error

    def close(self, cancel_pending: bool = False) -> None:
        """Stop the workers once queued programs have run (or, with `cancel_pending`, once the
        running ones have: queued ones are cancelled). Leaving a `with` block by an exception
        cancels; programs already running end within their timeout."""
        if self._closed:
            return
        self._closed = True
        self._threads.shutdown(wait=True, cancel_futures=cancel_pending)
        for z in self._zygotes:
            z.stop()
        if empty_folder(self.root):
            os.rmdir(self.root)
        else:  # e.g. an immutable file a program made without the uid drop: say so, never fail
            logging.getLogger(__name__).warning("left %s: a program left files that cannot be removed", self.root)

    def __enter__(self) -> ExecutionPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(cancel_pending=exc_type is not None)
