"""ExecutionPool on real ARC tasks: results, output normalisation, and hostile programs, one property
per test. Real zygotes and real forks throughout (Linux only, like the module)."""

import os
import signal
import socket
import threading
import time

import numpy as np
import orjson
import pytest

from arc_induct.execution import ExecutionPool, Limits, normalise
from arc_induct.tasks import by_size, load_tasks

LIMITS = Limits(timeout_s=0.5, max_timeout_s=1.0, memory_mb=512)
IDENTITY = "def transform(grid):\n    return grid\n"


@pytest.fixture(scope="module")
def training():
    return {t.id: t for t in load_tasks("arc-agi-1/training")}


@pytest.fixture(scope="module")
def task(training):
    return by_size(list(training.values()))[0]  # the smallest real task: fast to run


@pytest.fixture(scope="module")
def pool():
    with ExecutionPool(2, LIMITS) as p:
        yield p


def test_correct_program_is_ok_and_right_on_every_grid(pool, training):
    task = training["67a3c6ac"]  # each output is its input mirrored left-right
    r = pool.run("import numpy as np\ndef transform(grid):\n    return np.fliplr(grid)\n", task)
    assert r.status == "ok" and r.train_accuracy == 1.0 and r.test_correct == (True,)
    assert r.task_id == task.id and r.test_outputs[0] == task.test_outputs[0]


def test_numpy_output_becomes_plain_ints(pool, task):
    r = pool.run("import numpy as np\ndef transform(grid):\n    return np.array(grid, dtype=np.int8)\n", task)
    assert r.status == "ok" and r.train_outputs[0] == task.train[0].input
    assert all(type(v) is int for row in r.train_outputs[0] for v in row)


@pytest.mark.parametrize(
    "value, fault",
    [
        (np.zeros((3, 3), dtype=bool), "bool"),
        (np.ones((2, 2)) / 2, "float"),
        ([[1, 2], [3]], "ragged"),
        (np.zeros((31, 3), dtype=int), "shape (31, 3)"),
        ([[0] * 3] * 31, "31 rows"),
        ([[1, 10]], "allowed 0..9"),
        ([[True]], "bool"),
        (np.zeros((3,), dtype=int), "shape (3,)"),
        ([1, 2, 3], "row 0 is int"),
    ],
)
def test_normalise_refuses_bad_grids_with_the_reason(value, fault):
    grid, why = normalise(value)
    assert grid is None and fault in why


def test_normalise_accepts_tuples_and_numpy_scalars():
    grid, why = normalise(((np.int64(1), 2), [np.uint8(3), 4]))
    assert why is None and grid == [[1, 2], [3, 4]] and type(grid[1][0]) is int


def test_list_subclass_output_becomes_plain_lists():
    class Grid(list):
        pass

    grid, why = normalise(Grid([Grid([1, 2])]))
    assert why is None and type(grid) is list and type(grid[0]) is list


def test_huge_output_is_refused_without_converting_it(pool, task):
    r = pool.run("import numpy as np\ndef transform(grid):\n    return np.zeros((20000, 20000), dtype=np.uint8)\n", task)
    assert r.status == "invalid_output" and "(20000, 20000)" in r.train_errors[0]


def test_infinite_loop_times_out(pool, task):
    t0 = time.monotonic()
    r = pool.run("def transform(grid):\n    while True:\n        pass\n", task)
    assert r.status == "timeout" and time.monotonic() - t0 < LIMITS.max_timeout_s + 2


def test_program_ignoring_sigterm_still_times_out(pool, task):
    code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ndef transform(grid):\n    while True:\n        pass\n"
    assert pool.run(code, task).status == "timeout"


def test_program_catching_baseexception_around_its_loop_still_times_out(pool, task):
    code = ("def transform(grid):\n    while True:\n        try:\n            while True:\n                pass\n"
            "        except BaseException:\n            pass\n")
    assert pool.run(code, task).status == "timeout"


def test_a_programs_own_alarm_kills_only_that_program(pool, task):
    """The zygote times programs with SIGALRM; a program's own alarm still gets the default action,
    and the zygote goes on timing the next program."""
    code = "import signal, time\ndef transform(grid):\n    signal.setitimer(signal.ITIMER_REAL, 0.05)\n    time.sleep(2)\n    return grid\n"
    r = pool.run(code, task)
    assert r.status == "crashed" and "SIGALRM" in r.train_errors[0]
    assert pool.run("def transform(grid):\n    while True:\n        pass\n", task).status == "timeout"
    assert pool.run(IDENTITY, task).status == "ok"


