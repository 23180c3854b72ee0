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
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from arc_induct.grids import Grid, grid_fault
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
PIPE_ROOM = (64 << 10) - 64  # a Linux pipe's default capacity, less room for frame headers
GRACE_S = 60.0  # beyond the timeout before a zygote counts as hung (emptying a 1,500-deep tree took 10 s under load)
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
    outputs: list[Grid | None] = [None] * n
    errors: list[str | None] = [None] * n
    kinds: list[str | None] = [None] * n
    fatal, child_fatal = header["fatal"], None
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], 1):  # the last piece has no newline: cut by a kill, or empty
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            item = None
        if isinstance(item, list) and len(item) == 4 and type(item[0]) is int and 0 <= item[0] < n \
                and item[3] in GRID_KINDS and (item[2] is None or type(item[2]) is str):
            i, out, err, kind = item
            if kinds[i] is not None:
                continue
            if kind == "ok" and (fault := grid_fault(out)):
                out, err, kind = None, f"not a grid: {fault}", "invalid_output"
            outputs[i], errors[i], kinds[i] = (out if kind == "ok" else None), (err or "")[:MAX_ERROR_CHARS] or None, kind
        elif isinstance(item, list) and len(item) == 3 and item[0] == "fatal" and item[1] in STATUSES \
                and type(item[2]) is str:
            child_fatal = child_fatal or [item[1], item[2][:MAX_ERROR_CHARS]]
        else:  # the program wrote into its own result stream: none of its results can be trusted
            fatal = fatal or ["invalid_output", f"unreadable result line {number} from the program's process"]
            kinds = [None] * n
            break
    fatal = fatal or child_fatal
    for i in range(n):
        if kinds[i] is None:
            outputs[i] = None
            kinds[i], errors[i] = fatal or ("crashed", "no result: the program's process ended before this grid")
    status = fatal[0] if fatal else next((k for k in kinds if k != "ok"), "ok")
    train_correct = tuple(outputs[i] == p.output for i, p in enumerate(task.train))
    test_correct = None
    if task.test_outputs is not None:
        test_correct = tuple(outputs[n_train + i] == g for i, g in enumerate(task.test_outputs))
    return ExecutionResult(status, tuple(outputs[:n_train]), tuple(errors[:n_train]), tuple(outputs[n_train:]),
                           tuple(errors[n_train:]), train_correct, test_correct, header["seconds"], task.id)


