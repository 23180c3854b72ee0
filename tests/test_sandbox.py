"""Hostile programs against the zygote and its confined children, on a real ARC task, each run with
every confinement layer on and with each layer off in turn (confine.py). Each hostile program is
followed by two right programs on the same worker; a case is judged on their rows and statuses,
the hostile program's status and grids, processes left behind and files outside scratch.

Safety (these run as root on a shared machine): every layer configuration keeps at least two of
uid drop / Landlock / seccomp, and a test that could reach other processes (kill(-1)) first checks
that the layer containing it is active, with a harmless signal (SIGURG, ignored by default).
"""

import ctypes
import fcntl
import os
import signal
import socket
import struct

import pytest

from arc_induct import confine
from arc_induct.execution import Confinement, ExecutionPool, Limits
from arc_induct.grids import grid_fault
from arc_induct.sandbox import empty_folder, normalise
from arc_induct.store import STATUSES
from arc_induct.tasks import load_tasks

import numpy as np

LIMITS = Limits(timeout_s=1.0, max_timeout_s=2.0, memory_mb=768)
FAST = ("numpy",)  # the layer pools skip scipy: it adds ~1.5 s to each start and nothing here needs it
LAYERS = {
    "all layers": Confinement(preload=FAST),
    "no uid drop": Confinement(drop_uid=False, preload=FAST),
    "no landlock": Confinement(landlock=False, preload=FAST),
    "no seccomp": Confinement(seccomp=False, preload=FAST),
}
RIGHT = ("import numpy as np\ndef transform(grid):\n    return np.fliplr(grid)\n",
         "def transform(grid):\n    return [row[::-1] for row in grid]\n")


@pytest.fixture(scope="module")
def task():
    return next(t for t in load_tasks("arc-agi-1/training") if t.id == "67a3c6ac")  # outputs: inputs mirrored


@pytest.fixture(scope="module", params=list(LAYERS))
def pool(request):
    with ExecutionPool(1, LIMITS, confinement=LAYERS[request.param]) as p:
        yield p


def survivors(pool) -> list[tuple]:
    """Processes a program of this pool left behind: any running as its children's uids, or below
    one of its zygotes."""
    zygotes, found = set(pool.pids), []
    uids = {pool.confinement_settings.uid_base + z for z in zygotes}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in zygotes:
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        uid, ppid = int(fields["Uid"].split()[0]), int(fields["PPid"])
        if uid in uids or ppid in zygotes:
            found.append((int(name), fields["Name"].strip(), fields["State"].strip(), uid, ppid))
    return found


def hostile_then_right(pool, code, task, limits_ok=True):
    """Run `code`, then two right programs on the same (only) worker; check what must always hold."""
    restarts = pool.restarts
    r = pool.run(code, task)
    assert r.status in STATUSES
    assert all(o is None or grid_fault(o) is None for o in r.train_outputs + r.test_outputs)
    for right in RIGHT:
        after = pool.run(right, task)
        assert after.status == "ok" and all(after.train_correct) and after.test_correct == (True,)
    assert survivors(pool) == []
    return r, pool.restarts - restarts


def test_deep_tree_in_scratch_does_not_break_the_worker(pool, task):
    code = ("import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n"
            "def transform(grid):\n    return grid\n")
    r, restarts = hostile_then_right(pool, code, task)
    assert r.status in ("ok", "timeout") and restarts == 0  # emptied without recursion, no new zygote


def test_immutable_file_in_scratch_costs_one_fresh_folder_at_most(pool, task):
    code = ("import fcntl, os, struct\ndef transform(grid):\n    fd = os.open('f', os.O_CREAT | os.O_WRONLY)\n"
            "    fcntl.ioctl(fd, 0x40086602, struct.pack('i', 0x10))\n    return grid\n")  # FS_IOC_SETFLAGS, immutable
    try:
        r, restarts = hostile_then_right(pool, code, task)
    finally:
        _unfreeze(pool.root)
    if pool.confinement["uid"] is not None:
        assert r.status == "exception" and restarts == 0  # no CAP_LINUX_IMMUTABLE after the uid drop
    elif r.train_errors[0] is None:  # root froze a file its zygote cannot remove: one new zygote, fresh folder
        assert restarts == 1


def _unfreeze(root):
    """Clear the immutable flag on anything a test program froze, so the folder can go."""
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0))
                os.close(fd)
            except OSError:
                pass


