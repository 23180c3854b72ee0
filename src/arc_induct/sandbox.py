"""The process side of execution: a warm zygote that forks one confined child per program.

Started by the pool as `python -c ... zygote_main(WORKDIR)`, with the thread-count and
malloc-arena variables already in its environment (so numpy's caps hold before numpy loads).
The zygote imports numpy and common modules once, runs the child's code path and common numpy
functions a few times (so children start from warm bytecode), then loops: read a job frame on stdin, compile
the program, fork a child, sleep until the child exits or its wall-clock deadline passes, kill the
child's process group, reap it, drain its result pipe (capped), and answer with two frames on stdout.

The child confines itself before the program's first byte runs: new session, dies with the zygote,
stdio on /dev/null, cwd in the zygote's scratch folder (emptied after every job), rlimits (address
space, CPU seconds, file size; no core dumps and no_new_privs come set from the zygote), and where the kernel allows it (probed at start-up):
Landlock (writes only below the scratch folder; no signals to processes outside the child) and a
seccomp filter (no fork/vfork/clone of processes, threads allowed; no sockets except AF_UNIX).

Not covered: reads anywhere, CPU/memory other than the rlimits, anything a determined attacker
could do through ctypes beyond those kernel filters. This is a robustness boundary for buggy
generated code, not a security sandbox. Linux only (x86_64 or aarch64 for the seccomp filter).
"""

from __future__ import annotations

import builtins
import ctypes
import fcntl
import gc
import importlib
import os
import resource
import select
import signal
import struct
import time

import orjson

from arc_induct.grids import MAX_SIDE, grid_fault

# Modules programs commonly import: loaded once here so each fork finds them warm. Nothing else is
# imported at the top of this module beyond what numpy and orjson load anyway: each extra module
# (shutil, traceback, pathlib and what they pull in) is memory and mappings that every fork copies
# and every child's exit tears down (~0.05 ms a program for those three).
PRELOAD = ("numpy", "collections", "itertools", "functools", "math", "copy", "typing", "re", "random",
           "heapq", "operator", "dataclasses", "string")
# Names models give the entry point, in order of preference.
FUNCTION_NAMES = ("transform", "solve", "solution", "transform_grid", "apply_transform")
MAX_ERROR_CHARS = 600
FLUSH_AFTER_S = 0.02  # a child buffers its result frames for this long (see _Emitter)
MAX_ZYGOTE_COMPILE = 100_000  # characters of source compiled in the zygote; longer ones in the child
_FRAME = struct.Struct("<I")
DONE = orjson.dumps(("done",))  # the child's last frame; data not ending with it means it died


# -- frames: 4-byte little-endian length, then an orjson payload ------------------------------------