class _Worker:
    """One zygote and the thread feeding it. The thread also starts the zygote, so the process has a
    parent thread that lives as long as the pool."""

    def __init__(self, pool: ExecutionPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.proc: subprocess.Popen | None = None
        self.workdir: str | None = None
        self.report: dict[str, Any] = {}
        self.restarts = -1  # the first start is not a restart
        self.waiting = False  # blocked on the pool's queue
        self.ready = threading.Event()
        self.start_error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name=f"exec-worker-{index}", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        """A new zygote in a fresh scratch folder (the old one is removed, or left if it cannot be)."""
        self._stop()
        pool = self.pool
        self.workdir = tempfile.mkdtemp(prefix=f"w{self.index}-", dir=pool.root)
        settings = {**asdict(pool.confinement_settings), "workdir": self.workdir,
                    "cpu": pool._cpus[self.index] if pool._cpus else None}
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE_MAIN, orjson.dumps(settings).decode()],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **ZYGOTE_ENV})
        hello = read_frame(self.proc.stdout.fileno(), 1 << 16, time.monotonic() + START_TIMEOUT_S)
        if hello is None:
            raise RuntimeError(f"execution worker {self.index} exited during start-up (see stderr)")
        self.report = orjson.loads(hello)
        self.restarts += 1

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # its children die with it (PDEATHSIG)
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None
        if self.workdir is not None:
            if empty_folder(self.workdir):
                os.rmdir(self.workdir)
            self.workdir = None

    def _loop(self) -> None:
        try:
            self._start()
        except BaseException as e:  # reported by the pool's constructor
            self.start_error = e
        self.ready.set()
        if self.start_error is not None:
            return
        # One job waits in the zygote's pipe behind the running one, so the zygote starts it the
        # moment it answers, not a round trip through this thread later (on a loaded machine each
        # wake-up is a wait in the run queue). Only when both fit in the pipe: a write blocking
        # while the zygote blocks writing a large answer would deadlock.
        sent: deque[_Job] = deque()  # written to the zygote, unanswered; the first is running
        held: _Job | None = None
        stopping = False
        while not (stopping and held is None and not sent):
            if held is None and not stopping and len(sent) < 2:
                held, stopping = self._take(block=not sent)
            if held is not None and (not sent or len(sent[0].frame) + len(held.frame) <= PIPE_ROOM):
                self._send(held)
                sent.append(held)
                held = None
            elif sent:
                self._answer(sent)
        self._stop()

    def _take(self, block: bool) -> tuple[_Job | None, bool]:
        """(a job from the pool's queue, or None; whether the pool is stopping). Without `block`, only
        when no other worker waits for one: an idle zygote should run it, not a busy one queue it."""
        try:
            if block:
                self.waiting = True
                try:
                    item = self.pool._jobs.get()
                finally:
                    self.waiting = False
            elif any(w.waiting for w in self.pool._workers):
                return None, False
            else:
                item = self.pool._jobs.get_nowait()
        except queue.Empty:
            return None, False
        if item is None:
            return None, True
        future, code, task = item
        if not future.set_running_or_notify_cancel():
            return None, False
        limits = self.pool.limits
        grids = [p.input for p in task.train] + list(task.test_inputs)
        timeout = limits.timeout_for(len(grids))
        try:
            job = orjson.dumps({"code": code, "grids": grids, "timeout_s": timeout, "memory_mb": limits.memory_mb,
                                "cpu_s": limits.cpu_s, "file_bytes": limits.file_bytes,
                                "max_output_bytes": limits.max_output_bytes})
        except TypeError as e:  # e.g. code with a lone surrogate: this job fails, the worker goes on
            future.set_exception(e)
            return None, False
        return _Job(future, task, frame(job) + secrets.token_bytes(NONCE_BYTES), timeout), False

    def _send(self, job: _Job) -> None:
        """Write the job; a dead zygote is found (and the job sent again) when its answer is read."""
        try:
            if self.proc is None or self.proc.poll() is not None:
                self._start()  # died while idle (or after a failed job): nothing of it is running
            write_all(self.proc.stdin.fileno(), job.frame)
        except BrokenPipeError:
            pass
        except BaseException as e:  # a zygote that cannot restart: this job fails, the worker goes on
            job.future.set_exception(e)
            job.failed = True

    def _answer(self, sent: deque[_Job]) -> None:
        """Settle the running job's future from the zygote's reply. A zygote that died, hung, or
        answered without the job's nonce is replaced and the jobs behind (never started, or killed
        with it) are sent to the new one."""
        job = sent.popleft()
        if job.failed:
            return
        start, limit = time.monotonic(), self.pool.limits.max_output_bytes + 1
        deadline = start + job.timeout + GRACE_S  # it started no earlier than now: the one before is done
        fatal, meta, data = None, None, b""
        try:
            header = read_frame(self.proc.stdout.fileno(), 1 << 16, deadline)
            data = read_frame(self.proc.stdout.fileno(), limit, deadline) if header is not None else None
            if header is None or data is None:
                code = self.proc.wait()
                how = f"signal {-code}" if code < 0 else f"exit status {code}"
                fatal = ["crashed", f"execution worker died ({how}) while running this program"]
            elif header[:NONCE_BYTES] != job.frame[-NONCE_BYTES:]:
                fatal = ["invalid_output", "the worker's reply was forged (wrong nonce)"]
            else:
                meta = orjson.loads(header[NONCE_BYTES:])
        except TimeoutError:
            fatal = ["crashed", "execution worker stopped answering while running this program"]
        except ValueError:  # a frame longer than any reply: someone else wrote into the stream
            fatal = ["invalid_output", "the worker's reply stream was written by someone else"]
        if meta is not None:
            job.future.set_result(decode(job.task, meta, data))
            if meta["clean"]:
                return
        else:
            job.future.set_result(decode(job.task, {"fatal": fatal, "seconds": time.monotonic() - start}, b""))
        self._stop()  # a stream no longer trusted, or a scratch folder that would not empty
        for waiting in sent:
            if not waiting.failed:
                self._send(waiting)


