import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from arc_induct.tasks import load_tasks
from arc_induct.transduction import (
    FEATURES,
    THRESHOLD,
    WEIGHTS_PATH,
    features,
    hardcoded_probability,
    load_weights,
    logistic,
    probability_from_outputs,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "transduction_programs.jsonl"

FLIP = "def transform(grid):\n    return [row[::-1] for row in grid]\n"


def _execution():
    return pytest.importorskip("arc_induct.execution")


def _fit_module():
    spec = importlib.util.spec_from_file_location("fit_transduction", ROOT / "scripts" / "fit_transduction.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def labelled():
    """The labelled programs with their real test outputs from the execution pool."""
    _execution()
    fit = _fit_module()
    rows = fit.load_rows(DATA)
    return fit, rows, fit.run_all(rows)


@pytest.fixture(scope="module")
def training():
    return {t.id: t for t in load_tasks("arc-agi-1/training")}


def _run(code, task):
    with _execution().ExecutionPool(workers=1) as pool:
        return pool.run(code, task)


def test_labelled_set_is_large_varied_and_on_real_tasks(labelled, training):
    _, rows, outputs = labelled
    assert len(rows) >= 150
    hard = {r["kind"] for r in rows if r["label"] == 1}
    assert len(hard) >= 12  # many disguises, not one pattern
    assert len(hard_rows_all := [r for r in rows if r["label"] == 1]) >= 100 and len(rows) - len(hard_rows_all) >= 100
    assert {r["kind"].split(":")[0] for r in rows if r["label"] == 0} >= {"solves", "wrong", "literal"}
    for r in rows:
        if r["dataset"] == "arc-agi-1/training":
            assert r["task_id"] in training
    # every hard-coded program reproduces its train outputs (else its label is moot), except those
    # that paste the test answer and return it for any input
    fit = labelled[0]
    with _execution().ExecutionPool() as pool:
        hard_rows = [r for r in rows if r["label"] == 1 and r["kind"] != "hardcoded:constant_answer"]
        results = list(pool.imap((r["code"], fit.task_of(r)) for r in hard_rows))
    assert all(all(res.train_correct) for res in results)


def test_held_out_precision_and_recall(labelled):
    """Precision >= 0.9 and recall >= 0.8 at the fitted threshold on the held-out tasks.

    The floor is the published 13-feature model's operating point (precision 0.90, recall 0.82
    at 0.75), rounded down. Our held-out programs share generators with the fit part, so the
    measured figures (1.0/1.0 when written) are optimistic; the fit script's
    leave-one-disguise-out recall is the figure for unseen disguises.
    """
    fit, rows, outputs = labelled
    model = load_weights()
    held = [(r, o) for r, o in zip(rows, outputs) if r["split"] == "held_out"]
    assert sum(r["label"] for r, _ in held) >= 20 and sum(1 - r["label"] for r, _ in held) >= 20
    p = np.array([probability_from_outputs(r["code"], fit.task_of(r), o, model) for r, o in held])
    y = np.array([r["label"] for r, _ in held])
    precision, recall = fit.precision_recall(p, y, model["threshold"])
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)


def test_committed_weights_are_the_refit_of_the_committed_data(labelled):
    fit, rows, outputs = labelled
    x, y, kind, _, is_fit = fit.dataset(rows, outputs, fit.load_rows(fit.REAL))
    refit = fit.fit(x[is_fit], y[is_fit])
    committed = json.loads(WEIGHTS_PATH.read_text())
    assert committed["features"] == list(FEATURES)
    assert np.allclose(refit["coef"], committed["coef"], atol=1e-3)
    assert abs(refit["intercept"] - committed["intercept"]) < 1e-3
    assert fit.choose_threshold(fit.predict(refit, x[is_fit & (kind == "real:right")])) == committed["threshold"]


def test_pasted_train_outputs_are_flagged(training):
    task = training["007bbfb7"]
    body = "".join(f"    if grid == {p.input}:\n        return {p.output}\n" for p in task.train)
    code = "def transform(grid):\n" + body + "    return grid\n"
    assert hardcoded_probability(code, task, _run(code, task)) >= THRESHOLD


def test_general_program_is_not_flagged(training):
    task = training["3c9b0459"]  # rotate 180
    code = "def transform(grid):\n    return [row[::-1] for row in grid[::-1]]\n"
    result = _run(code, task)
    assert all(result.train_correct)
    assert hardcoded_probability(code, task, result) < 0.25


def test_literal_check_sees_grid_stored_as_columns(training):
    task = training["007bbfb7"]
    out = task.train[0].output
    plain = features(FLIP, task)
    cols = [list(c) for c in zip(*out)]
    hidden = features(f"COLS = {cols}\n" + FLIP.replace("return", "COLS.clear()\n    return"), task)
    assert plain["literal_train"] == 0 and hidden["literal_train"] > 0


def test_test_output_repeating_a_train_output_raises_probability(training):
    task = training["007bbfb7"]
    own = [[[0]]] * len(task.test_inputs)
    repeat = [task.train[0].output] * len(task.test_inputs)
    assert probability_from_outputs(FLIP, task, repeat) > probability_from_outputs(FLIP, task, own)


def test_unparseable_code_scores_zero(training):
    assert hardcoded_probability("def transform(grid)\n    return", training["007bbfb7"]) == 0.0


def test_weights_file_mismatch_is_one_clear_error(tmp_path):
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"features": ["n_int"], "coef": [1.0]}))
    with pytest.raises(ValueError, match="w.json.*features"):
        load_weights(bad)


