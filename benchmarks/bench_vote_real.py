"""The vote on pools of real models' programs, against its ceiling.

Reads `arc-induct execute` outputs of real programs (rows carry task_id, code, model and the
results; build them with scripts/build_real_corpus.py, then `arc-induct execute`), groups them
into pools (one per model, and all models pooled), votes two attempts per test input with the
real `voting.vote`, and reports per pool:
- oracle: tasks where some executed program is right on every test input (the vote's ceiling);
- pass@2: tasks where the vote's two attempts hold every test output;
- losses, each oracle task the vote misses by cause: `no_perfect_right` (no program right on every
  train pair *and* on test: the vote, which trusts train accuracy, cannot prefer a right one),
  `flagged` (every train-perfect right program is judged hard-coded, p >= threshold), `outvoted`.
- the share of train-perfect right programs flagged.
The filter's p is computed once per program here (as a run stores it). `--baseline DIR` also
scores with another transduction module (DIR/transduction.py beside its weights, e.g. the
code before a refit) and prints both side by side.
  .venv/bin/python benchmarks/bench_vote_real.py /work/corpus/executed.jsonl [--baseline DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from arc_induct import transduction
from arc_induct.store import Attempt
from arc_induct.tasks import load_tasks
from arc_induct.voting import vote

MIN_TASKS = 20  # a model with fewer oracle tasks gets no row of its own (it still counts pooled)


def load_filter(folder: Path | None):
    """(probability function, threshold) of the current module, or of DIR/transduction.py."""
    if folder is None:
        return transduction.probability_from_outputs, transduction.load_weights()["threshold"]
    spec = importlib.util.spec_from_file_location("baseline_transduction", folder / "transduction.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.probability_from_outputs, mod.load_weights()["threshold"]


def read_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        for line in path.open():
            row = json.loads(line)
            if row.get("status") is not None:
                rows.append(row)
    return rows


def pool_figures(rows: list[dict], p: list[float], threshold: float, tasks: dict) -> dict:
    by_task = defaultdict(list)
    for i, row in enumerate(rows):
        by_task[row["task_id"]].append(i)
    oracle = solved = 0
    losses = {"no_perfect_right": 0, "flagged": 0, "outvoted": 0}
    right_perfect = right_flagged = 0
    for task_id, idx in by_task.items():
        task = tasks[task_id]
        right = [i for i in idx if rows[i].get("test_correct") and all(rows[i]["test_correct"])]
        perfect_right = [i for i in right if all(rows[i]["train_correct"])]
        right_perfect += len(perfect_right)
        right_flagged += sum(p[i] >= threshold for i in perfect_right)
        if not right:
            continue
        oracle += 1
        attempts = [Attempt.from_json(rows[i] | {"hardcoded_probability": p[i]}, n) for n, i in enumerate(idx)]
        guesses = vote(task, attempts)
        ok = bool(guesses) and all(out in g for out, g in zip(task.test_outputs, guesses))
        solved += ok
        if not ok:
            if not perfect_right:
                losses["no_perfect_right"] += 1
            elif all(p[i] >= threshold for i in perfect_right):
                losses["flagged"] += 1
            else:
                losses["outvoted"] += 1
    return {"tasks": len(by_task), "oracle": oracle, "pass@2": solved,
            "of_oracle": round(solved / oracle, 4) if oracle else None, "losses": losses,
            "right_programs": right_perfect,
            "right_flagged": round(right_flagged / right_perfect, 4) if right_perfect else None}


def figures(rows: list[dict], p: list[float], threshold: float, tasks: dict) -> dict:
    by_model = defaultdict(list)
    for i, row in enumerate(rows):
        by_model[row.get("model") or "?"].append(i)
    out = {}
    for model, idx in sorted(by_model.items()):
        f = pool_figures([rows[i] for i in idx], [p[i] for i in idx], threshold, tasks)
        if f["oracle"] >= MIN_TASKS:
            out[model] = f
    out["pooled"] = pool_figures(rows, p, threshold, tasks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("executed", nargs="+", type=Path)
    ap.add_argument("--dataset", default="arc-agi-1/training")
    ap.add_argument("--baseline", type=Path, help="folder holding another transduction.py and its weights")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tasks = {t.id: t for t in load_tasks(args.dataset)}
    rows = [r for r in read_rows(args.executed) if r["task_id"] in tasks]
    report = {}
    for name, folder in [("after", None)] + ([("before", args.baseline)] if args.baseline else []):
        prob, threshold = load_filter(folder)
        start = time.perf_counter()
        p = [prob(r["code"], tasks[r["task_id"]], r.get("test_outputs")) for r in rows]
        seconds = time.perf_counter() - start
        report[name] = {"threshold": threshold, "p_seconds": round(seconds, 1), "pools": figures(rows, p, threshold, tasks)}
    print(f"{len(rows)} executed programs of {len({r['task_id'] for r in rows})} tasks")
    print(f"{'pool':58} {'tasks':>5} {'oracle':>6} " + " ".join(
        f"{n + ': pass@2 (of oracle) flagged losses np/fl/ov':>52}" for n in report))
    for pool in report["after"]["pools"]:
        cells = []
        for name in report:
            f = report[name]["pools"].get(pool)
            if f is None:
                cells.append(f"{'-':>52}")
                continue
            l = f["losses"]
            cells.append(f"{f['pass@2']:>16} ({f['of_oracle']:.2%}) {f['right_flagged'] or 0:>8.2%} "
                         f"{l['no_perfect_right']:>4}/{l['flagged']}/{l['outvoted']}".rjust(52))
        f = report["after"]["pools"][pool]
        print(f"{pool[:58]:58} {f['tasks']:>5} {f['oracle']:>6} " + " ".join(cells))
    for name in report:
        print(f"{name}: threshold {report[name]['threshold']}, p for every program in {report[name]['p_seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
