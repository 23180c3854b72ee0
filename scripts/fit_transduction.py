"""Refit the hard-coded-program detector: src/arc_induct/transduction_weights.json.

Two labelled sets, split by task (a hash of the task id: every program of a task is on one side):
- our programs (tests/data/transduction_programs.jsonl, written by scripts/make_transduction_set.py):
  general programs and hard-coders in 19 disguises, run here on their real ARC tasks through
  `ExecutionPool` (the behaviour features need the test outputs);
- programs of real models (tests/data/transduction_real_features.jsonl): their feature vectors
  only, derived from the real-text corpus (scripts/build_real_corpus.py; the programs' text has
  no licence to be copied). Label 0 ("real:right"): train-perfect and right on every test input.
  Label 1 ("real:literal"): train-perfect, wrong on test, and holding a train or test output
  among its literals. `--corpus DIR` rewrites that file from DIR/executed*.jsonl (`arc-induct
  execute` outputs of the corpus's programs: the models' and the hand-written ones) first.
Fits an L2-regularised logistic regression with numpy on the "fit" split, each class weighted to
half the total (real programs are mostly general; the synthetic set is half hard-coders), then
picks the threshold: the lowest on a grid that flags at most TARGET_FLAGGED of the real right
programs of the fit split. Reports, on the held-out tasks: precision/recall, the share of real
right programs flagged (the vote's loss) per model, recall on the synthetic disguises; and
leave-one-disguise-out recall. Deterministic.
  .venv/bin/python scripts/fit_transduction.py [--corpus /work/corpus]   # writes the JSON
  .venv/bin/python scripts/fit_transduction.py --dry-run                 # figures only
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from arc_induct.tasks import load_tasks
from arc_induct.transduction import (
    FEATURES,
    WEIGHTS_PATH,
    _nontrivial,
    features,
    in_literals,
    literal_stream,
    logistic,
    on_call_path,
)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "transduction_programs.jsonl"
REAL = DATA.with_name("transduction_real_features.jsonl")
DATASET = "arc-agi-1/training"
THRESHOLDS = tuple(round(0.5 + 0.025 * i, 3) for i in range(20))  # 0.5 .. 0.975
TARGET_FLAGGED = 0.01  # of the fit split's right programs; the held-out figure must stay <= 2%
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


def split_of(task_id: str) -> str:
    """The split make_transduction_set.py uses: about 30% of tasks held out."""
    return "held_out" if int(hashlib.sha1(task_id.encode()).hexdigest()[:8], 16) % 10 < 3 else "fit"


def real_rows(executed: list[Path]) -> list[dict]:
    """Labelled feature vectors of the real programs in `arc-induct execute` outputs."""
    tasks = _tasks(DATASET)
    out = []
    for line in (line for path in executed for line in path.open()):
        row = json.loads(line)
        task = tasks.get(row["task_id"])
        if task is None or row.get("status") != "ok" or not all(row["train_correct"]):
            continue
        tree = ast.parse(row["code"])
        stream = literal_stream(on_call_path(tree))
        grids = [p.output for p in task.train] + list(task.test_outputs or ())
        if all(row["test_correct"]):
            label, kind = 0, "real:right"
        elif any(_nontrivial(g) and in_literals(g, stream) for g in grids):
            label, kind = 1, "real:literal"
        else:
            continue  # wrong on test for a reason the code does not show: no label
        x = features(row["code"], task, row["test_outputs"])
        out.append({"task_id": task.id, "model": row.get("model"), "label": label, "kind": kind,
                    "split": split_of(task.id), "x": [round(x[f], 6) for f in FEATURES]})
    return out


def run_all(rows: list[dict]) -> list[tuple]:
    """Each program's test outputs, run through the real execution pool."""
    from arc_induct.execution import ExecutionPool

    with ExecutionPool() as pool:
        return [r.test_outputs for r in pool.imap((row["code"], task_of(row)) for row in rows)]


def matrix(rows: list[dict], test_outputs: list) -> np.ndarray:
    xs = [features(row["code"], task_of(row), outs) for row, outs in zip(rows, test_outputs)]
    return np.array([[x[f] for f in FEATURES] for x in xs], dtype=float)