def write_frame(fd: int, *payloads: bytes) -> None:
    """Each payload as one frame, all in one write where the pipe takes it."""
    _write_all(fd, b"".join(_FRAME.pack(len(p)) + p for p in payloads))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FrameReader:
    """Frames from `fd`, reading as many bytes at a time as are there: the pool reads a zygote's
    answer (two frames written at once) with one poll and one read, not two of each per frame, and
    the zygote reads a job queued behind the running one along with it."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, bytearray()

    def next(self, deadline: float | None = None) -> bytes | None:
        """The next frame; None if the stream ends first (inside a frame too: the writer died);
        TimeoutError past `deadline` (a time.monotonic() value; None waits as long as it takes)."""
        while True:
            if len(self.buffer) >= _FRAME.size:
                (size,) = _FRAME.unpack_from(self.buffer)
                if len(self.buffer) >= _FRAME.size + size:
                    payload = bytes(self.buffer[_FRAME.size:_FRAME.size + size])
                    del self.buffer[:_FRAME.size + size]
                    return payload
            if deadline is not None and not _wait_readable(self.fd, deadline):
                raise TimeoutError
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk


def _wait_readable(fd: int, deadline: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    left = deadline - time.monotonic()
    return left > 0 and bool(poller.poll(left * 1000))


# -- kernel confinement through libc (no third-party bindings needed) ------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
# Bound once here, and called once in the zygote, so a child does not pay (in copy-on-write page
# faults) for building ctypes function objects: that was a tenth of a fork's cost.
_syscall, _prctl = _libc.syscall, _libc.prctl
_syscall.restype = ctypes.c_long
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
PR_SET_CHILD_SUBREAPER, PR_SET_THP_DISABLE = 36, 41
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (same on x86_64 and aarch64)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


_ARCHES = {  # machine -> (AUDIT_ARCH, fork, vfork, clone, clone3, socket); None: no such call
    "x86_64": (0xC000003E, 57, 58, 56, 435, 41),
    "aarch64": (0xC00000B7, None, None, 220, 435, 198),
}


def _landlock_ruleset(workdir: str) -> int | None:
    """A ruleset fd allowing writes only below `workdir` (and scoping signals), or None."""
    abi = _syscall(SYS_LANDLOCK[0], None, 0, 1)
    if abi < 1:
        return None
    writes = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make_*
    writes |= (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)  # refer, truncate
    attr = struct.pack("<QQQ", writes, 0, 0b11) if abi >= 6 else struct.pack("<Q", writes)
    fd = _syscall(SYS_LANDLOCK[0], attr, len(attr), 0)
    if fd < 0:
        return None
    dirfd = os.open(workdir, os.O_PATH | os.O_CLOEXEC)
    rule = struct.pack("<Qi", writes, dirfd)  # landlock_path_beneath_attr is packed: 12 bytes
    ok = _syscall(SYS_LANDLOCK[1], fd, 1, rule, 0) == 0
    os.close(dirfd)
    return fd if ok else (os.close(fd), None)[1]


def _seccomp_filter() -> _SockFprog | None:
    """BPF: refuse new processes (threads pass) and non-AF_UNIX sockets; allow everything else."""
    arch = _ARCHES.get(os.uname().machine)
    if arch is None:
        return None
    audit, fork, vfork, clone, clone3, socket = arch
    allow, enosys, eagain, eacces = 0x7FFF0000, 0x50000 | 38, 0x50000 | 11, 0x50000 | 13
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, enosys), (ld, 0, 0, 0)]
    if audit == 0xC000003E:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, enosys)]  # the x32 ABI's aliases
    for nr, err in ((fork, eagain), (vfork, eagain), (clone3, enosys)):  # glibc falls back to clone
        if nr is not None:
            prog += [(jeq, 0, 1, nr), (ret, 0, 0, err)]
    prog += [(jeq, 0, 4, socket), (ld, 0, 0, 16), (jeq, 0, 1, 1), (ret, 0, 0, allow), (ret, 0, 0, eacces)]
    prog += [(jeq, 0, 4, clone), (ld, 0, 0, 16), (jset, 0, 1, 0x10000), (ret, 0, 0, allow), (ret, 0, 0, eagain)]
    prog.append((ret, 0, 0, allow))
    return _SockFprog(len(prog), b"".join(struct.pack("<HBBI", *ins) for ins in prog))


def _confine(ruleset: int | None, bpf: _SockFprog | None) -> None:
    """Apply Landlock and seccomp to this process; no_new_privs, which both need, the zygote set
    for itself and every child."""
    if ruleset is not None and _syscall(SYS_LANDLOCK[2], ruleset, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    if bpf is not None and _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(bpf), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


# -- the child: runs one program on every grid ----------------------------------------------------

# libc's fork with the GIL held, instead of os.fork: it skips Python's at-fork handlers, which cost
# a fifth of a fork in copy-on-write faults. Safe only because the zygote has one thread and takes
# no locks around the call; the child gets the same thread id, so the interpreter state holds.
_fork = ctypes.PyDLL(None).fork
_fork.restype = ctypes.c_int
_NULL = os.open(os.devnull, os.O_RDWR)  # opened once; each child dup2()s it over its stdio

def _child(job: dict, program, out: int, zygote: int, ruleset: int | None, bpf: _SockFprog | None) -> None:
    os.setsid()  # own process group: one killpg takes everything it started
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != zygote:
        os._exit(70)
    for fd in (0, 1, 2):
        os.dup2(_NULL, fd)
    mem = job["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(1, int(job["cpu_s"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["file_bytes"], job["file_bytes"]))
    _confine(ruleset, bpf)
    emit = _Emitter(out)
    # Only a program that names builtins can edit them; checking the others would cost page faults.
    guard = "builtins" in job["code"]
    fn = _load(program, guard, emit)
    if fn is not None:
        for i, grid in enumerate(job["grids"]):
            emit("grid", i, *_call(fn, grid, guard))
    emit("done")
    emit.flush()


class _Emitter:
    """Frames to the zygote. A fast program's frames go in one write at the end (one wake-up of
    the zygote, not one per grid); after FLUSH_AFTER_S each frame is written at once, so a program
    later killed for time still reports the grids it finished."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer, self.start = fd, [], time.monotonic()

    def __call__(self, *frame) -> None:
        payload = orjson.dumps(frame)
        self.buffer.append(_FRAME.pack(len(payload)) + payload)
        if time.monotonic() - self.start > FLUSH_AFTER_S:
            self.flush()

    def flush(self) -> None:
        data, self.buffer = b"".join(self.buffer), []
        _write_all(self.fd, data)