def test_lines_written_into_its_own_result_pipe_are_decoded_as_untrusted_data(pool, task):
    code = ("import os\ndef transform(grid):\n    for fd in range(3, 64):\n        try:\n"
            "            if os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
            "                os.write(fd, b'[0, [[1]], null, [\"list\"]]\\n[\"fatal\", [\"x\"], \"y\"]\\n'\n"
            "                             b'[0, [[1]], null, \"banana\"]\\n')\n"
            "        except OSError:\n            pass\n    return grid\n")
    r, _ = hostile_then_right(pool, code, task)
    assert r.status == "invalid_output" and "unreadable result line" in r.train_errors[0]


@pytest.mark.parametrize("name, code", [
    ("iter answers twice", "class G(list):\n    n = 0\n    def __iter__(self):\n        G.n += 1\n"
     "        return iter([[1]] if G.n == 1 else [[1.5, 'x']])\ndef transform(grid):\n    return G([[1]])\n"),
    ("len hides 31 columns", "class R(list):\n    def __len__(self):\n        return 3\n"
     "def transform(grid):\n    return [R([1] * 31)]\n"),
    ("checker patched in sys.modules", "import sys\nsys.modules['arc_induct.grids'].grid_fault = lambda g: None\n"
     "sys.modules['arc_induct.sandbox'].grid_fault = lambda g: None\ndef transform(grid):\n    return [[1.5]]\n"),
    ("builtins edited by another name", "__builtins__.isinstance = lambda *a: True\n"
     "__builtins__.type = lambda *a: int\ndef transform(grid):\n    return [[1.5, 'x']]\n"),
])
def test_non_grids_never_come_back_ok(pool, task, name, code):
    r, _ = hostile_then_right(pool, code, task)
    assert r.status == "invalid_output" or (r.status == "ok" and r.train_outputs[0] == [[1]]), name


def test_forged_reply_to_the_zygote_is_refused_or_detected(task):
    code = ("import os, struct\ndef transform(grid):\n    body = b'{\"fatal\": null, \"seconds\": 0, \"clean\": true}'\n"
            "    fd = os.open(f'/proc/{os.getppid()}/fd/1', os.O_WRONLY)\n"
            "    os.write(fd, struct.pack('<I', 16 + len(body)) + b'0' * 16 + body + struct.pack('<I', 0))\n"
            "    return grid\n")
    # uid drop and Landlock each stop the write; with both off (seccomp only: harmless here, the
    # program writes only to its own zygote) the nonce finds it out.
    for layers in (Confinement(preload=FAST), Confinement(drop_uid=False, landlock=False, preload=FAST)):
        with ExecutionPool(1, LIMITS, confinement=layers) as p:
            r, _ = hostile_then_right(p, code, task)
            if layers.drop_uid:
                assert r.status == "exception" and "Permission" in r.train_errors[0]
            else:
                assert r.status == "invalid_output" and "forged" in r.train_errors[0]


def test_signals_reach_only_the_programs_own_processes(pool, task):
    assert pool.confinement["uid"] is not None or pool.confinement["landlock_abi"] >= 6, \
        "every layer set here keeps the uid drop or Landlock signal scoping"
    received = []
    old = signal.signal(signal.SIGURG, lambda *_: received.append(1))
    try:
        r, restarts = hostile_then_right(pool, "import os, signal\ndef transform(grid):\n    os.kill(-1, signal.SIGURG)\n"
                                               "    return grid\n", task)
    finally:
        signal.signal(signal.SIGURG, old)
    assert received == [] and restarts == 0
    r, restarts = hostile_then_right(pool, "import os\ndef transform(grid):\n    os.kill(os.getppid(), 9)\n    return grid\n", task)
    assert r.status == "exception" and restarts == 0
    if pool.confinement["uid"] is None:
        pytest.skip("kill(-1, SIGKILL) is tried only where the uid drop contains it (SIGURG above shows scoping)")
    r, restarts = hostile_then_right(pool, "import os\ndef transform(grid):\n    os.kill(-1, 9)\n    return grid\n", task)
    assert restarts == 0 and os.getpid() > 0  # we are alive, and so is the zygote


