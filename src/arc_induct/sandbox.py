"""The process side of execution: a warm zygote that forks one confined child per program.

`zygote_main` imports the preload list once, sets what every child inherits (no_new_privs, no core
dumps, its core), tries each confinement layer once and reports what holds, then loops: read a
job, fork, wait for the child's exit or deadline, kill its process group (and, without seccomp,
every process of its uid), reap, read the job's nonce, answer, empty the scratch folder.
`unsafe_execute` is the child: it confines itself (confine.py) and writes one JSON line per grid.
Nothing it writes is trusted: the pool decodes it (execution.decode). The nonce is read only
after the child is dead, so it is never in a program's memory. Not covered: see confine.py.
"""

from __future__ import annotations

import builtins
import ctypes
import errno
import fcntl
import gc
import importlib
import os
import resource
import select
import signal
import subprocess
import sys
import time

import orjson

from arc_induct import confine
from arc_induct.frames import NONCE_BYTES, frame, read_exact, read_frame, write_all
from arc_induct.grids import MAX_SIDE, grid_fault

# Names models give the entry point, in order of preference.
FUNCTION_NAMES = ("transform", "solve", "solution", "transform_grid", "apply_transform")
MAX_ERROR_CHARS = 600
JOB_FOLDER = "job"  # the program's working folder, inside the zygote's scratch folder


# -- the child: confine, then run one program on every grid ---------------------------------------

def unsafe_execute(job: dict, out: int, settings: dict) -> None:
    """Runs the program. This is NOT a security sandbox: it holds only what confine.py's steps hold.
    `settings` are the zygote's: its pid and the layers that hold (zygote_main)."""
    os.setsid()  # own process group: one killpg takes everything it started
    os.chdir(JOB_FOLDER)  # as root: after the uid drop the scratch folder (0700) is closed to it
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    confine.set_limits(job["memory_mb"], job["cpu_s"], job["file_bytes"])
    if settings["ipc_namespace"]:
        confine.new_ipc_namespace()
    if settings["uid"] is not None:
        confine.drop_privileges(settings["uid"])
    confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    if os.getppid() != settings["zygote"]:
        os._exit(70)  # the zygote died before the line above
    if settings["ruleset"] is not None:
        confine.apply_landlock(settings["ruleset"])
    if settings["bpf"] is not None:
        confine.apply_seccomp(settings["bpf"])

    def emit(*line) -> None:  # one line, one write
        os.write(out, orjson.dumps(line) + b"\n")

    fn = _load(job["code"], emit)
    if fn is not None:
        for i, grid in enumerate(job["grids"]):
            emit(i, *_call(fn, grid))


def _load(code: str, emit):
    """The program's entry point, or None once a fatal line is written."""
    program, e = _guarded(compile, code, "<program>", "exec")
    if e is not None:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        return emit("fatal", "syntax_error", _describe(e))
    namespace = {"__name__": "__program__", "__builtins__": builtins}  # not __main__: no demo blocks
    _, e = _guarded(exec, program, namespace)
    if e is not None:
        return emit("fatal", _kind(e, "exception"), "at top level: " + _describe(e))
    fn = next((namespace[n] for n in FUNCTION_NAMES if callable(namespace.get(n))), None)
    return fn or emit("fatal", "no_function", f"the program defines none of {', '.join(FUNCTION_NAMES)}")


def _call(fn, grid: list) -> tuple:
    """(output, error, kind) for one grid; kind is ok | exception | memory | invalid_output."""
    value, e = _guarded(fn, grid)  # the child's own copy of the grid: a program may mutate it freely
    if e is not None:
        return None, _describe(e), _kind(e, "exception")
    normal, e = _guarded(normalise, value)  # a hostile __len__ or __iter__ may raise here
    if e is not None:
        return None, _describe(e), _kind(e, "invalid_output")
    out, fault = normal
    return (None, fault, "invalid_output") if fault else (out, None, "ok")


def _guarded(fn, *args) -> tuple:
    """(fn(*args), None), or (None, the exception): the sandbox boundary, so every exception,
    SystemExit and KeyboardInterrupt included. Then builtins a program edited (len = ...) are put
    back, so this module's own reporting keeps working (the pool re-checks every grid anyway)."""
    try:
        return fn(*args), None
    except BaseException as e:
        return None, e
    finally:
        if builtins.__dict__ != _BUILTINS:
            builtins.__dict__.clear()
            builtins.__dict__.update(_BUILTINS)


def _kind(e: BaseException, otherwise: str) -> str:
    if isinstance(e, MemoryError) or (isinstance(e, OSError) and e.errno == errno.ENOMEM):
        return "memory"
    return otherwise


_BUILTINS = dict(builtins.__dict__)


def normalise(value) -> tuple[list | None, str | None]:
    """Turn a returned grid into list[list[int]]: (grid, None) or (None, why not). Copies at most
    30x30 cells, so a huge return value costs nothing here. Best effort for the program's sake:
    the pool checks the result again, as plain JSON, with the one grid check."""
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        if value.ndim != 2 or max(value.shape) > MAX_SIDE:
            return None, f"output array has shape {tuple(value.shape)} (allowed 1..{MAX_SIDE} x 1..{MAX_SIDE})"
        value = value.tolist()  # numpy ints become int; bools and floats stay refused below
    if isinstance(value, (list, tuple)) and len(value) <= MAX_SIDE:
        value = [_row(r) for r in value]
    return (None, fault) if (fault := grid_fault(value)) else (value, None)