def _compile(code: str) -> tuple[object | None, str | None]:
    try:
        return compile(code, "<program>", "exec"), None
    except BaseException as e:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        return None, _describe(e)


def _load(program, guard: bool, emit) -> object | None:
    """The program's entry point, or None once a fatal frame is sent. `program` is a code object,
    or source text too long to have been compiled in the zygote."""
    if isinstance(program, str):
        program, error = _compile(program)
        if error:
            emit("fatal", "syntax_error", error)
            return None
    namespace = {"__name__": "__program__", "__builtins__": builtins}  # not __main__: no demo blocks
    try:
        exec(program, namespace)
    except BaseException as e:  # the sandbox boundary: a failing top level becomes a result field
        _restore_builtins(guard)
        emit("fatal", "memory" if isinstance(e, MemoryError) else "exception", "at top level: " + _describe(e))
        return None
    _restore_builtins(guard)
    for name in FUNCTION_NAMES:
        if callable(namespace.get(name)):
            return namespace[name]
    emit("fatal", "no_function", f"the program defines none of {', '.join(FUNCTION_NAMES)}")
    return None


def _call(fn, grid: list, guard: bool) -> tuple:
    """(output, error, kind) for one grid; kind is ok | exception | memory | invalid_output."""
    try:
        value = fn(grid)  # the child's own copy, used once: a program may mutate it freely
    except BaseException as e:  # the sandbox boundary: SystemExit, KeyboardInterrupt included
        _restore_builtins(guard)
        return None, _describe(e), "memory" if isinstance(e, MemoryError) else "exception"
    _restore_builtins(guard)
    try:
        out, fault = normalise(value)
    except BaseException as e:  # a hostile __len__ or __iter__ in the returned value
        return None, _describe(e), "memory" if isinstance(e, MemoryError) else "invalid_output"
    return (None, fault, "invalid_output") if fault else (out, None, "ok")


_BUILTINS = dict(builtins.__dict__)


def _restore_builtins(guard: bool) -> None:
    """Undo a program's edits to builtins (len = ..., isinstance = ...) before this module uses them
    again: they would break the reporting of its own results. So such edits last only until the
    program's top level, or its current call, returns."""
    if guard and builtins.__dict__ != _BUILTINS:
        builtins.__dict__.clear()
        builtins.__dict__.update(_BUILTINS)


def normalise(value) -> tuple[list | None, str | None]:
    """Turn a returned grid into list[list[int]]; (grid, None) or (None, why not). Never copies
    more than 30x30 cells, so a huge return value costs nothing here."""
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        if value.ndim != 2 or max(value.shape) > MAX_SIDE:
            return None, f"output array has shape {tuple(value.shape)} (allowed 1..{MAX_SIDE} x 1..{MAX_SIDE})"
        value = value.tolist()  # numpy ints become int; bools and floats stay refused below
    fault = grid_fault(value)
    if fault and isinstance(value, (list, tuple)) and len(value) <= MAX_SIDE:
        # Converted only when needed (most outputs pass as they are): tuples, numpy rows and
        # numpy integer scalars become lists and ints, then the one grid check runs again.
        value = [_row(r) for r in value]
        fault = grid_fault(value)
    if fault:
        return None, fault
    if type(value) is not list or any(type(r) is not list for r in value):  # list subclasses
        value = [list(r) for r in value]
    return value, None


def _row(row):
    if type(row).__module__ == "numpy" and hasattr(row, "shape"):
        return row.tolist() if row.ndim == 1 and len(row) <= MAX_SIDE else row
    if isinstance(row, (list, tuple)) and len(row) <= MAX_SIDE:
        return [int(v) if _numpy_int(v) else v for v in row]
    return row


def _numpy_int(v) -> bool:
    return type(v).__module__ == "numpy" and hasattr(v, "dtype") and v.dtype.kind in "iu"


def _describe(e: BaseException) -> str:
    lines, tb = [], e.__traceback__  # the program's own frames (no traceback module: see PRELOAD)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    where = f" (line {lines[-1]})" if lines else ""
    try:
        text = f"{type(e).__name__}: {e}"
    except BaseException:  # a hostile __str__
        text = type(e).__name__
    return text[:MAX_ERROR_CHARS] + where


# -- the zygote -----------------------------------------------------------------------------------

