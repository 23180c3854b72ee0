import json

import pytest

from arc_induct.tasks import NAMED_DATASETS, TaskFileError, by_size, load_tasks

COUNTS = {
    "arc-agi-1/training": 400,
    "arc-agi-1/evaluation": 400,
    "kaggle-2024/training": 400,
    "kaggle-2024/evaluation": 400,
    "arc-agi-2/training": 1000,
    "arc-agi-2/evaluation": 120,
    "kaggle-2025/training": 1000,
    "kaggle-2025/evaluation": 120,
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_named_dataset_counts(name):
    tasks = load_tasks(name)
    assert len(tasks) == COUNTS[name]
    assert len({t.id for t in tasks}) == len(tasks)
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)


def test_every_named_dataset_is_tested():
    assert set(NAMED_DATASETS) == set(COUNTS)


def test_kaggle_2024_is_arc_agi_1_with_its_fixes():
    """The two ARC-AGI-1 versions differ in exactly these nine test outputs (and in other grids)."""
    changed = set()
    for split in ("training", "evaluation"):
        old = {t.id: t for t in load_tasks(f"arc-agi-1/{split}")}
        new = {t.id: t for t in load_tasks(f"kaggle-2024/{split}")}
        assert set(old) == set(new)
        changed |= {i for i in old if old[i].test_outputs != new[i].test_outputs}
    assert changed == {"ef135b50", "17cae0c1", "310f3251", "423a55dc", "58e15b12", "79fb03f4", "a8610ef7",
                       "b4a43f3b", "f8be4b64"}


@pytest.mark.parametrize("name", ["arc-agi-1/evaluation", "arc-agi-2/evaluation"])
def test_evaluation_sets_have_test_outputs(name):
    for t in load_tasks(name):
        assert t.test_outputs is not None and len(t.test_outputs) == len(t.test_inputs)


def test_by_size_is_ascending_and_stable(arc2_eval):
    ordered = by_size(arc2_eval)
    sizes = [t.cells for t in ordered]
    assert sizes == sorted(sizes)
    assert ordered == by_size(list(reversed(arc2_eval)))
    assert ordered[0].cells < ordered[-1].cells


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


GOOD = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}, {"input": [[4]]}]}


def test_kaggle_challenges_with_and_without_solutions(tmp_path):
    ch = _write(tmp_path, "x_challenges.json", {"t1": GOOD})
    [t] = load_tasks(ch)
    assert t.test_outputs is None and t.test_inputs == ([[3]], [[4]])
    _write(tmp_path, "x_solutions.json", {"t1": [[[5]], [[6]]]})
    [t] = load_tasks(ch)
    assert t.test_outputs == ([[5]], [[6]])


def test_folder_of_task_files(tmp_path):
    body = {"train": GOOD["train"], "test": [{"input": [[3]], "output": [[4]]}]}
    _write(tmp_path, "aaa.json", body)
    _write(tmp_path, "bbb.json", body)
    assert [t.id for t in load_tasks(tmp_path)] == ["aaa", "bbb"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON"),
        ({"t1": {"test": GOOD["test"]}}, "task t1: missing key 'train'"),
        ({"t1": {"train": [{"input": [[1]]}], "test": GOOD["test"]}}, "task t1, train pair 0: missing key 'output'"),
        ({"t1": {**GOOD, "train": [{"input": [[1, 2], [1]], "output": [[1]]}]}}, "task t1, train pair 0 input: ragged"),
        ({"t1": {**GOOD, "train": [{"input": [[0] * 31], "output": [[1]]}]}}, "train pair 0 input: grid has 31 columns"),
        ({"t1": {**GOOD, "test": [{"input": [[11]]}]}}, "task t1, test pair 0 input: cell (0,0) is 11"),
        ({"t1": {**GOOD, "test": []}}, "task t1: 'test' must be a non-empty list"),
        ([1, 2], "expected an object of task_id -> task"),
    ],
)
def test_malformed_challenges_name_file_task_and_fault(tmp_path, content, expected):
    p = _write(tmp_path, "bad_challenges.json", content)
    with pytest.raises(TaskFileError) as e:
        load_tasks(p)
    assert str(p) in str(e.value)
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_solution_count_mismatch(tmp_path):
    ch = _write(tmp_path, "y_challenges.json", {"t1": GOOD})
    sol = _write(tmp_path, "y_solutions.json", {"t1": [[[5]]]})
    with pytest.raises(TaskFileError, match="1 solutions for 2 test inputs") as e:
        load_tasks(ch)
    assert str(sol) in str(e.value) and "task t1" in str(e.value)


def test_solution_missing_task(tmp_path):
    ch = _write(tmp_path, "z_challenges.json", {"t1": GOOD})
    _write(tmp_path, "z_solutions.json", {"other": []})
    with pytest.raises(TaskFileError, match="task t1: no solutions"):
        load_tasks(ch)


def test_unknown_dataset_lists_the_names():
    with pytest.raises(TaskFileError, match="arc-agi-2/evaluation"):
        load_tasks("arc-agi-3/evaluation")
