"""Execution: run untrusted `transform(grid)` programs on every grid of a task, fast, isolated, and
without ever taking the run down. Linux only.

    with ExecutionPool(workers=2) as pool:
        result = pool.run(code, task)            # ExecutionResult: per-grid outputs and errors
        for r in pool.imap((code, task) for ...):  # in order, bounded in flight
            ...

What is covered:
- Each program runs in its own process forked from a warm zygote (numpy and common modules loaded,
  one BLAS thread, two malloc arenas), so nothing a program changes (numpy, builtins, globals,
  files in its folder) is seen by the next one. A program costs ~2.2 ms of CPU in all (fork, limits,
  run, exit); a fresh interpreter with numpy costs ~90-190 ms.
- Limits per program (`Limits`): wall clock (per grid, capped), address space, CPU seconds, bytes of
  output, size of written files, no core dumps. On timeout the program's whole process group is
  killed with SIGKILL (ignoring SIGTERM or catching BaseException does not help it) and reaped.
- Where the kernel has them (probed at start; `ExecutionPool.confinement` says which are on):
  Landlock confines writes to a throwaway folder, emptied after each program, and stops signals
  to processes outside the program; seccomp refuses new processes (fork bombs, subprocess; threads
  are allowed) and network sockets.
- Outputs: numpy arrays, tuples and nested lists become list[list[int]]; anything else is refused
  with the reason given by `grids.grid_fault` (ragged, bigger than 30x30, bool, float, outside 0..9).
- Entry point: `transform`, else `solve`, `solution`, `transform_grid`, `apply_transform`.
- A zygote that dies in any way is replaced; only the program it was running is lost ("crashed").
  The pool's own memory is bounded: `imap` keeps at most `in_flight` programs queued.
- `execute_file` (the `arc-induct execute` verb): JSONL rows in, rows plus results and the
  hard-coded probability (`transduction`, computed once here so `vote` only reads it) out, streamed
  in input order; a bad row stops the run with ProgramFileError after every earlier row is written.

What is not covered: this is a robustness boundary against buggy generated code, not a security
sandbox. Programs can read any file the user can, use CPU up to the limits, and do through ctypes
whatever the kernel filters above do not stop. Without Landlock, writes by absolute path land
where they point; without seccomp (or on non-x86_64/aarch64 machines), a fork bomb is stopped only
by the timeout's process-group kill (RLIMIT_NPROC is not used: it is per user and root ignores it).

Each worker is a thread in this process plus one zygote process (see sandbox.py). The thread takes
jobs from a shared queue, writes one frame to its zygote and waits for the reply with a deadline of
the program's timeout plus a grace period. While a job runs, the thread already writes the next one
into the zygote's pipe (when both fit in it), so the zygote never waits for the round trip. Zygote
i is pinned to core i when there are no more workers than cores (its children inherit it). A
zygote that dies (SIGKILL from outside, OOM killer) or stops answering is killed and replaced by its
thread; the job it was running is reported as "crashed" (not retried: a program that kills workers
would otherwise get two tries), and every other job is untouched: the one queued behind it goes to
the new zygote. A zygote found dead before a job was sent is replaced and the job sent.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from arc_induct.grids import Grid
from arc_induct.jsonl import JsonlError, read_jsonl
from arc_induct.sandbox import FrameReader, normalise, parse_frames, write_frame
from arc_induct.store import ExecutionResult, result_to_json
from arc_induct.tasks import Task
from arc_induct.transduction import probability_from_outputs

__all__ = ["ExecutionConfig", "ExecutionPool", "ExecutionResult", "Limits", "LimitsError", "ProgramFileError",
           "execute_file", "normalise"]

# Set in the zygote's environment, so they hold before its numpy import: one BLAS thread per program
# (threads multiply memory and fight for 2 cores) and few malloc arenas (each reserves address space,
# which the RLIMIT_AS cap counts).
ZYGOTE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1"}
# malloc asks for 2 MB pages for its heap (where the kernel's transparent_hugepage is "madvise" or
# "always"): a fork then copies one page-table entry per 2 MB of the zygote's heap, not 512, and
# the zygote's writes after a child exits fault once per 2 MB. Appended to the user's tunables.
ZYGOTE_TUNABLES = "glibc.malloc.hugetlb=1"
ZYGOTE_MAIN = "import sys; from arc_induct.sandbox import zygote_main; zygote_main(*sys.argv[1:])"
GRACE_S = 10.0  # beyond a program's timeout before its zygote counts as hung
START_TIMEOUT_S = 120.0  # a zygote's start-up (python + numpy) on a loaded machine


@dataclass(frozen=True)
class Limits:
    """Per-program limits. The wall-clock timeout is `timeout_s` per grid (train inputs plus test
    inputs), capped at `max_timeout_s`; `memory_mb` caps the address space of the program's process,
    which includes the ~100 MB of the warm interpreter and numpy."""

    timeout_s: float = 1.0
    max_timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: float = 10.0
    max_output_bytes: int = 1 << 20
    file_bytes: int = 16 << 20

    def timeout_for(self, n_grids: int) -> float:
        return min(self.max_timeout_s, self.timeout_s * max(1, n_grids))


@dataclass(frozen=True)
class ExecutionConfig:
    """The run's execution section: how many zygotes (None = every usable core), and their limits."""

    workers: int | None = None
    limits: Limits = field(default_factory=Limits)