def run_job(job: dict, workdir: str, ruleset: int | None, bpf: _SockFprog | None) -> tuple[dict, bytes]:
    """Fork, collect, kill, reap. Returns a header {"fatal": [kind, message] | None, "seconds": s} and
    the child's frames as it wrote them (parsed by `parse_frames` in the pool, not here: every byte
    the zygote writes after a fork costs it a copy-on-write fault)."""
    start = time.monotonic()
    # Compiling here, before the fork, spares each child the compiler's page faults; a syntax error
    # then needs no child at all. Long sources are compiled in the child, under its limits.
    program, error = _compile(job["code"]) if len(job["code"]) <= MAX_ZYGOTE_COMPILE else (job["code"], None)
    if error:
        return {"fatal": ["syntax_error", error], "seconds": time.monotonic() - start}, b""
    zygote = os.getpid()
    read_end, write_end, pipe_size = _pipe(job["max_output_bytes"])
    pid = _fork()
    if pid == 0:
        os.close(read_end)
        try:
            _child(job, program, write_end, zygote, ruleset, bpf)
        finally:
            os._exit(0)  # skip interpreter teardown; a missing "done" frame tells the zygote it failed
    os.close(write_end)
    # Sleep until the child exits, not until its output arrives: a page the zygote writes while
    # the child lives costs a copy; after the child is gone, only a cheap fault.
    exited = _wait_exit(pid, start + job["timeout_s"])
    for kill in (os.killpg, os.kill):  # the group: anything it started (killpg misses a child
        try:                            # killed before its setsid)
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    status = os.waitpid(pid, 0)[1]
    data = _drain(read_end, job["max_output_bytes"] + 1)
    os.close(read_end)
    if len(data) > job["max_output_bytes"] or (not exited and len(data) >= pipe_size):
        fatal = ["invalid_output", f"program output over {min(len(data), job['max_output_bytes'])} bytes"]
    elif not exited:
        fatal = ["timeout", f"timed out after {job['timeout_s']:.2f}s"]
    elif not data.endswith(DONE):
        fatal = _death(status)
    else:
        fatal = None
    if bpf is None:  # with seccomp, a child cannot start processes: no orphans to look for
        _reap_orphans()
    if os.listdir(workdir):
        _empty(workdir)
    return {"fatal": fatal, "seconds": time.monotonic() - start}, data


class _Deadline(Exception):
    """Raised by the zygote's SIGALRM handler while it waits for a child."""


_waiting = False  # the zygote is in _wait_exit: SIGALRM means the child's time is up
_zygote_pid = 0  # set by zygote_main


def _on_alarm(signum: int, frame: object) -> None:
    if _waiting:
        raise _Deadline
    if os.getpid() == _zygote_pid:
        return  # the alarm fired just as the child exited, before it was disarmed: too late to matter
    # In a child (which inherits this handler), a program's own alarm gets the default action.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGALRM)


def _wait_exit(pid: int, deadline: float) -> bool:
    """Block until child `pid` exits (True; it stays a zombie for waitpid) or `deadline` passes
    (False). A blocking waitid with an alarm, not poll() on a pidfd: that cost the zygote ~60 us
    more per program (an extra sleep and wake-up, and the pidfd's own calls)."""
    global _waiting
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    _waiting = True
    try:
        signal.setitimer(signal.ITIMER_REAL, left)  # inside the try: a tiny `left` may fire at once
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        _waiting = False  # an alarm from here on is ignored; one before this line means "late"
        return True
    except _Deadline:
        return False
    finally:
        _waiting = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def _pipe(size: int) -> tuple[int, int, int]:
    """A pipe that holds `size` bytes where the kernel allows, so a child never blocks writing its
    results; returns (read end, write end, capacity)."""
    read_end, write_end = os.pipe()
    try:
        capacity = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, size)
    except OSError:  # above /proc/sys/fs/pipe-max-size for a non-root user
        capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    os.set_blocking(read_end, False)
    return read_end, write_end, capacity


