import orjson

from arc_induct.report import build_report
from arc_induct.store import Attempt, ExecutionResult
from arc_induct.submission import build_submission, write_submission
from arc_induct.tasks import load_tasks


def _result(correct, test_outputs):
    return ExecutionResult("ok", (), (), tuple(test_outputs), (None,) * len(test_outputs), tuple(correct), None, 0.0)


def _report(tmp_path, tasks, attempts, answers):
    sub = tmp_path / "submission.json"
    write_submission(sub, build_submission(tasks, answers))
    return build_report(dataset="arc-agi-1/evaluation", backend="replay", tasks=tasks, attempts=attempts,
                        outcomes=["early_stop", None, "gave_up"], threshold=0.75, failures={"http_5xx": 1}, checkpoints=2,
                        sampling_seconds=30.0, total_seconds=40.0, budget_seconds=60.0, submission=sub,
                        notes=("a note",))


def test_counts_come_from_the_attempts_and_the_score_from_the_file(tmp_path):
    tasks = load_tasks("arc-agi-1/evaluation")[:3]
    a, b, c = tasks
    attempts = [
        Attempt(a.id, 0, code="x", result=_result([True] * len(a.train), a.test_outputs), hardcoded_p=0.1),
        Attempt(a.id, 1, "refine", parent=0, code="y", result=_result([True] * len(a.train), a.test_outputs),
                hardcoded_p=0.9),
        Attempt(b.id, 0, completion="no code"),
        Attempt(b.id, 1, code="z", result=_result([False] * len(b.train), b.test_outputs), hardcoded_p=0.0),
    ]
    report = _report(tmp_path, tasks, attempts, {a.id: [[g] for g in a.test_outputs]})
    assert (report.attempts, report.programs, report.refinements) == (4, 3, 1)
    assert report.statuses == {"ok": 3, "no_program": 1}
    assert (report.train_perfect, report.hardcoded) == (2, 1)  # judged at the threshold given
    assert report.attempts_per_task == (0, 2, 2)  # task c got none
    assert report.task_outcomes == {"early_stop": 1, "open": 1, "gave_up": 1}
    assert report.score == 1 and abs(report.score_fraction - 1 / 3) < 1e-9
    text = report.text()
    assert "4 (2/2/2" not in text and "0/2/2 per task" in text and "score          1 / 3 = 33.33%" in text
    assert "75% of 40 s run" in text and "note: a note" in text


def test_the_report_is_also_written_as_json(tmp_path):
    tasks = load_tasks("arc-agi-1/evaluation")[:3]
    report = _report(tmp_path, tasks, [], {})
    report.write(tmp_path)
    assert orjson.loads((tmp_path / "report.json").read_bytes())["score"] == 0
    assert (tmp_path / "report.txt").read_text().startswith("arc-induct run report: 3 tasks")


def test_a_thousand_failures_make_a_few_log_lines_and_every_one_is_counted(caplog):
    from arc_induct.report import FailureLog
    from arc_induct.router import RouterError

    failures = FailureLog(interval_s=30.0)
    with caplog.at_level("WARNING", logger="arc_induct.run"):
        for k in range(1000):  # 10 failures a second for 100 s, two causes
            failures.add(RouterError(f"request {k} failed", "http_5xx" if k % 2 else "unreachable"), now=k / 10)
            failures.flush(now=k / 10)
        failures.flush(now=100.0, final=True)
    assert failures.counts == {"http_5xx": 500, "unreachable": 500}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 2 * (1 + 100 // 30 + 1)  # the first of each cause, then one per cause per 30 s
    assert lines[0] == "request failed (unreachable): request 0 failed"
    logged = sum(int(m.split()[0]) if m[0].isdigit() else 1 for m in lines)
    assert logged == 1000  # each failure is in some line's count
    assert any(m.endswith("the last: request 999 failed") for m in lines[-2:])


def test_failures_by_cause_and_an_error_are_in_the_text(tmp_path):
    tasks = load_tasks("arc-agi-1/evaluation")[:3]
    sub = tmp_path / "submission.json"
    write_submission(sub, build_submission(tasks, {}))
    report = build_report(dataset="d", backend="openai", tasks=tasks, attempts=[], outcomes=[None] * 3,
                          threshold=0.75, failures={"unreachable": 7, "http_5xx": 2}, checkpoints=1,
                          sampling_seconds=10.0, total_seconds=12.0, budget_seconds=12.0, submission=sub, notes=(),
                          resent_requests=5, ended="the deadline", error="no request succeeded")
    text = report.text()
    assert "9 failed requests (unreachable 7, http_5xx 2), 5 re-sent after an endpoint failed" in text
    assert "ERROR          no request succeeded" in text and "sampling ended: the deadline" in text
    assert report.failed_requests == 9