def _row(row):
    if type(row).__module__ == "numpy" and hasattr(row, "shape"):
        return row.tolist() if row.ndim == 1 and len(row) <= MAX_SIDE else row
    if isinstance(row, (list, tuple)) and len(row) <= MAX_SIDE:
        return [int(v) if type(v).__module__ == "numpy" and getattr(v, "dtype", None) is not None
                and v.dtype.kind in "iu" else v for v in row]
    return row


def _describe(e: BaseException) -> str:
    lines, tb = [], e.__traceback__  # the program's own frames
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    where = f" (line {lines[-1]})" if lines else ""
    try:
        text = f"{type(e).__name__}: {e}"
    except BaseException:  # a hostile __str__
        text = type(e).__name__
    # Lone surrogates ('\ud800') cannot be encoded as UTF-8 JSON: escape them, keep the rest.
    return text[:MAX_ERROR_CHARS].encode("utf-8", "backslashreplace").decode("utf-8") + where


# -- the zygote -----------------------------------------------------------------------------------

# libc's fork with the GIL held, not os.fork: it skips Python's at-fork handlers (random reseeding,
# threading's bookkeeping), 0.4 of a child's 2 CPU ms here. Safe only because the zygote has one
# thread and holds no lock around the call.
_fork = ctypes.PyDLL(None).fork
_fork.restype = ctypes.c_int


def run_job(job: dict, settings: dict) -> tuple[dict, bytes]:
    """Fork, wait, kill, reap. Returns the header {"fatal": [kind, message] | None, "seconds": s,
    "clean": scratch emptied} and the child's raw result lines (decoded by the pool, not here)."""
    start = time.monotonic()
    read_end, write_end = os.pipe()
    try:  # room for every result line, so the child never blocks writing them
        capacity = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, job["max_output_bytes"])
    except OSError:  # above /proc/sys/fs/pipe-max-size for a non-root pool
        capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    pid = _fork()
    if pid == 0:
        try:
            os.close(read_end)
            unsafe_execute(job, write_end, settings)
        finally:
            os._exit(0)  # no interpreter teardown; grids without a result line count as crashed
    os.close(write_end)
    pidfd = os.pidfd_open(pid)  # readable once the child has exited (a zombie until waitpid)
    exited = bool(select.select([pidfd], [], [], max(0.0, start + job["timeout_s"] - time.monotonic()))[0])
    os.close(pidfd)
    for kill in (os.killpg, os.kill):  # the group: anything it started (killpg misses a child
        try:                            # killed before its setsid)
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    status = os.waitpid(pid, 0)[1]
    os.set_blocking(read_end, False)  # a killed straggler may hold the write end a moment longer
    try:
        data = os.read(read_end, job["max_output_bytes"] + 1)  # one read empties a pipe
    except BlockingIOError:
        data = b""
    os.close(read_end)
    if len(data) > job["max_output_bytes"] or (not exited and len(data) >= capacity):
        fatal = ["invalid_output", f"program output over {job['max_output_bytes']} bytes"]
    elif not exited:
        fatal = ["timeout", f"timed out after {job['timeout_s']:.2f}s"]
    else:
        fatal = _death(status)
    killed_all = settings["bpf"] is None and settings["uid"] is not None
    if killed_all:
        _in_child(_kill_uid, settings["uid"])  # without seccomp: what left the process group (setsid daemons)
    _reap_orphans(wait=killed_all)
    return {"fatal": fatal, "seconds": time.monotonic() - start, "clean": reset_scratch(settings["uid"])}, data


def reset_scratch(uid: int | None) -> bool:
    """Leave the scratch folder (the cwd) as every program must find it: only an empty JOB_FOLDER,
    mode 0700, owned by the children's uid, no user xattrs; True if so. Never raises. Looking is
    four reads; a folder made for each program cost ~0.3 CPU ms and file-system waits."""
    try:
        st = os.stat(JOB_FOLDER, follow_symlinks=False)
        if (os.listdir(".") == [JOB_FOLDER] and not os.listdir(JOB_FOLDER) and st.st_mode & 0o7777 == 0o700
                and st.st_uid == (uid or 0) and not any(x.startswith("user.") for x in os.listxattr(JOB_FOLDER))):
            return True
    except OSError:
        pass
    if not empty_folder("."):
        return False
    try:
        os.mkdir(JOB_FOLDER, 0o700)
        if uid is not None:
            os.chown(JOB_FOLDER, uid, uid)
        return True
    except OSError:
        return False


def _death(status: int) -> list[str] | None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return ["timeout", "CPU time limit exceeded"]
        why = " (by itself, the out-of-memory killer, or from outside)" if sig == signal.SIGKILL else ""
        return ["crashed", f"killed by {signal.Signals(sig).name}{why}"]
    code = os.WEXITSTATUS(status)
    return None if code == 0 else ["crashed", f"exited with status {code} before finishing"]


