"""ExecutionPool on real ARC tasks: results, output normalisation, and hostile programs, one property
per test. Real zygotes and real forks throughout (Linux only, like the module)."""

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest

from arc_induct.execution import Confinement, ExecutionPool, Limits, LimitsError, decode
from arc_induct.tasks import by_size, load_tasks

LIMITS = Limits(timeout_s=0.5, max_timeout_s=1.0, memory_mb=768)
FAST = Confinement(preload=("numpy",))  # for the tests' own pools: scipy adds ~1.5 s to each start
IDENTITY = "def transform(grid):\n    return grid\n"


@pytest.fixture(scope="module")
def training():
    return {t.id: t for t in load_tasks("arc-agi-1/training")}


@pytest.fixture(scope="module")
def task(training):
    return by_size(list(training.values()))[0]  # the smallest real task: fast to run


@pytest.fixture(scope="module")
def pool():
    with ExecutionPool(2, LIMITS) as p:  # the shipped preload list, scipy included when installed
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


def test_huge_output_is_refused_without_converting_it(pool, task):
    r = pool.run("import numpy as np\ndef transform(grid):\n    return np.zeros((5000, 5000), dtype=np.uint8)\n", task)
    assert r.status == "invalid_output" and "(5000, 5000)" in r.train_errors[0]


def test_infinite_loop_times_out(pool, task):
    t0 = time.monotonic()
    r = pool.run("def transform(grid):\n    while True:\n        pass\n", task)
    assert r.status == "timeout" and time.monotonic() - t0 < LIMITS.max_timeout_s + 5  # slack: a loaded machine


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


def test_memory_growth_is_stopped_as_memory(task):
    with ExecutionPool(1, Limits(timeout_s=5, memory_mb=300), confinement=FAST) as p:
        r = p.run("def transform(grid):\n    hog = []\n    while True:\n        hog.append(bytearray(1 << 24))\n", task)
    assert r.status == "memory" and "MemoryError" in r.train_errors[0]


def test_os_exit_is_crashed(pool, task):
    r = pool.run("import os\ndef transform(grid):\n    os._exit(0)\n", task)
    assert r.status == "crashed" and "ended before this grid" in r.train_errors[0]


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
    with ExecutionPool(1, LIMITS, confinement=FAST) as p:  # one worker: both programs share its scratch folder
        write = "def transform(grid):\n    open('left.txt', 'w').write('x')\n    return grid\n"
        look = "import os\ndef transform(grid):\n    return [[int(os.path.exists('left.txt'))]]\n"
        assert p.run(write, task).status == "ok"
        assert p.run(look, task).train_outputs[0] == [[0]]


def test_monkeypatching_numpy_and_modules_does_not_leak(task):
    with ExecutionPool(1, LIMITS, confinement=FAST) as p:  # one worker, so the second program follows the first there
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


def test_jobs_bigger_than_a_pipe_run_whole_and_in_order(pool, task):
    big = "# " + "x" * (80 << 10) + "\n" + IDENTITY
    codes = [big if i % 3 else IDENTITY for i in range(9)]
    results = list(pool.imap((c, task) for c in codes))
    assert [r.status for r in results] == ["ok"] * 9
    assert all(r.train_outputs == tuple(p.input for p in task.train) for r in results)


def test_unencodable_program_fails_its_future_only(task):
    with ExecutionPool(1, confinement=FAST) as p:  # one worker: had its thread died, the next job would never run
        with pytest.raises(TypeError):  # orjson refuses a lone surrogate
            p.submit("def transform(grid):\n    return grid  # \ud800\n", task).result(timeout=60)
        assert p.submit(IDENTITY, task).result(timeout=60).status == "ok"