def test_logistic_is_monotone_in_each_weighted_feature():
    model = load_weights()
    base = {f: m for f, m in zip(FEATURES, model["mean"])}
    for f, w in zip(FEATURES, model["coef"]):
        assert w >= 0  # fitted with non-negative weights: no feature argues for "general"
        more = base | {f: base[f] + 1.0}
        assert logistic(more, model) >= logistic(base, model)


def test_pathologically_deep_code_is_not_an_error(training):
    task = training["007bbfb7"]
    too_deep = "def transform(grid):\n    x = " + "+".join(["1"] * 50000) + "\n    return grid\n"
    assert hardcoded_probability(too_deep, task) == 0.0  # compile() refuses it too
    deep = "def transform(grid):\n    x = " + "+".join(["1"] * 2000) + "\n    return grid\n"
    assert 0.0 <= hardcoded_probability(deep, task) <= 1.0


@pytest.mark.parametrize("name, code", [
    ("prose in strings", "def transform(grid):\n    if not grid:\n"
     "        raise ValueError('empty grid: expected at least one row and one column of cells')\n"
     "    return [row[::-1] for row in grid[::-1]]\n"),
    ("colour names as dict keys", "C = {'black': 0, 'blue': 1, 'red': 2, 'yellow': 4, 'grey': 5, 'orange': 7, 'maroon': 9}\n"
     "def transform(grid):\n    return [[C['red'] if v == C['grey'] else v for v in row] for row in grid]\n"),
    ("if/elif on colours", "def transform(grid):\n    out = []\n    for row in grid:\n        new = []\n"
     "        for v in row:\n            if v == 1:\n                new.append(5)\n            elif v == 2:\n"
     "                new.append(6)\n            elif v == 3:\n                new.append(4)\n"
     "            else:\n                new.append(v)\n        out.append(new)\n    return out\n"),
    ("a big recursion limit", "import sys\nsys.setrecursionlimit(10000)\n\ndef transform(grid):\n"
     "    return [list(r) for r in zip(*grid)]\n"),
])
def test_ordinary_general_idioms_are_not_flagged(training, name, code):
    assert probability_from_outputs(code, training["3c9b0459"]) < 0.5, name


def test_pasted_test_answer_returned_for_every_input_is_flagged(training):
    task = training["3c9b0459"]
    code = f"def transform(grid):\n    return {task.test_outputs[0]}\n"
    assert hardcoded_probability(code, task, _run(code, task)) >= THRESHOLD


# ---- real programs: the filter must not cost the vote its right answers -----------------------------

def test_real_right_programs_flagged_at_most_2pct_and_disguises_caught(labelled):
    """On held-out tasks: <= 2% of real models' train-perfect, test-right programs flagged at the
    committed threshold, and >= 90% of the synthetic disguises caught.

    The real programs enter as their committed feature vectors (their text has no licence to be
    copied; scripts/fit_transduction.py --corpus rebuilds them), so this checks the committed
    weights and threshold against the committed data, not a figure typed into the test.
    """
    fit, rows, outputs = labelled
    x, y, kind, _, is_fit = fit.dataset(rows, outputs, fit.load_rows(fit.REAL))
    model = load_weights()
    held = ~is_fit
    right = held & (kind == "real:right")
    disguise = held & np.char.startswith(kind.astype(str), "hardcoded:")
    assert right.sum() >= 200 and disguise.sum() >= 20
    p = fit.predict(model, x)
    assert (p[right] >= THRESHOLD).mean() <= 0.02
    assert (p[disguise] >= THRESHOLD).mean() >= 0.9


DOCSTRING = '"""Rows 5x13 in, 15x26 out: colours 2 -> 8 as in examples 1, 2 and 3 (0 1 2 3 4 5 6 7 8 9)."""\n'
ROT = "    return [row[::-1] for row in grid[::-1]]\n"


def test_docstrings_and_comments_are_not_evidence(training):
    task = training["3c9b0459"]
    out = task.train[0].output
    prose = (f"{DOCSTRING}\n# expected: {out}\ndef transform(grid):\n    {DOCSTRING}"
             f"    # like {out}\n    \"\"\"{out}\"\"\"\n" + ROT)
    plain = "def transform(grid):\n" + ROT
    assert features(prose, task) == features(plain, task)


def test_library_code_off_the_call_path_is_not_evidence(training):
    task = training["007bbfb7"]
    table = {i: [[(i * j) % 10 for j in range(9)] for _ in range(3)] for i in range(40)}
    library = (f"TABLE = {table}\nKEYS = {{(3, 1, 4, 1, 5): 'a9f3c2', 1234567: 7}}\n"
               f"def unused(g):\n    if g == {task.train[0].output}:\n        return {task.train[0].output}\n"
               "    return TABLE[len(g)]\n")
    assert features(library + FLIP, task) == features(FLIP, task)
    # ...but the same code, once the entry function calls it, is evidence again.
    used = library + "def transform(grid):\n    return unused(grid)\n"
    assert features(used, task)["literal_train"] > 0


def test_inlined_arc_dsl_solvers_are_general(training):
    """arc-dsl (MIT) solvers inlined with the whole 35 KB library: right programs, not hard-coders."""
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "arc_dsl_programs.jsonl").open()]
    assert len(rows) == 2
    for row in rows:
        task = training[row["task_id"]]
        result = _run(row["code"], task)
        assert all(result.train_correct) and all(result.test_correct), row["task_id"]
        assert hardcoded_probability(row["code"], task, result) < THRESHOLD / 2, row["task_id"]