def _kill_uid(uid: int) -> None:
    """SIGKILL every process running as `uid`; called in a throwaway child, which becomes that user
    (kill(-1) spares the caller)."""
    os.setresuid(uid, uid, uid)
    if os.getresuid() == (uid, uid, uid) and uid != 0:  # never as root: that would reach everything
        os.kill(-1, signal.SIGKILL)


def _reap_orphans(wait: bool) -> None:
    """Reap what a child left behind (the zygote is their subreaper): possible only without seccomp.
    With `wait`, everything was sent SIGKILL: wait until the last is gone (a dying process hands its
    children to the zygote before it can be reaped, so none is missed)."""
    while True:
        try:
            if os.waitpid(-1, 0 if wait else os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def empty_folder(path: str) -> bool:
    """Remove everything inside `path`; True if it is empty after. Never raises and never recurses in
    Python: GNU find walks any depth holding one folder per level (a 3,000-deep tree: 0.2 s; Python's
    recursion limit broke the worker there). What cannot be removed (an immutable file) stays: False."""
    try:
        subprocess.run(["find", path, "-mindepth", "1", "-delete"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return not os.listdir(path)
    except OSError:
        return False


def zygote_main(settings_json: str) -> None:
    settings = orjson.loads(settings_json)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pool's to handle
    os.chdir(settings["workdir"])
    if settings["cpu"] is not None:
        os.sched_setaffinity(0, {settings["cpu"]})  # inherited by every child (see ExecutionPool's `pin`)
    confine.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of a child come here (see _reap_orphans)
    for name in settings["preload"]:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional module (scipy) that is not installed
            pass
    confine.prctl(confine.PR_SET_NO_NEW_PRIVS, 1)  # inherited; Landlock and seccomp need it
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Each layer is tried once in a throwaway child: one the kernel or container refuses is left
    # off (and the report says so) rather than crashing every program. The uid is one no account
    # uses, one per zygote (per live pid): kill(-1) from a program reaches only its own processes.
    uid = settings["uid_base"] + os.getpid() if settings["drop_uid"] and os.geteuid() == 0 else None
    settings["uid"] = uid if uid is not None and _in_child(confine.drop_privileges, uid) else None
    if settings["uid"] is not None:
        _reachable_imports()
    ruleset, abi = confine.landlock_ruleset(settings["workdir"]) if settings["landlock"] else (None, 0)
    if ruleset is not None and not _in_child(confine.apply_landlock, ruleset):
        ruleset = None
    bpf = confine.seccomp_filter() if settings["seccomp"] else None
    if bpf is not None and not _in_child(confine.apply_seccomp, bpf):
        bpf = None
    # With seccomp SysV IPC is refused already; a namespace per program would cost ~0.3 ms more.
    settings["ipc_namespace"] = bpf is None and settings["uid"] is not None and _in_child(confine.new_ipc_namespace)
    settings.update(ruleset=ruleset, bpf=bpf, zygote=os.getpid())  # what unsafe_execute applies
    if not reset_scratch(settings["uid"]):
        raise RuntimeError(f"cannot make the scratch folder {settings['workdir']}/{JOB_FOLDER}")
    gc.freeze()  # children's collections skip the warm heap: fewer copy-on-write faults
    with open("/proc/self/statm") as f:
        address_space_mb = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") >> 20
    report = {"uid": settings["uid"], "ipc_namespace": settings["ipc_namespace"], "seccomp": bpf is not None,
              "landlock_abi": abi if ruleset is not None else 0, "address_space_mb": address_space_mb,
              "preloaded": sorted(set(settings["preload"]) & set(sys.modules))}
    write_all(1, frame(orjson.dumps(report)))
    while (job := read_frame(0, 1 << 30)) is not None:
        header, data = run_job(orjson.loads(job), settings)
        nonce = read_exact(0, NONCE_BYTES)  # sent with the job, read only now that the child is dead
        if nonce is None:
            return
        write_all(1, frame(nonce + orjson.dumps(header) + b"\n" + data))


def _reachable_imports() -> None:
    """After the uid drop a child cannot walk into folders only root may enter (the standard library
    may sit under /root, mode 0700), so modules not preloaded would not import. A descriptor opened
    here, as root, reaches each import folder directly: /proc/self/fd/N resolves without the walk."""
    moved = {}
    for i, entry in enumerate(sys.path):
        if entry and os.path.isdir(entry):
            moved[entry] = sys.path[i] = f"/proc/self/fd/{os.open(entry, os.O_PATH | os.O_DIRECTORY)}"
    for module in list(sys.modules.values()):  # packages already loaded find submodules by __path__
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [next((moved[e] + p[len(e):] for e in moved if p.startswith(e + "/")), p) for p in path]
    sys.path_importer_cache.clear()


def _in_child(step, *args) -> bool:
    """Runs `step(*args)` in a throwaway child; True if it returned."""
    pid = os.fork()
    if pid == 0:
        try:
            step(*args)
            os._exit(0)
        finally:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0