@dataclass
class _Job:
    """A job between the pool's queue and its zygote's answer: its frame ends with its nonce."""

    future: concurrent.futures.Future[ExecutionResult]
    task: Task
    frame: bytes
    timeout: float
    failed: bool = False  # could not be sent: its future already holds the error


class ExecutionPool:
    """Runs programs on tasks in `workers` zygote processes (default: all usable cores), each pinned
    to a core of its own unless `pin` is False. A context manager; submit/run/imap may be called
    from any thread. Linux only."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits(), in_flight: int | None = None,
                 pin: bool = True, confinement: Confinement = Confinement()) -> None:
        cpus = sorted(os.sched_getaffinity(0))  # the usable cores (cpuset, taskset), in order
        self.workers = workers or len(cpus)
        self.limits, self.confinement_settings = limits, confinement
        # Pinned, a zygote woken by its child's exit does not queue behind the other worker while a
        # core idles (11-14% idle time and ~15% fewer programs/s unpinned on 2 cores, issue 3).
        self._cpus = cpus[: self.workers] if pin and self.workers <= len(cpus) else []
        self.in_flight = in_flight or 4 * self.workers
        self.root = tempfile.mkdtemp(prefix="arc-exec-")
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._workers = [_Worker(self, i) for i in range(self.workers)]
        for w in self._workers:
            w.ready.wait()
        failed = next((w.start_error for w in self._workers if w.start_error), None)
        if failed is not None:
            self.close()
            raise RuntimeError(f"could not start the execution pool: {failed}") from failed
        # A cap below what the warm interpreter maps would make every program a "memory" failure.
        floor = self._workers[0].report["address_space_mb"] + 64
        if limits.memory_mb < floor:
            self.close()
            raise LimitsError(f"memory_mb={limits.memory_mb} leaves no room: the warm interpreter alone "
                              f"maps {floor - 64} MB; use at least {floor}")

    @property
    def confinement(self) -> dict[str, Any]:
        """What children get: {"uid": int | None, "ipc_namespace": bool, "landlock_abi": int (0: none),
        "seccomp": bool, "preloaded": [module names]}."""
        return {k: v for k, v in self._workers[0].report.items() if k != "address_space_mb"}

    @property
    def pids(self) -> list[int]:  # the zygotes now running (for monitoring, and tests that kill one)
        return [w.proc.pid for w in self._workers if w.proc is not None]

    @property
    def restarts(self) -> int:  # how many times a zygote was replaced since the pool started
        return sum(w.restarts for w in self._workers)

    def submit(self, code: str, task: Task) -> concurrent.futures.Future[ExecutionResult]:
        if self._closed:
            raise RuntimeError("ExecutionPool is closed")
        future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        self._jobs.put((future, code, task))
        return future

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
        while cancel_pending:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            item[0].cancel()
        for _ in self._workers:
            self._jobs.put(None)
        for w in self._workers:
            w.thread.join()
        if empty_folder(self.root):
            os.rmdir(self.root)
        else:  # e.g. an immutable file a program made without the uid drop: say so, never fail
            logging.getLogger(__name__).warning("left %s: a program left files that cannot be removed", self.root)

    def __enter__(self) -> ExecutionPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(cancel_pending=exc_type is not None)