def assemble(task: Task, header: dict[str, Any], data: bytes) -> ExecutionResult:
    """Build the result from a zygote's reply: grids never reached carry the fatal error."""
    n_train = len(task.train)
    n = n_train + len(task.test_inputs)
    outputs: list[Grid | None] = [None] * n
    errors: list[str | None] = [None] * n
    kinds: list[str | None] = [None] * n
    fatal = header["fatal"]
    try:
        for kind, *rest in parse_frames(data):
            if kind == "grid":
                i, out, err, grid_kind = rest
                outputs[i], errors[i], kinds[i] = out, err, grid_kind
            elif kind == "fatal" and fatal is None:
                fatal = rest
    except Exception as e:  # the boundary: frames a program scribbled on are its failure, not ours
        fatal = ["crashed", f"garbled result stream ({type(e).__name__}: {e})"]
    for i in range(n):
        if kinds[i] is None:
            kinds[i], errors[i] = fatal or ("crashed", "no result: the program wrote into its own result stream")
    status = fatal[0] if fatal else next((k for k in kinds if k != "ok"), "ok")
    train_correct = tuple(outputs[i] == p.output for i, p in enumerate(task.train))
    test_correct = None
    if task.test_outputs is not None:
        test_correct = tuple(outputs[n_train + i] == g for i, g in enumerate(task.test_outputs))
    return ExecutionResult(status, tuple(outputs[:n_train]), tuple(errors[:n_train]),
                           tuple(outputs[n_train:]), tuple(errors[n_train:]), train_correct,
                           test_correct, header["seconds"], task.id)


class ProgramFileError(ValueError):
    """A row of a programs JSONL file is unusable; the message names the file, line and field."""


class LimitsError(ValueError):
    """Limits no program could run under (e.g. a memory cap below the interpreter's own size)."""


def execute_file(programs: Path, tasks: Sequence[Task], out: Path, workers: int | None = None,
                 limits: Limits = Limits(), progress: bool = True) -> Counter[str]:
    """Run every `{"task_id", "code", ...}` row of `programs`, writing the row plus its result to
    `out` in input order; returns counts per status. Streams: only the rows in flight are held.
    A bad row stops the run with ProgramFileError once every row before it has been written."""
    by_id = {t.id: t for t in tasks}
    rows: deque[dict] = deque()  # rows whose results are in flight, oldest first

    def items() -> Iterator[tuple[str, Task]]:
        try:
            for number, row in read_jsonl(programs):
                where = f"{programs}, line {number}"
                if not isinstance(row.get("code"), str):
                    raise ProgramFileError(f"{where}: expected an object with a string field 'code'")
                task_id = row.get("task_id")
                task = by_id.get(task_id) if isinstance(task_id, str) else None
                if task is None:
                    raise ProgramFileError(f"{where}: task_id {task_id!r} is not in the dataset")
                rows.append(row)
                yield row["code"], task
        except JsonlError as e:
            raise ProgramFileError(str(e)) from None

    counts: Counter[str] = Counter()
    with ExecutionPool(workers, limits) as pool, open(out, "wb") as sink, \
            tqdm(total=_count_lines(programs), unit="program", disable=not progress) as bar:
        for result in pool.imap(items()):
            row = rows.popleft()
            # p once: scored here, where the test outputs are fresh; `vote` reads it back.
            p = probability_from_outputs(row["code"], by_id[row["task_id"]], result.test_outputs)
            sink.write(orjson.dumps({**row, **result_to_json(result), "hardcoded_probability": p}) + b"\n")
            counts[result.status] += 1
            bar.update()
    return counts


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@dataclass
class _Job:
    """A job between the pool's queue and its zygote's answer."""

    future: concurrent.futures.Future[ExecutionResult]
    task: Task
    frame: bytes
    timeout: float
    failed: bool = False  # could not be sent: its future already holds the error


