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
