import dataclasses
import itertools
import json

import pytest

from arc_induct.cli import main
from arc_induct.store import Attempt, StoreError
from arc_induct.submission import FALLBACK, build_submission
from arc_induct.voting import VoteError, answers, penalty, program_weight, tally, vote

FLIP = "def transform(grid):\n    return [row[::-1] for row in grid]\n"


def _json(task, outputs, right, p=0.0, code=FLIP):
    """A row as `arc-induct execute` writes it; `right` train pairs counted correct; outputs None:
    no program ran; p None: no stored probability."""
    n = len(task.train)
    row = {"task_id": task.id, "code": code, "hardcoded_probability": p, "status": "no_program"}
    if outputs is not None:
        row |= {"status": "ok", "train_outputs": [None] * n, "train_errors": [None] * n,
                "train_correct": [i < right for i in range(n)], "test_outputs": outputs,
                "test_errors": [None] * len(outputs), "test_correct": None, "seconds": 0.0}
    return row


def _row(task, outputs, right, p=0.0, code=FLIP):
    return Attempt.from_json(_json(task, outputs, right, p, code), default_index=0)


def _wrong(grid):
    """A valid grid of the same shape that differs from `grid` in its first cell."""
    return [[(grid[0][0] + 1) % 10] + grid[0][1:]] + [row[:] for row in grid[1:]]


@pytest.fixture
def single(arc1_eval):
    return next(t for t in arc1_eval if len(t.test_inputs) == 1)


@pytest.fixture
def multi(arc1_eval):
    return next(t for t in arc1_eval if len(t.test_inputs) >= 2)


def test_one_train_perfect_program_outweighs_a_crowd(single):
    truth = list(single.test_outputs)
    rows = [_row(single, truth, len(single.train))] + [_row(single, [_wrong(truth[0])], 0)] * 500
    guesses = vote(single, rows)
    assert guesses == [[truth[0], _wrong(truth[0])]]


def test_programs_right_on_every_train_pair_outrank_a_crowd_right_on_most(single):
    # The shape that cost the vote real answers (benchmarks/bench_vote_real.py): a group holding
    # one perfect program plus many partial ones outweighed a group of three perfect ones.
    truth, fake = list(single.test_outputs), [_wrong(single.test_outputs[0])]
    n = len(single.train)
    rows = [_row(single, fake, n)] + [_row(single, fake, n - 1)] * 30 + [_row(single, truth, n)] * 3
    assert vote(single, rows)[0][0] == truth[0]
    # ...unless the perfect ones are judged hard-coded: then only their weight counts.
    flagged = [_row(single, fake, n - 1)] * 30 + [_row(single, truth, n, p=0.99)] * 3
    assert vote(single, flagged)[0][0] == fake[0]


def test_more_programs_win_at_equal_accuracy(single):
    a, b = list(single.test_outputs), [_wrong(single.test_outputs[0])]
    rows = [_row(single, b, 1)] * 2 + [_row(single, a, 1)] * 3
    assert vote(single, rows)[0] == [a[0], b[0]]


def test_hard_coded_group_loses_to_general_group(single):
    truth, fake = list(single.test_outputs), [_wrong(single.test_outputs[0])]
    n = len(single.train)
    rows = [_row(single, fake, n, p=0.99)] * 5 + [_row(single, truth, n, p=0.05)]
    assert vote(single, rows)[0][0] == truth[0]
    # the penalty keeps a floor, so a pool of hard-coders still answers
    assert vote(single, [_row(single, fake, n, p=1.0)]) == [fake]
    assert penalty(1.0) > 0 and program_weight(1.0, 0.0) == 1001.0


def test_tie_is_broken_the_same_way_in_any_row_order(single):
    a, b, c = ([_wrong(single.test_outputs[0])] for _ in range(3))
    b[0][0][-1] = (b[0][0][-1] + 2) % 10
    c[0][-1][0] = (c[0][-1][0] + 3) % 10
    rows = [_row(single, g, 1) for g in (a, b, c)]
    results = {json.dumps(vote(single, perm)) for perm in itertools.permutations(rows)}
    assert len(results) == 1
    assert len(json.loads(results.pop())[0]) == 2