class _Worker:
    """One zygote and the thread feeding it. The thread also starts the zygote, so the process has
    a parent thread that lives as long as the pool."""

    def __init__(self, pool: ExecutionPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.workdir = tempfile.mkdtemp(prefix=f"w{index}-", dir=pool.root)
        self.proc: subprocess.Popen | None = None
        self.confinement: dict[str, bool] = {}
        self.pipe_room = 0  # bytes of jobs that fit in the zygote's stdin pipe at once
        self.replies: FrameReader | None = None  # the zygote's stdout, read by _answer
        self.waiting = False  # blocked on the pool's queue
        self.ready = threading.Event()
        self.start_error: BaseException | None = None
        self.restarts = -1  # the first start is not a restart
        self.thread = threading.Thread(target=self._loop, name=f"exec-worker-{index}", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        self._stop()
        cpu = self.pool._cpus[self.index] if self.pool._cpus else None
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE_MAIN, self.workdir, *([] if cpu is None else [str(cpu)])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._environment(), bufsize=0)
        self.replies = FrameReader(self.proc.stdout.fileno())
        hello = self.replies.next(time.monotonic() + START_TIMEOUT_S)
        if hello is None:
            raise RuntimeError(f"execution worker {self.index} exited during start-up (see stderr)")
        self.confinement = orjson.loads(hello)
        self.pipe_room = fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_GETPIPE_SZ) - 64  # 64: frame headers
        self.restarts += 1

    @staticmethod
    def _environment() -> dict[str, str]:
        tunables = ":".join(filter(None, (os.environ.get("GLIBC_TUNABLES"), ZYGOTE_TUNABLES)))
        return {**os.environ, **ZYGOTE_ENV, "GLIBC_TUNABLES": tunables}

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # its children die with it (PDEATHSIG)
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None

    def _loop(self) -> None:
        try:
            self._start()
        except BaseException as e:  # reported by the pool's constructor
            self.start_error = e
            return
        finally:
            self.ready.set()
        sent: deque[_Job] = deque()  # written to the zygote, unanswered; the first is running
        held: _Job | None = None  # taken from the queue, waiting for its turn
        stopping = False
        while not (stopping and held is None and not sent):
            if held is None and not stopping and len(sent) < 2:
                held, stopping = self._take(block=not sent)
            # One job waits in the zygote's pipe behind the running one, so the zygote starts it as
            # soon as it answers, not a round trip through this thread later. Only when both fit in
            # the pipe at once: a write that blocked while the zygote blocks writing a large answer
            # would deadlock.
            if held is not None and (not sent or (len(sent) == 1 and len(sent[0].frame) + len(held.frame) <= self.pipe_room)):
                self._send(held, alone=not sent)
                sent.append(held)
                held = None
            elif sent:
                self._answer(sent)
        self._stop()

    def _take(self, block: bool) -> tuple[_Job | None, bool]:
        """(a job from the pool's queue or None, whether the pool is stopping). Without `block`, only
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
        try:
            grids = [p.input for p in task.train] + list(task.test_inputs)
            timeout = limits.timeout_for(len(grids))
            frame = orjson.dumps({"code": code, "grids": grids, "timeout_s": timeout, "memory_mb": limits.memory_mb,
                                  "cpu_s": limits.cpu_s, "file_bytes": limits.file_bytes,
                                  "max_output_bytes": limits.max_output_bytes})
        except Exception as e:  # e.g. code with a lone surrogate: this job fails, the worker goes on
            future.set_exception(e)
            return None, False
        return _Job(future, task, frame, timeout), False

    def _send(self, job: _Job, alone: bool) -> None:
        try:
            if self.proc is None or self.proc.poll() is not None:
                raise BrokenPipeError
            write_frame(self.proc.stdin.fileno(), job.frame)
        except BrokenPipeError:
            if not alone:  # _answer finds the zygote dead and sends this job again
                return
            try:  # died while idle: the job never started, so send it to a new one
                self._start()
                write_frame(self.proc.stdin.fileno(), job.frame)
            except BaseException as e:  # e.g. a zygote that cannot restart: fail this job, keep going
                job.future.set_exception(e)
                job.failed = True

    def _answer(self, sent: deque[_Job]) -> None:
        """Wait for the running job's answer and settle its future. If the zygote dies or hangs, that
        job is reported "crashed" and the ones behind it (never started) go to a new zygote."""
        job = sent.popleft()
        if job.failed:
            return
        start = time.monotonic()
        try:
            deadline = start + job.timeout + GRACE_S  # it started no earlier than now: the one before is done
            header = self.replies.next(deadline)
            data = self.replies.next(deadline)
            if header is None or data is None:
                raise EOFError
            job.future.set_result(assemble(job.task, orjson.loads(header), data))
            return
        except (EOFError, TimeoutError) as e:
            how = "stopped answering" if isinstance(e, TimeoutError) else f"died ({self._death()})"
            fatal = ["crashed", f"execution worker {how} while running this program"]
            job.future.set_result(assemble(job.task, {"fatal": fatal, "seconds": time.monotonic() - start}, b""))
        except BaseException as e:  # the boundary for this job's future: keep serving the others
            job.future.set_exception(e)
            return
        try:
            self._start()
        except BaseException as e:  # a zygote that cannot restart: fail the waiting jobs, keep going
            for waiting in sent:
                waiting.future.set_exception(e)
                waiting.failed = True
            return
        for waiting in sent:
            if not waiting.failed:
                self._send(waiting, alone=True)

    def _death(self) -> str:
        code = self.proc.wait()
        return f"signal {-code}" if code < 0 else f"exit status {code}"


class ExecutionPool:
    """Runs programs on tasks in `workers` zygote processes (default: all usable cores), each pinned
    to a core of its own unless `pin` is False. A context manager; submit/run/imap may be called
    from any thread. Linux only."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits(), in_flight: int | None = None,
                 pin: bool = True) -> None:
        cpus = sorted(os.sched_getaffinity(0))  # the usable cores (cpuset, taskset), in order
        self.workers = workers or len(cpus)
        self.limits = limits
        # With `pin` and no more workers than usable cores, zygote i (and every program it forks)
        # stays on core i. Left to the scheduler, a zygote woken by its child's exit was often
        # queued behind the other worker while a core sat idle: 11-14% idle time and ~15% fewer
        # programs/s on 2 cores (benchmarks/bench_execution.py shows both, side by side).
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
        # A cap below what the warm interpreter already maps would make every program a "memory"
        # failure; say so once instead.
        floor = self._workers[0].confinement.get("address_space_mb", 0) + 64
        if limits.memory_mb < floor:
            self.close()
            raise LimitsError(f"memory_mb={limits.memory_mb} leaves no room: the warm interpreter alone "
                              f"maps {floor - 64} MB; use at least {floor}")

    @property
    def confinement(self) -> dict[str, bool]:
        """Which kernel confinements the children got: {"landlock": bool, "seccomp": bool}."""
        return {k: bool(v) for k, v in self._workers[0].confinement.items() if k in ("landlock", "seccomp")}

    @property
    def pids(self) -> list[int]:
        """Process ids of the zygotes now running (for monitoring, and for tests that kill one)."""
        return [w.proc.pid for w in self._workers if w.proc is not None]

    @property
    def restarts(self) -> int:
        """How many times a zygote was replaced since the pool started."""
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
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ExecutionPool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(cancel_pending=exc_type is not None)