def test_a_late_alarm_does_not_kill_the_zygote(task):
    """An alarm that lands after the child it timed has exited (a race the zygote cannot close)
    is ignored: sent here from outside to idle zygotes, it must not restart them."""
    with ExecutionPool(2) as p:
        for pid in p.pids:
            os.kill(pid, signal.SIGALRM)
        time.sleep(0.2)
        assert [p.run(IDENTITY, task).status for _ in range(4)] == ["ok"] * 4
        assert p.restarts == 0


def test_memory_growth_is_stopped_as_memory(task):
    with ExecutionPool(1, Limits(timeout_s=5, memory_mb=300)) as p:
        r = p.run("def transform(grid):\n    hog = []\n    while True:\n        hog.append(bytearray(1 << 24))\n", task)
    assert r.status == "memory" and "MemoryError" in r.train_errors[0]


def test_fork_bomb_makes_no_processes(pool, task):
    code = "import os\ndef transform(grid):\n    while True:\n        os.fork()\n"
    r = pool.run(code, task)
    if pool.confinement["seccomp"]:
        assert r.status == "exception" and "Resource temporarily unavailable" in r.train_errors[0]
    else:  # then only the timeout's process-group kill stops it
        assert r.status == "timeout"


def test_subprocess_cannot_start(pool, task):
    code = "import subprocess\ndef transform(grid):\n    subprocess.run(['true'])\n    return grid\n"
    r = pool.run(code, task)
    assert r.status == ("exception" if pool.confinement["seccomp"] else "ok")


def test_os_exit_is_crashed(pool, task):
    r = pool.run("import os\ndef transform(grid):\n    os._exit(0)\n", task)
    assert r.status == "crashed" and "before finishing" in r.train_errors[0]


def test_segfault_is_crashed(pool, task):
    r = pool.run("import ctypes\ndef transform(grid):\n    return ctypes.string_at(0)\n", task)
    assert r.status == "crashed" and "SIGSEGV" in r.train_errors[0]


def test_deep_recursion_after_raising_the_limit_fails_cleanly(pool, task):
    # Each level passes through C (sorted's key), so the C stack overflows: SIGSEGV, not RecursionError.
    code = ("import sys\nsys.setrecursionlimit(10 ** 7)\n"
            "def down(n):\n    return sorted([n], key=down)\ndef transform(grid):\n    return down(0)\n")
    r = pool.run(code, task)
    assert r.status == "crashed" and "SIGSEGV" in r.train_errors[0]
    assert pool.run(IDENTITY, task).status == "ok"


def test_stdout_and_stderr_floods_do_not_block(pool, task):
    code = ("import sys\ndef transform(grid):\n    for _ in range(2000):\n"
            "        print('x' * 5000)\n        sys.stderr.write('y' * 5000)\n    return grid\n")
    assert pool.run(code, task).status == "ok"


def test_threads_left_running_do_not_hold_the_result(pool, task):
    code = ("import threading, time\ndef transform(grid):\n"
            "    threading.Thread(target=time.sleep, args=(60,)).start()\n    return grid\n")
    t0 = time.monotonic()
    assert pool.run(code, task).status == "ok" and time.monotonic() - t0 < 0.5


def test_files_written_are_gone_for_the_next_program(task):
    with ExecutionPool(1, LIMITS) as p:  # one worker: both programs share its scratch folder
        write = "def transform(grid):\n    open('left.txt', 'w').write('x')\n    return grid\n"
        look = "import os\ndef transform(grid):\n    return [[int(os.path.exists('left.txt'))]]\n"
        assert p.run(write, task).status == "ok"
        assert p.run(look, task).train_outputs[0] == [[0]]


def test_writes_outside_the_scratch_folder_are_refused(pool, task, tmp_path):
    target = tmp_path / "escaped.txt"
    if not pool.confinement["landlock"]:
        pytest.skip("this kernel has no Landlock; absolute paths are not confined (see module docstring)")
    r = pool.run(f"def transform(grid):\n    open({str(target)!r}, 'w').write('x')\n    return grid\n", task)
    assert r.status == "exception" and not target.exists()


def test_socket_connect_reaches_nothing(pool, task):
    if not pool.confinement["seccomp"]:
        pytest.skip("no seccomp filter on this machine; sockets are not refused (see module docstring)")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = (f"import socket\ndef transform(grid):\n    socket.create_connection(('127.0.0.1', {port}), timeout=0.2)\n"
            "    return grid\n")
    r = pool.run(code, task)
    with pytest.raises(TimeoutError):  # nobody knocked
        server.accept()
    server.close()
    assert r.status == "exception"