def _drain(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # a killed straggler may hold the write end a moment longer
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reap_orphans() -> None:
    """Reap processes a child left behind (possible only without seccomp): the zygote is their
    subreaper, so they would otherwise stay zombies."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def parse_frames(data: bytes) -> list:
    """The decoded frames in `data`; a frame cut short by a kill ends the list."""
    frames, pos = [], 0
    while pos + _FRAME.size <= len(data):
        (size,) = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if pos + size > len(data):
            break
        frames.append(orjson.loads(data[pos:pos + size]))
        pos += size
    return frames


def _death(status: int) -> list[str]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return ["timeout", "CPU time limit exceeded"]
        why = " (by itself, the out-of-memory killer, or from outside)" if sig == signal.SIGKILL else ""
        return ["crashed", f"killed by {signal.Signals(sig).name}{why}"]
    return ["crashed", f"exited with status {os.WEXITSTATUS(status)} before finishing"]


def _empty(workdir: str) -> None:
    for entry in os.scandir(workdir):
        if entry.is_dir(follow_symlinks=False):
            import shutil  # here, not at the top: see PRELOAD

            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _probe(ruleset: int | None, bpf: _SockFprog | None) -> bool:
    """Can a child apply this confinement? Checked once, so a kernel without it degrades, not fails."""
    pid = os.fork()
    if pid == 0:
        try:
            _confine(ruleset, bpf)
            os._exit(0)
        finally:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


# Run in the zygote before it forks anything. Python 3.11 counts calls and rewrites a function's
# bytecode in place once it is warm, so a function first run in a child writes (and copies) its
# code object's pages in every child. Running the child's own path and numpy functions programs
# often call here, a few times each, leaves them warm in the image every child starts from.
WARM_UP_PROGRAM = "import numpy as np\ndef transform(grid):\n    return np.array(grid)[::-1].tolist()\n"
# numpy functions ARC programs often call, each with arguments for a 2-D int array `a`.
WARM_UP_NUMPY = {
    "array": "a", "asarray": "a", "zeros_like": "a", "ones_like": "a", "full_like": "a, 3", "copy": "a",
    "fliplr": "a", "flipud": "a", "rot90": "a", "transpose": "a", "unique": "a", "argwhere": "a",
    "nonzero": "a", "where": "a == 1, a, 0", "any": "a", "all": "a", "pad": "a, 1", "count_nonzero": "a",
    "array_equal": "a, a", "max": "a", "min": "a", "sum": "a", "hstack": "[a, a]", "vstack": "[a, a]",
    "concatenate": "[a, a]", "kron": "a, a", "tile": "a, (2, 2)", "repeat": "a, 2", "full": "(2, 2), 3",
    "zeros": "(2, 2)", "isin": "a, [1, 2]",
}


def _warm_up(rounds: int = 20) -> None:
    import numpy as np

    program = compile(WARM_UP_PROGRAM, "<program>", "exec")
    calls = compile(";".join(f"np.{name}({args})" for name, args in WARM_UP_NUMPY.items()), "<warm-up>", "exec")
    grid = [[0, 1, 2], [3, 4, 5]]
    with open(os.devnull, "wb") as sink:
        for _ in range(rounds):
            emit = _Emitter(sink.fileno())
            fn = _load(program, False, emit)
            for i in range(3):
                emit("grid", i, *_call(fn, grid, False))
            emit("done")
            emit.flush()
            exec(calls, {"np": np, "a": np.array(grid)})


def zygote_main(workdir: str, cpu: str | None = None) -> None:
    global _zygote_pid
    _zygote_pid = os.getpid()
    # Ctrl-C is for the pool to handle. No PDEATHSIG here: it fires when the *thread* that started us
    # exits; end of stdin is how we learn the pool is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)  # the per-program deadline (see _wait_exit)
    os.chdir(workdir)  # children start here, where Landlock lets them write
    if cpu is not None:
        os.sched_setaffinity(0, {int(cpu)})  # inherited by every child (see ExecutionPool's `pin`)
    _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a child come to us (see _reap_orphans)
    for name in PRELOAD:
        importlib.import_module(name)
    ruleset, bpf = _landlock_ruleset(workdir), _seccomp_filter()
    # Inherited by every child, so set once here: the zygote never execs (no_new_privs only stops
    # an exec gaining privileges) and has no use for core dumps. Also warms the ctypes call path.
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not _probe(ruleset, bpf):
        ruleset, bpf = (ruleset, None) if _probe(ruleset, None) else (None, None)
    _warm_up()
    gc.collect()
    gc.freeze()  # children's collections then skip the warm heap: fewer copy-on-write faults
    # The heap's 2 MB pages (see execution.ZYGOTE_TUNABLES) stay; from here on no new ones, so a
    # child's own allocations get ordinary pages, as without the tunable.
    _prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    with open("/proc/self/statm") as f:
        address_space_mb = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") >> 20
    write_frame(1, orjson.dumps({"landlock": ruleset is not None, "seccomp": bpf is not None,
                                 "address_space_mb": address_space_mb}))
    jobs = FrameReader(0)
    while (frame := jobs.next()) is not None:
        header, data = run_job(orjson.loads(frame), workdir, ruleset, bpf)
        write_frame(1, orjson.dumps(header), data)  # one write: one wake-up of the pool's thread