def test_no_capabilities_after_the_uid_drop(pool, task, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("x")
    os.chmod(tmp_path, 0o755)
    before = os.stat(target)
    code = (f"import os\nPATH = {str(target)!r}\n"
            "def transform(grid):\n    done = 0\n"
            "    for attempt in (lambda: os.nice(-20), lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)),\n"
            "                    lambda: os.chmod(PATH, 0o777), lambda: os.utime(PATH, (0, 0)),\n"
            "                    lambda: os.setxattr(PATH, 'user.x', b'1')):\n"
            "        try:\n            attempt()\n            done += 1\n        except OSError:\n            pass\n"
            "    return [[done]]\n")
    r, _ = hostile_then_right(pool, code, task)
    if pool.confinement["uid"] is None:
        pytest.skip("without the uid drop the child keeps root's capabilities (confine.py says so)")
    assert r.train_outputs[0] == [[0]]
    assert os.stat(target).st_mode == before.st_mode and os.stat(target).st_mtime == before.st_mtime
    assert "user.x" not in os.listxattr(target)


def test_memfd_is_refused_or_bounded_by_open_files_times_file_size(pool, task):
    code = ("import os\ndef transform(grid):\n    held, chunk = 0, b'x' * (1 << 20)\n    try:\n"
            "        while held < 1300 << 20:\n            fd = os.memfd_create('m')\n            try:\n"
            "                for _ in range(64):\n                    os.write(fd, chunk)\n                    held += 1 << 20\n"
            "            except OSError:\n                pass\n    except OSError:\n        pass\n"
            "    return [[min(9, held >> 26)]]\n")  # 64 MB units
    with ExecutionPool(1, Limits(timeout_s=2, memory_mb=768, file_bytes=4 << 20), confinement=pool.confinement_settings) as p:
        r, _ = hostile_then_right(p, code, task)
    if pool.confinement["seccomp"]:
        assert r.train_outputs[0] == [[0]]  # memfd_create refused
    else:  # at most 64 open files x 4 MB = 256 MB, whatever the program tries
        assert r.status == "ok" and r.train_outputs[0][0][0] <= 4


def test_sysv_shared_memory_does_not_outlive_the_program(pool, task):
    make = ("import ctypes\nlibc = ctypes.CDLL(None)\ndef transform(grid):\n"
            "    return [[int(libc.shmget(0x4152430C, 4096, 0o1666) >= 0)]]\n")
    look = ("import ctypes\nlibc = ctypes.CDLL(None)\ndef transform(grid):\n"
            "    return [[int(libc.shmget(0x4152430C, 0, 0o666) >= 0)]]\n")
    hostile_then_right(pool, make, task)
    r, _ = hostile_then_right(pool, look, task)
    with open("/proc/sysvipc/shm") as f:
        leaked = [line for line in f if line.split()[0] == str(0x4152430C)]
    if leaked:  # clean up the host before failing
        ctypes.CDLL(None).shmctl(int(leaked[0].split()[1]), 0, None)
    assert r.train_outputs[0] == [[0]] and not leaked


def test_xattr_on_scratch_is_gone_for_the_next_program(pool, task):
    hostile_then_right(pool, "import os\ndef transform(grid):\n    os.setxattr('.', 'user.arc', b'1')\n    return grid\n", task)
    r, _ = hostile_then_right(pool, "import os\ndef transform(grid):\n    return [[len(os.listxattr('.'))]]\n", task)
    assert r.train_outputs[0] == [[0]]


def test_threads_are_capped_after_the_uid_drop(pool, task):
    code = ("import threading\ndef transform(grid):\n    threading.stack_size(64 << 10)\n    ev, n = threading.Event(), 0\n"
            "    try:\n        for _ in range(3000):\n            threading.Thread(target=ev.wait, daemon=True).start()\n"
            "            n += 1\n    except RuntimeError:\n        pass\n    ev.set()\n    return [[min(9, n // 300)]]\n")
    r, _ = hostile_then_right(pool, code, task)
    if pool.confinement["uid"] is None:
        pytest.skip("RLIMIT_NPROC binds only a non-root user: the cap needs the uid drop")
    assert r.train_outputs[0] == [[confine.MAX_THREADS // 300]]


def test_host_unix_socket_by_path_is_unreachable(pool, task, tmp_path):
    path = str(tmp_path / "host.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    server.settimeout(0.2)
    code = (f"import socket\ndef transform(grid):\n    s = socket.socket(socket.AF_UNIX)\n    s.connect({path!r})\n"
            "    return grid\n")
    r, _ = hostile_then_right(pool, code, task)
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert r.status == "exception"


def test_daemons_and_fork_bombs_leave_nothing_behind(pool, task):
    daemon = ("import os, time\ndef transform(grid):\n    if os.fork() == 0:\n        os.setsid()\n"
              "        if os.fork() == 0:\n            time.sleep(30)\n        os._exit(0)\n    return grid\n")
    r, _ = hostile_then_right(pool, daemon, task)  # survivors() == [] is checked there
    if pool.confinement["seccomp"]:
        assert r.status == "exception" and "Resource temporarily unavailable" in r.train_errors[0]
    bomb = "import os\ndef transform(grid):\n    while True:\n        os.fork()\n"
    if not pool.confinement["seccomp"] and pool.confinement["uid"] is None:
        pytest.skip("a fork bomb without seccomp is contained only by the uid drop (RLIMIT_NPROC, kill by uid)")
    r, _ = hostile_then_right(pool, bomb, task)
    assert r.status in ("exception", "timeout")


def test_writes_outside_scratch_are_refused(pool, task, tmp_path):
    target = tmp_path / "escaped.txt"
    shm = f"/dev/shm/arc-escaped-{os.getpid()}"
    code = (f"def transform(grid):\n    for path in ({str(target)!r}, {shm!r}):\n        try:\n"
            "            open(path, 'w').write('x')\n        except OSError:\n            pass\n    return grid\n")
    hostile_then_right(pool, code, task)
    escaped_shm = os.path.exists(shm)
    if escaped_shm:
        os.unlink(shm)
    assert not target.exists()
    if pool.confinement["landlock_abi"]:
        assert not escaped_shm  # world-writable folders are closed only by Landlock (confine.py says so)


def test_subprocess_cannot_start(pool, task):
    if not pool.confinement["seccomp"]:
        pytest.skip("without seccomp a program may start processes; only its uid and timeout bound them")
    r, _ = hostile_then_right(pool, "import subprocess\ndef transform(grid):\n    subprocess.run(['true'])\n    return grid\n", task)
    assert r.status == "exception"


def test_misclassified_failures(pool, task):
    r, _ = hostile_then_right(pool, "def transform(grid):\n    raise ValueError('\\ud800')\n", task)
    assert r.status == "exception" and all("ValueError" in e for e in r.train_errors)
    r, _ = hostile_then_right(pool, "import mmap\ndef transform(grid):\n    return mmap.mmap(-1, 1 << 40)\n", task)
    assert r.status == "memory"


def test_report_names_each_layer(pool):
    c, settings = pool.confinement, pool.confinement_settings
    assert (c["uid"] is not None) == (settings.drop_uid and os.geteuid() == 0)
    assert (c["landlock_abi"] > 0) <= settings.landlock and c["seccomp"] <= settings.seccomp
    abi = ctypes.CDLL(None).syscall(444, None, 0, 1)
    if settings.landlock and abi > 0:
        assert c["landlock_abi"] == abi


def test_empty_folder_removes_a_deep_tree_without_recursion(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(1500):  # deeper than PATH_MAX allows by path, and than Python's recursion limit (1000)
        os.mkdir("d", dir_fd=fd)
        new = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(fd)
    assert empty_folder(str(tmp_path)) and os.listdir(tmp_path) == []


def test_empty_folder_never_raises():
    assert empty_folder("/nonexistent-folder-arc") is False


@pytest.mark.parametrize("value, fault", [
    (np.zeros((3, 3), dtype=bool), "bool"), (np.ones((2, 2)) / 2, "float"), ([[1, 2], [3]], "ragged"),
    (np.zeros((31, 3), dtype=int), "shape (31, 3)"), ([[0] * 3] * 31, "31 rows"), ([[1, 10]], "allowed 0..9"),
    ([[True]], "bool"), (np.zeros((3,), dtype=int), "shape (3,)"), ([1, 2, 3], "row 0 is int"),
])
def test_normalise_refuses_bad_grids_with_the_reason(value, fault):
    grid, why = normalise(value)
    assert grid is None and fault in why


def test_normalise_accepts_tuples_numpy_scalars_and_list_subclasses():
    class Grid(list):
        pass

    grid, why = normalise(((np.int64(1), 2), Grid([np.uint8(3), 4])))
    assert why is None and grid == [[1, 2], [3, 4]] and type(grid[1]) is list and type(grid[1][0]) is int
