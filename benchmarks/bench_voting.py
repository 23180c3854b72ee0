"""How long a checkpoint vote takes over a 12-hour run's worth of programs.

What it answers: the run votes over every attempt so far at each checkpoint, so the vote must stay
well under the checkpoint interval at Kaggle scale (240 tasks x a few hundred programs). Rows are
built on the real ARC-AGI-2 evaluation tasks (120, taken twice as 240 ids): each task gets
--per-task programs whose test outputs are drawn from a handful of candidate grids (mostly
wrong), with random train accuracy; a tenth have no usable output.

Two runs side by side:
- "stored p": rows carry `hardcoded_probability`, as `run` stores them (the normal path);
- baseline "computed p": rows carry code instead, so the detector runs at vote time (what
  `arc-induct vote` does on rows without the field).
  .venv/bin/python benchmarks/bench_voting.py --per-task 300
"""

from __future__ import annotations

import argparse
import os
import random
import time

from arc_induct.store import Attempt
from arc_induct.tasks import Task, load_tasks
from arc_induct.voting import answers, tally

CODE = "def transform(grid):\n    out = [row[:] for row in grid]\n    return [r[::-1] for r in out]\n"


def make_rows(tasks: list[Task], per_task: int, with_p: bool, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for task in tasks:
        candidates = [[[rng.randrange(10) for _ in g[0]] for _ in g] for g in task.test_inputs for _ in range(5)]
        for i in range(per_task):
            usable = rng.random() > 0.1
            outs = [candidates[rng.randrange(len(candidates))] for _ in task.test_inputs] if usable else None
            right = rng.randrange(len(task.train) + 1)
            row = {"task_id": task.id, "index": i, "kind": "first", "status": "ok" if usable else "no_program",
                   "train_outputs": [None] * len(task.train), "train_errors": [None] * len(task.train),
                   "test_outputs": outs, "test_errors": [None] * len(task.test_inputs), "seconds": 0.0,
                   "train_correct": [k < right for k in range(len(task.train))], "code": CODE}
            row |= {"hardcoded_probability": rng.random() * 0.3} if with_p else {}
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-task", type=int, default=300, help="programs per task (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    base = load_tasks("arc-agi-2/evaluation")
    tasks = base + [Task(t.id + "_b", t.train, t.test_inputs, t.test_outputs) for t in base]
    figures = {}
    for name, with_p in (("stored p", True), ("computed p (baseline)", False)):
        rows = make_rows(tasks, args.per_task, with_p, args.seed)
        t0 = time.perf_counter()  # from rows as read from a store: checking each row is part of voting
        guesses = answers(tally((Attempt.from_json(r) for r in rows), tasks))
        figures[name] = time.perf_counter() - t0
        print(f"{name:24s} {len(rows):7d} rows  {figures[name]:7.2f} s  {len(rows) / figures[name]:9.0f} rows/s  "
              f"{len(guesses)} tasks answered")
    ratio = figures["computed p (baseline)"] / figures["stored p"]
    print(f"stored p is {ratio:.1f}x faster than computing p at vote time")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
