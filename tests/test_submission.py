import os
import stat

import orjson
import pytest

from arc_induct.scoring import score_submission
from arc_induct.submission import FALLBACK, SubmissionError, build_submission, read_submission, submission_faults, write_submission
from arc_induct.tasks import Pair, Task

T = Task("t", (Pair([[1]], [[2]]),), ([[1]], [[3]]), ([[2]], [[4]]))


def test_build_fills_every_gap_with_fallback():
    sub = build_submission([T], {"t": [[[[2]], None]]})
    assert sub == {"t": [{"attempt_1": [[2]], "attempt_2": FALLBACK}, {"attempt_1": FALLBACK, "attempt_2": FALLBACK}]}
    assert submission_faults(sub, [T]) == []


def test_build_drops_invalid_guesses():
    sub = build_submission([T], {"t": [[[[11]], [[2]]], []]})
    assert sub["t"][0]["attempt_1"] == [[2]]


@pytest.mark.parametrize(
    "sub, fault",
    [
        ({}, "task t: missing"),
        ({"t": [{"attempt_1": [[1]], "attempt_2": [[1]]}]}, "1 entries for 2 test inputs"),
        ({"t": [{"attempt_1": [[1]]}, {"attempt_1": [[1]], "attempt_2": [[1]]}]}, "test 0: missing attempt_2"),
        ({"t": [{"attempt_1": [[1]], "attempt_2": [[1, 2], [1]]}] * 2}, "attempt_2: ragged"),
        ({"t": "x"}, "expected a list"),
        ([], "top level is list"),
    ],
)
def test_faults_are_explained(sub, fault):
    assert any(fault in f for f in submission_faults(sub, [T]))


def test_extra_task_is_a_fault():
    sub = build_submission([T], {}) | {"zzz": []}
    assert submission_faults(sub, [T]) == ["task zzz: not in the dataset"]


def test_round_trip_write_validate_score(tmp_path, arc2_eval):
    answers = {t.id: [[None, out] for out in t.test_outputs] for t in arc2_eval[:60]}
    path = write_submission(tmp_path / "submission.json", build_submission(arc2_eval, answers))
    sub = read_submission(path)
    assert submission_faults(sub, arc2_eval) == []
    assert score_submission(sub, arc2_eval).total == 60
    assert os.listdir(tmp_path) == ["submission.json"]  # no temp files left behind


def test_failed_write_keeps_previous_file(tmp_path):
    path = write_submission(tmp_path / "s.json", {"a": []})
    with pytest.raises(TypeError):
        write_submission(path, {"a": object()})  # not serialisable: fails mid-write
    assert orjson.loads(path.read_bytes()) == {"a": []}
    assert os.listdir(tmp_path) == ["s.json"]


def test_unreadable_submission_names_the_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{")
    with pytest.raises(SubmissionError, match="bad.json: not valid JSON"):
        read_submission(p)


def test_the_written_file_is_readable_by_all(tmp_path):
    path = write_submission(tmp_path / "submission.json", {})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