def test_worker_killed_mid_run_loses_nothing_else(task):
    slow = "import time\ndef transform(grid):\n    time.sleep(0.5)\n    return grid\n"
    with ExecutionPool(2, Limits(timeout_s=3), confinement=FAST) as p:
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
    with ExecutionPool(2, Limits(timeout_s=2, memory_mb=512), confinement=FAST) as p:
        list(p.imap((hog, task) for _ in range(20)))
        before = _tree_rss_kb([os.getpid(), *p.pids])
        statuses = {r.status for r in p.imap((hog, task) for _ in range(300))}
        after = _tree_rss_kb([os.getpid(), *p.pids])
    assert statuses == {"ok"}  # each program held 16 MB per grid it ran
    assert after - before < 20_000  # KB: nothing of them stays behind in the pool's processes


def test_pinned_zygotes_each_keep_one_core_and_their_children_inherit_it(task):
    cores = sorted(os.sched_getaffinity(0))
    with ExecutionPool(min(2, len(cores)), confinement=FAST) as p:
        assert [os.sched_getaffinity(pid) for pid in p.pids] == [{c} for c in cores[:len(p.pids)]]
        code = "import os\ndef transform(grid):\n    return [[len(os.sched_getaffinity(0))]]\n"
        assert p.run(code, task).train_outputs[0] == [[1]]
    with ExecutionPool(2, pin=False, confinement=FAST) as p:
        assert all(os.sched_getaffinity(pid) == set(cores) for pid in p.pids)
    with ExecutionPool(len(cores) + 1, confinement=FAST) as p:  # more workers than cores: the scheduler places them
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
    with pytest.raises(KeyboardInterrupt), ExecutionPool(1, Limits(timeout_s=2), confinement=FAST) as p:
        t0 = time.monotonic()
        futures = [p.submit(slow, task) for _ in range(20)]
        time.sleep(0.1)
        raise KeyboardInterrupt
    assert sum(f.cancelled() for f in futures) >= 18 and time.monotonic() - t0 < 5


def test_memory_cap_below_the_interpreter_is_one_clear_error():
    from arc_induct.execution import LimitsError

    with pytest.raises(LimitsError, match="memory_mb=20 leaves no room"):
        ExecutionPool(1, Limits(memory_mb=20), confinement=FAST)