def test_monkeypatching_numpy_and_modules_does_not_leak(task):
    with ExecutionPool(1, LIMITS) as p:  # one worker, so the second program follows the first there
        patch = ("import collections, numpy\nnumpy.array = None\ncollections.Counter = None\n"
                 "def transform(grid):\n    return grid\n")
        use = ("import numpy as np\nfrom collections import Counter\n"
               "def transform(grid):\n    return np.array(grid)[:len(Counter([1]))]\n")
        assert p.run(patch, task).status == "ok"
        assert p.run(use, task).status == "ok"


def test_program_breaking_builtins_still_gets_its_results(pool, task):
    code = "import builtins\ndef transform(grid):\n    builtins.len = builtins.isinstance = None\n    return grid\n"
    r = pool.run(code, task)
    assert r.status == "ok" and r.train_outputs[0] == task.train[0].input


def test_syntax_error(pool, task):
    r = pool.run("def transform(grid)\n    return grid\n", task)
    assert r.status == "syntax_error" and "line 1" in r.train_errors[0]


def test_missing_transform_is_no_function(pool, task):
    r = pool.run("def helper(grid):\n    return grid\n", task)
    assert r.status == "no_function" and "transform" in r.test_errors[0]


def test_fallback_name_solve_is_used(pool, task):
    assert pool.run("def solve(grid):\n    return grid\n", task).status == "ok"


def test_exception_names_its_line(pool, task):
    r = pool.run("def transform(grid):\n    x = 1\n    return grid[99]\n", task)
    assert r.status == "exception" and r.train_errors[0].startswith("IndexError") and "(line 3)" in r.train_errors[0]


def test_imap_keeps_input_order(pool, training):
    tasks = list(training.values())[:40]
    results = list(pool.imap((IDENTITY, t) for t in tasks))
    assert [r.task_id for r in results] == [t.id for t in tasks]


def test_imap_yields_submitted_results_before_an_input_error(pool, task):
    def items():
        for _ in range(3):
            yield IDENTITY, task
        raise ValueError("bad row 4")

    got = []
    with pytest.raises(ValueError, match="bad row 4"):
        for r in pool.imap(items()):
            got.append(r.status)
    assert got == ["ok"] * 3


def test_jobs_too_big_to_queue_in_the_pipe_run_in_order(pool, task):
    """A job bigger than the zygote's pipe is not queued behind a running one but held until the
    zygote is free; held and queued jobs alike come back whole and in order."""
    big = "# " + "x" * (80 << 10) + "\n" + IDENTITY
    codes = [big if i % 3 else IDENTITY for i in range(9)]
    results = list(pool.imap((c, task) for c in codes))
    assert [r.status for r in results] == ["ok"] * 9
    assert all(r.train_outputs == tuple(p.input for p in task.train) for r in results)


def test_unencodable_program_fails_its_future_only(task):
    with ExecutionPool(1) as p:  # one worker: had its thread died, the next job would never run
        with pytest.raises(TypeError):  # orjson refuses a lone surrogate
            p.submit("def transform(grid):\n    return grid  # \ud800\n", task).result(timeout=60)
        assert p.submit(IDENTITY, task).result(timeout=60).status == "ok"


def test_worker_killed_mid_run_loses_nothing_else(task):
    slow = "import time\ndef transform(grid):\n    time.sleep(0.5)\n    return grid\n"
    with ExecutionPool(2, Limits(timeout_s=3)) as p:
        futures = [p.submit(slow, task) for _ in range(2)] + [p.submit(IDENTITY, task) for _ in range(6)]
        time.sleep(0.4)  # each zygote is inside one of the slow programs now
        os.kill(p.pids[0], signal.SIGKILL)
        statuses = [f.result(timeout=60).status for f in futures]
        assert statuses.count("crashed") == 1 and statuses.count("ok") == 7
        assert p.restarts == 1 and p.run(IDENTITY, task).status == "ok"


def _tree_rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return total


def test_memory_stays_bounded_over_many_hostile_programs(task):
    hog = ("import numpy as np\nKEEP = []\ndef transform(grid):\n"
           "    KEEP.append(np.ones((4000, 4000), dtype=np.uint8))\n    return grid\n")
    with ExecutionPool(2, Limits(timeout_s=2, memory_mb=512)) as p:
        list(p.imap((hog, task) for _ in range(20)))
        before = _tree_rss_kb([os.getpid(), *p.pids])
        statuses = {r.status for r in p.imap((hog, task) for _ in range(300))}
        after = _tree_rss_kb([os.getpid(), *p.pids])
    assert statuses == {"ok"}  # each program held 16 MB per grid it ran
    assert after - before < 20_000  # KB: nothing of them stays behind in the pool's processes


