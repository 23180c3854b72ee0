from arc_induct.scoring import score_submission
from arc_induct.submission import build_submission
from arc_induct.tasks import Pair, Task

A, B, C, X = [[1]], [[2]], [[3]], [[9, 9]]
TWO = Task("two", (Pair(A, B),), (A, A), (B, C))  # two test inputs
ONE = Task("one", (Pair(A, B),), (A,), (C,))


def test_either_attempt_counts():
    sub = {"one": [{"attempt_1": X, "attempt_2": C}], "two": [{"attempt_1": B, "attempt_2": X}, {"attempt_1": X, "attempt_2": X}]}
    s = score_submission(sub, [ONE, TWO])
    assert [t.correct for t in s.tasks] == [(True,), (True, False)]
    assert s.total == 1.5
    assert s.fraction == 0.75


def test_missing_task_and_entries_score_zero():
    s = score_submission({"two": [{"attempt_1": B}]}, [ONE, TWO])
    assert s.total == 0.5 and s.tasks[0].score == 0.0


def test_not_a_dict_scores_zero():
    assert score_submission([1, 2], [ONE]).total == 0


def test_near_miss_is_wrong():
    sub = {"one": [{"attempt_1": [[3, 0]], "attempt_2": [[3], [3]]}]}
    assert score_submission(sub, [ONE]).total == 0


def test_oracle_scores_full_on_real_tasks(arc2_eval):
    answers = {t.id: [[out] for out in t.test_outputs] for t in arc2_eval}
    s = score_submission(build_submission(arc2_eval, answers), arc2_eval)
    assert s.fraction == 1.0


def test_fallback_scores_zero_on_real_tasks(arc2_eval):
    s = score_submission(build_submission(arc2_eval, {}), arc2_eval)
    assert s.total == 0
