"""Refit the hard-coded-program detector: src/arc_induct/transduction_weights.json.

Reads the labelled programs (tests/data/transduction_programs.jsonl, written by
scripts/make_transduction_set.py), runs each on its real ARC task through `ExecutionPool` (the
behaviour features need the test outputs), fits an L2-regularised logistic regression with numpy
on the "fit" split, and reports precision/recall on the "held_out" split at the decision
threshold, plus leave-one-disguise-out recall (each hard-coded disguise left out of the fit in
turn) and leave-one-family-out false-positive rate (each family of general programs left out),
the honest figures for kinds of program the model has never seen. Deterministic.
  .venv/bin/python scripts/fit_transduction.py            # writes the JSON, prints the figures
  .venv/bin/python scripts/fit_transduction.py --dry-run  # figures only
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from arc_induct.tasks import load_tasks
from arc_induct.transduction import FEATURES, WEIGHTS_PATH, features, logistic

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "transduction_programs.jsonl"
THRESHOLD = 0.75  # the published operating point, and RunConfig.hardcoded_threshold's default
L2 = 0.1
STEPS = 4000
RATE = 0.5


def load_rows(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@functools.cache
def _tasks(dataset: str) -> dict:
    return {t.id: t for t in load_tasks(dataset)}


def task_of(row: dict):
    return _tasks(row["dataset"])[row["task_id"]]


def run_all(rows: list[dict]) -> list[tuple]:
    """Each program's test outputs, run through the real execution pool."""
    from arc_induct.execution import ExecutionPool

    with ExecutionPool() as pool:
        return [r.test_outputs for r in pool.imap((row["code"], task_of(row)) for row in rows)]


def matrix(rows: list[dict], test_outputs: list) -> np.ndarray:
    xs = [features(row["code"], task_of(row), outs) for row, outs in zip(rows, test_outputs)]
    return np.array([[x[f] for f in FEATURES] for x in xs], dtype=float)


def fit(x: np.ndarray, y: np.ndarray) -> dict:
    """Full-batch projected gradient descent on standardised features; the bias is not regularised."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= RATE * (z.T @ (p - y) / len(y) + L2 * w / len(y))
        # Every feature is built as evidence *for* hard-coding; a negative weight would only
        # learn a quirk of the labelled set (e.g. "deep code is general") that a new disguise
        # can exploit, so weights are kept >= 0 (projected gradient descent).
        w = np.maximum(w, 0.0)
        b -= RATE * float(np.mean(p - y))
    return {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
            "coef": w.round(6).tolist(), "intercept": round(b, 6), "threshold": THRESHOLD}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    return np.array([logistic(dict(zip(FEATURES, row)), model) for row in x])


def precision_recall(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    precision = tp / flagged.sum() if flagged.sum() else 1.0
    recall = tp / (y == 1).sum() if (y == 1).sum() else 1.0
    return round(float(precision), 4), round(float(recall), 4)


def evaluate(rows: list[dict], test_outputs: list) -> dict:
    x = matrix(rows, test_outputs)
    y = np.array([r["label"] for r in rows], dtype=float)
    is_fit = np.array([r["split"] == "fit" for r in rows])
    model = fit(x[is_fit], y[is_fit])
    held = predict(model, x[~is_fit])
    report = {
        "programs": {"fit": int(is_fit.sum()), "held_out": int((~is_fit).sum()),
                     "hard_coded": int(y.sum()), "general": int(len(y) - y.sum())},
        "held_out": {str(t): dict(zip(("precision", "recall"), precision_recall(held, y[~is_fit], t)))
                     for t in (0.5, THRESHOLD)},
        "data_sha256": hashlib.sha256(DATA.read_bytes()).hexdigest(),
    }
    kinds = sorted({r["kind"] for r in rows if r["label"] == 1})
    unseen = {}
    for kind in kinds:  # refit without this disguise, then see how much of it is still caught
        this = np.array([r["kind"] == kind for r in rows])
        m = fit(x[~this], y[~this])
        unseen[kind.split(":")[1]] = round(float((predict(m, x[this]) >= THRESHOLD).mean()), 3)
    report["leave_one_disguise_out_recall"] = unseen
    unseen_fp = {}
    for family in sorted({r["kind"].split(":")[0] for r in rows if r["label"] == 0}):
        this = np.array([r["label"] == 0 and r["kind"].startswith(family + ":") for r in rows])
        m = fit(x[~this], y[~this])
        unseen_fp[family] = round(float((predict(m, x[this]) >= THRESHOLD).mean()), 3)
    report["leave_one_family_out_false_positive_rate"] = unseen_fp
    # False positives among general programs by kind family, on the held-out split.
    fams = {}
    for r, p in zip([r for r, f in zip(rows, is_fit) if not f], held):
        if r["label"] == 0:
            fam = r["kind"].split(":")[0]
            fams.setdefault(fam, []).append(p >= THRESHOLD)
    report["held_out_false_positive_rate"] = {f: round(sum(v) / len(v), 3) for f, v in sorted(fams.items())}
    return model | {"fit_report": report}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="print the figures, do not write the weights")
    args = ap.parse_args()
    rows = load_rows()
    model = evaluate(rows, run_all(rows))
    print(json.dumps(model["fit_report"], indent=2))
    print(f"load average: {os.getloadavg()}")
    if not args.dry_run:
        WEIGHTS_PATH.write_text(json.dumps(model, indent=2) + "\n")
        print(f"wrote {WEIGHTS_PATH}")


if __name__ == "__main__":
    main()