def fit(x: np.ndarray, y: np.ndarray) -> dict:
    """Full-batch projected gradient descent on standardised features; the bias is not regularised.
    Each class carries half the total weight, so the many real general programs do not drown
    the few hard-coders (the threshold, not the prior, sets how cautious the filter is)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    sw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = sw * (p - y)
        w -= RATE * (z.T @ g / len(y) + L2 * w / len(y))
        # Every feature is built as evidence *for* hard-coding; a negative weight would only
        # learn a quirk of the labelled set (e.g. "deep code is general") that a new disguise
        # can exploit, so weights are kept >= 0 (projected gradient descent).
        w = np.maximum(w, 0.0)
        b -= RATE * float(np.mean(g))
    return {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
            "coef": w.round(6).tolist(), "intercept": round(b, 6)}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    return np.array([logistic(dict(zip(FEATURES, row)), model) for row in x])


def precision_recall(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    precision = tp / flagged.sum() if flagged.sum() else 1.0
    recall = tp / (y == 1).sum() if (y == 1).sum() else 1.0
    return round(float(precision), 4), round(float(recall), 4)


def choose_threshold(p_right: np.ndarray) -> float:
    """The lowest threshold flagging at most TARGET_FLAGGED of these right programs."""
    return next((t for t in THRESHOLDS if (p_right >= t).mean() <= TARGET_FLAGGED), THRESHOLDS[-1])


def share(mask: np.ndarray) -> float:
    return round(float(mask.mean()), 4) if len(mask) else float("nan")


def dataset(rows: list[dict], test_outputs: list, real: list[dict]):
    """Features, labels, kinds, models and splits of both sets, synthetic first."""
    x = np.vstack([matrix(rows, test_outputs), np.array([r["x"] for r in real], dtype=float).reshape(-1, len(FEATURES))])
    both = rows + real
    y = np.array([r["label"] for r in both], dtype=float)
    kind = np.array([r["kind"] for r in both])
    model = np.array([r.get("model") or "" for r in both])
    is_fit = np.array([r["split"] == "fit" for r in both])
    return x, y, kind, model, is_fit


def evaluate(rows: list[dict], test_outputs: list, real: list[dict]) -> dict:
    x, y, kind, who, is_fit = dataset(rows, test_outputs, real)
    right = kind == "real:right"
    disguise = np.char.startswith(kind.astype(str), "hardcoded:")
    model = fit(x[is_fit], y[is_fit])
    threshold = choose_threshold(predict(model, x[is_fit & right]))
    model["threshold"] = threshold
    p = predict(model, x)
    held = ~is_fit
    flagged = p >= threshold
    report = {
        "programs": {"synthetic": len(rows), "real": len(real), "fit": int(is_fit.sum()), "held_out": int(held.sum()),
                     "hard_coded": int(y.sum()), "general": int(len(y) - y.sum()),
                     "real_right": int(right.sum()), "real_literal": int((kind == "real:literal").sum())},
        "threshold": threshold,
        "held_out": {str(t): dict(zip(("precision", "recall"), precision_recall(p[held], y[held], t)))
                     for t in sorted({0.5, threshold})},
        "held_out_right_programs_flagged": share(flagged[held & right]),
        "held_out_right_programs_flagged_by_model": {
            m: share(flagged[held & right & (who == m)]) for m in sorted(set(who[held & right]))
            if (held & right & (who == m)).sum() >= 20},
        "held_out_synthetic_disguise_recall": share(flagged[held & disguise]),
        "held_out_real_literal_recall": share(flagged[held & (kind == "real:literal")]),
        "all_right_programs_flagged": share(flagged[right]),
        "all_synthetic_disguise_recall": share(flagged[disguise]),
        "data_sha256": hashlib.sha256(DATA.read_bytes() + (REAL.read_bytes() if REAL.exists() else b"")).hexdigest(),
    }
    unseen = {}
    for k in sorted(set(kind[disguise])):  # refit without this disguise, then see how much of it is still caught
        this = kind == k
        m = fit(x[~this], y[~this])
        unseen[k.split(":")[1]] = share(predict(m, x[this]) >= threshold)
    report["leave_one_disguise_out_recall"] = unseen
    return model | {"fit_report": report}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="print the figures, do not write the weights")
    ap.add_argument("--corpus", type=Path, help="rewrite the real feature rows from CORPUS/executed*.jsonl first")
    args = ap.parse_args()
    if args.corpus:
        real = real_rows(sorted(args.corpus.glob("executed*.jsonl")))
        REAL.write_text("".join(json.dumps(r) + "\n" for r in real))
        print(f"wrote {REAL}: {len(real)} rows")
    rows = load_rows()
    real = load_rows(REAL) if REAL.exists() else []
    model = evaluate(rows, run_all(rows), real)
    print(json.dumps(model["fit_report"], indent=2))
    print(f"load average: {os.getloadavg()}")
    if not args.dry_run:
        WEIGHTS_PATH.write_text(json.dumps(model, indent=2) + "\n")
        print(f"wrote {WEIGHTS_PATH}")


if __name__ == "__main__":
    main()