def test_execute_cli_bad_json_names_the_line(tmp_path, training, capsys):
    from arc_induct.cli import main

    (tmp_path / "p.jsonl").write_bytes(orjson.dumps({"task_id": next(iter(training)), "code": IDENTITY}) + b"\n{oops\n")
    assert main(["execute", str(tmp_path / "p.jsonl"), "--dataset", "arc-agi-1/training",
                 "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "line 2 is not valid JSON" in capsys.readouterr().err


def test_scipy_ndimage_is_preloaded_when_installed(pool, training):
    if importlib.util.find_spec("scipy") is None:
        pytest.skip("scipy is not installed here (it is a dependency: setup installs it)")
    code = ("import numpy as np\nfrom scipy.ndimage import label, binary_fill_holes\n"
            "def transform(grid):\n    return np.fliplr(binary_fill_holes(np.array(grid) > 0) * 0 + np.array(grid))\n")
    r = pool.run(code, training["67a3c6ac"])
    assert r.status == "ok" and all(r.train_correct) and "scipy.ndimage" in pool.confinement["preloaded"]
    assert r.seconds < 0.2  # an import in a fresh child costs ~0.3 s or more


def test_decode_takes_statuses_only_from_the_fixed_set_and_rechecks_grids(task):
    header = {"fatal": None, "seconds": 0.0}
    forged = b'[0, [[1]], null, ["list"]]\n'
    r = decode(task, header, forged)
    assert r.status == "invalid_output" and all(o is None for o in r.train_outputs)
    banana = b'[0, [[1]], null, "banana"]\n'
    assert decode(task, header, banana).status == "invalid_output"
    fatal = b'["fatal", "banana", "x"]\n'
    assert decode(task, header, fatal).status == "invalid_output"
    n = len(task.train) + len(task.test_inputs)
    not_a_grid = b"".join(orjson.dumps([i, [[1.5]], None, "ok"]) + b"\n" for i in range(n))
    r = decode(task, header, not_a_grid)
    assert r.status == "invalid_output" and "float" in r.train_errors[0] and r.train_outputs[0] is None
    cut = orjson.dumps([0, [[1]], None, "ok"]) + b"\n" + b'[1, [[1'  # a kill mid-line: grid 1 has no result
    r = decode(task, header, cut)
    assert r.train_outputs[0] == [[1]] and r.status == "crashed" and "ended before" in r.train_errors[1]


@pytest.mark.parametrize("field, value", [("timeout_s", float("nan")), ("timeout_s", float("inf")),
                                          ("memory_mb", -1), ("max_timeout_s", 0)])
def test_limits_refuse_values_no_program_could_run_under(field, value):
    with pytest.raises(LimitsError, match=field):
        Limits(**{field: value})


def _execute(tmp_path, *args):
    from arc_induct.cli import main

    return main(["execute", *map(str, args), "--dataset", "arc-agi-1/training", "--workers", "1"])


def test_execute_cli_refuses_out_equal_to_its_input(tmp_path, training, capsys):
    programs = tmp_path / "p.jsonl"
    _write_rows(programs, [{"task_id": t, "code": IDENTITY} for t in list(training)[:3]])
    before = programs.read_bytes()
    assert _execute(tmp_path, programs, "--out", programs) == 2
    assert "is an input of this run" in capsys.readouterr().err and programs.read_bytes() == before


def test_execute_cli_reads_programs_from_a_pipe(tmp_path, training):
    read_end, write_end = os.pipe()
    rows = b"".join(orjson.dumps({"task_id": t, "code": IDENTITY}) + b"\n" for t in list(training)[:5])
    writer = threading.Thread(target=lambda: (os.write(write_end, rows), os.close(write_end)))
    writer.start()
    out = tmp_path / "r.jsonl"
    try:
        assert _execute(tmp_path, f"/dev/fd/{read_end}", "--out", out) == 0
    finally:
        writer.join()
        os.close(read_end)
    assert [orjson.loads(line)["status"] for line in out.read_bytes().splitlines()] == ["ok"] * 5


def test_execute_cli_missing_programs_file_leaves_out_untouched(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_bytes(b'{"precious": 1}\n')
    assert _execute(tmp_path, tmp_path / "typo.jsonl", "--out", out) == 2
    err = capsys.readouterr().err
    assert "typo.jsonl" in err and "Traceback" not in err and out.read_bytes() == b'{"precious": 1}\n'


def test_execute_cli_out_in_a_missing_folder_is_one_line(tmp_path, training, capsys):
    programs = tmp_path / "p.jsonl"
    _write_rows(programs, [{"task_id": next(iter(training)), "code": IDENTITY}])
    assert _execute(tmp_path, programs, "--out", tmp_path / "nope" / "r.jsonl") == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "does not exist" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("flag, value", [("--workers", "-1"), ("--timeout", "inf"), ("--timeout", "nan"),
                                         ("--max-timeout", "0"), ("--memory-mb", "0")])
def test_execute_cli_bad_flag_is_one_line_naming_it(tmp_path, capsys, flag, value):
    from arc_induct.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["execute", "p.jsonl", "--dataset", "arc-agi-1/training", "--out", str(tmp_path / "r"), flag, value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {flag}" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


def test_execute_cli_sigterm_keeps_every_row_done(tmp_path, training):
    programs, out = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    slow = "import time\ndef transform(grid):\n    time.sleep(0.05)\n    return grid\n"
    _write_rows(programs, [{"task_id": t, "code": slow} for t in list(training)[:60]])
    cli = subprocess.Popen([sys.executable, "-m", "arc_induct", "execute", str(programs), "--dataset",
                            "arc-agi-1/training", "--out", str(out), "--workers", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 3):
        time.sleep(0.05)
    cli.send_signal(signal.SIGTERM)
    err = cli.communicate(timeout=60)[1]
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert cli.returncode == 130 and 3 <= len(rows) < 60
    assert f"interrupted: {len(rows)} rows written" in err
    assert [r["task_id"] for r in rows] == list(training)[:len(rows)]