def test_pinned_zygotes_each_keep_one_core_and_their_children_inherit_it(task):
    cores = sorted(os.sched_getaffinity(0))
    with ExecutionPool(min(2, len(cores))) as p:
        assert [os.sched_getaffinity(pid) for pid in p.pids] == [{c} for c in cores[:len(p.pids)]]
        code = "import os\ndef transform(grid):\n    return [[len(os.sched_getaffinity(0))]]\n"
        assert p.run(code, task).train_outputs[0] == [[1]]
    with ExecutionPool(2, pin=False) as p:
        assert all(os.sched_getaffinity(pid) == set(cores) for pid in p.pids)
    with ExecutionPool(len(cores) + 1) as p:  # more workers than cores: the scheduler places them
        assert all(os.sched_getaffinity(pid) == set(cores) for pid in p.pids)


def test_timeout_scales_with_grids_and_is_capped():
    limits = Limits(timeout_s=0.5, max_timeout_s=2.0)
    assert limits.timeout_for(2) == 1.0 and limits.timeout_for(10) == 2.0


def test_pool_is_usable_from_threads(pool, task):
    out = []
    threads = [threading.Thread(target=lambda: out.append(pool.run(IDENTITY, task).status)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["ok"] * 6


def _write_rows(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def test_execute_cli_writes_each_row_with_its_result_in_order(tmp_path, training, capsys):
    from arc_induct.cli import main

    ids = list(training)[:12]
    rows = [{"task_id": t, "code": IDENTITY if i % 3 else "def f(", "attempt_id": i} for i, t in enumerate(ids)]
    _write_rows(tmp_path / "p.jsonl", rows)
    out = tmp_path / "r.jsonl"
    assert main(["execute", str(tmp_path / "p.jsonl"), "--dataset", "arc-agi-1/training", "--out", str(out),
                 "--workers", "2"]) == 0
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(g["task_id"], g["attempt_id"]) for g in got] == [(r["task_id"], r["attempt_id"]) for r in rows]
    assert [g["status"] for g in got] == ["syntax_error" if i % 3 == 0 else "ok" for i in range(12)]
    assert len(got[1]["train_correct"]) == len(training[ids[1]].train) and got[1]["test_correct"] is not None
    assert "executed 12 programs" in capsys.readouterr().out
    # p once: each row carries the hard-coded probability, as `vote` would compute it from the row.
    from arc_induct.transduction import probability_from_outputs
    for g in got:
        assert g["hardcoded_probability"] == probability_from_outputs(g["code"], training[g["task_id"]], g["test_outputs"])


def test_execute_cli_unknown_task_names_the_line_and_keeps_earlier_rows(tmp_path, training, capsys):
    from arc_induct.cli import main

    ids = list(training)[:5]
    _write_rows(tmp_path / "p.jsonl", [{"task_id": t, "code": IDENTITY} for t in ids] + [{"task_id": "nope", "code": "x"}])
    out = tmp_path / "r.jsonl"
    assert main(["execute", str(tmp_path / "p.jsonl"), "--dataset", "arc-agi-1/training", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 6" in err and "'nope'" in err
    assert len(out.read_bytes().splitlines()) == 5


def test_leaving_the_pool_by_an_exception_cancels_queued_programs(task):
    slow = "import time\ndef transform(grid):\n    time.sleep(0.3)\n    return grid\n"
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ExecutionPool(1, Limits(timeout_s=2)) as p:
        futures = [p.submit(slow, task) for _ in range(20)]
        time.sleep(0.1)
        raise KeyboardInterrupt
    assert sum(f.cancelled() for f in futures) >= 18 and time.monotonic() - t0 < 5


def test_memory_cap_below_the_interpreter_is_one_clear_error():
    from arc_induct.execution import LimitsError

    with pytest.raises(LimitsError, match="memory_mb=20 leaves no room"):
        ExecutionPool(1, Limits(memory_mb=20))


def test_execute_cli_bad_json_names_the_line(tmp_path, training, capsys):
    from arc_induct.cli import main

    (tmp_path / "p.jsonl").write_bytes(orjson.dumps({"task_id": next(iter(training)), "code": IDENTITY}) + b"\n{oops\n")
    assert main(["execute", str(tmp_path / "p.jsonl"), "--dataset", "arc-agi-1/training",
                 "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "line 2 is not valid JSON" in capsys.readouterr().err
