import orjson
import pytest

from arc_induct.execution import ExecutionPool
from arc_induct.store import Attempt, AttemptStore, ExecutionResult, StoreError, read_attempts
from arc_induct.tasks import load_tasks

FLIP = "import numpy as np\ndef transform(grid):\n    return np.fliplr(grid)\n"


@pytest.fixture(scope="module")
def task():
    return next(t for t in load_tasks("arc-agi-1/training") if t.id == "67a3c6ac")


@pytest.fixture(scope="module")
def result(task):
    with ExecutionPool(1) as pool:
        return pool.run(FLIP, task)


def test_an_attempt_round_trips_through_its_json_row(task, result):
    a = Attempt(task.id, 7, "refine", parent=3, code=FLIP, result=result, hardcoded_p=0.25, completion="text",
                extract_reason=None, prompt_hash="ab12", sample_seconds=1.5, endpoint="http://h:1")
    row = orjson.loads(orjson.dumps(a.to_json()))
    assert row["status"] == "ok" and row["index"] == 7 and row["parent"] == 3
    assert Attempt.from_json(row) == a
    assert a.train_accuracy == 1.0 and a.solved_train(0.75) and not a.solved_train(0.2)


def test_an_attempt_without_a_program_has_no_result_fields(task):
    a = Attempt(task.id, 0, completion="words", extract_reason="no code block in the completion")
    row = a.to_json()
    assert row["status"] == "no_program" and "train_correct" not in row
    assert Attempt.from_json(orjson.loads(orjson.dumps(row))) == a and a.train_accuracy == 0.0


@pytest.mark.parametrize("field, value, message", [
    ("index", "3", "'index' must be an integer"),
    ("kind", "guess", "'kind' must be one of"),
    ("status", "banana", "'status' must be one of"),
    ("status", ["ok"], "'status' must be str"),
    ("train_correct", [1, 0], "'train_correct' must hold booleans"),
    ("test_outputs", None, "'test_outputs' must be list, got NoneType"),
    ("hardcoded_probability", 2.0, r"must be in \[0, 1\]"),
    ("task_id", 5, "'task_id' must be str"),
])
def test_a_bad_field_is_named(task, result, field, value, message):
    row = orjson.loads(orjson.dumps(Attempt(task.id, 1, code=FLIP, result=result, hardcoded_p=0.1).to_json()))
    with pytest.raises(StoreError, match=message):
        Attempt.from_json(row | {field: value})


def test_rows_of_execute_get_their_line_as_index_and_kind_given(tmp_path, task, result):
    row = {"task_id": task.id, "code": FLIP, "note": "kept by execute"} | orjson.loads(
        orjson.dumps(Attempt(task.id, 0, result=result).to_json()))
    del row["index"], row["kind"]
    p = tmp_path / "results.jsonl"
    p.write_bytes(b"\n" + orjson.dumps(row) + b"\n")
    (a,) = read_attempts(p)
    assert (a.index, a.kind, a.result) == (2, "given", result)


def test_attempts_survive_without_close(tmp_path):
    s = AttemptStore(tmp_path / "a.jsonl")
    s.append(Attempt("t", 0))
    # No close: what a SIGKILL leaves. Flushed rows are readable by another reader.
    assert [a.index for a in read_attempts(tmp_path / "a.jsonl")] == [0]


def test_torn_last_line_is_skipped_and_cut_on_resume(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(orjson.dumps(Attempt("t", 0).to_json()) + b'\n{"task_id":"t","ind')
    assert len(list(read_attempts(p))) == 1
    with AttemptStore(p, resume=True) as s:
        s.append(Attempt("t", 1))
    assert [a.index for a in read_attempts(p)] == [0, 1]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    p = tmp_path / "a.jsonl"
    good = orjson.dumps(Attempt("t", 0).to_json())
    p.write_bytes(good + b"\n{oops\n" + good + b"\n")
    with pytest.raises(StoreError, match=r"a.jsonl: line 2 is not valid JSON"):
        list(read_attempts(p))
    p.write_bytes(good + b"\n" + orjson.dumps({"task_id": "t", "index": -1}) + b"\n")
    with pytest.raises(StoreError, match=r"a.jsonl: line 2: task t: field 'index'"):
        list(read_attempts(p))


def test_existing_store_needs_resume(tmp_path):
    p = tmp_path / "a.jsonl"
    AttemptStore(p).append(Attempt("t", 0))
    with pytest.raises(StoreError, match="--resume"):
        AttemptStore(p)


def test_train_accuracy_is_the_share_of_pairs_right():
    r = ExecutionResult("ok", (), (), (), (), (True, False, True, True), None, 0.0)
    assert r.train_accuracy == 0.75
    assert Attempt("t", 0, result=r).train_accuracy == 0.75