def test_multi_test_input_second_attempt_skips_agreeing_group(multi):
    truth = list(multi.test_outputs)
    n = len(multi.train)
    # group B agrees with A on input 0 and differs on input 1; group C differs on input 0
    b = [truth[0]] + [_wrong(g) for g in truth[1:]]
    c = [_wrong(truth[0])] + truth[1:]
    rows = [_row(multi, truth, n)] * 3 + [_row(multi, b, n)] * 2 + [_row(multi, c, n)]
    guesses = vote(multi, rows)
    assert len(guesses) == len(multi.test_inputs)
    assert guesses[0] == [truth[0], c[0]]  # B repeats A here, so C gives attempt 2
    assert guesses[1] == [truth[1], b[1]]


def test_invalid_or_errored_rows_take_no_part(multi):
    truth = list(multi.test_outputs)
    n = len(multi.train)
    bad_rows = [
        _row(multi, None, n),  # never ran / no program
        _row(multi, [truth[0], None] + truth[2:], n),  # errored on one test input
        _row(multi, [[[10]]] + truth[1:], n),  # not a valid grid
        _row(multi, truth[:1], n),  # too few outputs
    ]
    assert vote(multi, bad_rows) == []
    ballot = tally(bad_rows + [_row(multi, [_wrong(g) for g in truth], 0)], [multi])[multi.id]
    assert ballot.used == 1 and ballot.skipped == 4


def test_all_invalid_pool_falls_back(multi, single):
    guesses = answers(tally([_row(multi, None, 0), _row(single, None, 0)], [multi, single]))
    assert guesses == {}
    sub = build_submission([multi, single], guesses)
    assert all(e == {"attempt_1": FALLBACK, "attempt_2": FALLBACK} for e in sub[multi.id] + sub[single.id])


def test_missing_probability_is_computed_from_code(single):
    n = len(single.train)
    truth, fake = list(single.test_outputs), [_wrong(single.test_outputs[0])]
    paste = "".join(f"    if grid == {p.input}:\n        return {p.output}\n" for p in single.train)
    hard = "def transform(grid):\n" + paste + "    return grid\n"
    rows = [_row(single, fake, n, p=None, code=hard) for _ in range(3)] + [_row(single, truth, n, p=None)]
    assert vote(single, rows)[0][0] == truth[0]


def test_rows_from_another_dataset_are_an_error(single):
    with pytest.raises(VoteError, match="'nope'"):
        tally([Attempt("nope", 0)], [single])


def test_malformed_train_correct_names_task_and_field(single):
    row = _json(single, list(single.test_outputs), 1) | {"train_correct": "yes"}
    with pytest.raises(StoreError, match=f"{single.id}.*train_correct"):
        Attempt.from_json(row, 0)
    short = _row(single, list(single.test_outputs), 1)
    short = Attempt(single.id, 0, result=dataclasses.replace(short.result, train_correct=(True,) * (len(single.train) + 1)))
    with pytest.raises(VoteError, match=f"{single.id}.*train_correct"):
        vote(single, [short])


def test_cli_vote_then_score(tmp_path, arc1_eval, capsys):
    # right answers for 10 tasks by a train-perfect group, beaten by nothing; wrong ones for 5 more
    rows = []
    for t in arc1_eval[:10]:
        rows += [_json(t, list(t.test_outputs), len(t.train))]
        rows += [_json(t, [_wrong(g) for g in t.test_outputs], 1)] * 3
    for t in arc1_eval[10:15]:
        rows += [_json(t, [_wrong(g) for g in t.test_outputs], len(t.train))]
        rows += [_json(t, None, 0)]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "submission.json"
    assert main(["vote", str(results), "--dataset", "arc-agi-1/evaluation", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "15 of 400 tasks answered" in text and "(5 without usable test outputs)" in text
    assert main(["score", str(out), "--dataset", "arc-agi-1/evaluation"]) == 0
    assert "score: 10 / 400 = 2.50%" in capsys.readouterr().out


def test_cli_vote_bad_line_is_one_line_error(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text('{"task_id": "x"}\n{not json\n')
    assert main(["vote", str(results), "--dataset", "arc-agi-1/evaluation", "--out", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.jsonl" in err and "'x'" in err
    assert not (tmp_path / "s.json").exists()


def test_attempts_from_the_execution_pool_are_voted(single):
    """An attempt holding the pool's own result (tuples, never through JSON), as `run` votes it."""
    execution = pytest.importorskip("arc_induct.execution")
    with execution.ExecutionPool(workers=1) as pool:
        result = pool.run(FLIP, single)
    guesses = vote(single, [Attempt(single.id, 0, code=FLIP, result=result)])
    assert guesses == [[g] for g in result.test_outputs]
