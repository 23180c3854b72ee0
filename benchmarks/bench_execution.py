"""Programs per second and CPU ms per program of `arc-induct execute` on 2 workers.

    .venv/bin/python benchmarks/bench_execution.py [--rounds 3] [--workers 2] [--baseline-src DIR]
                                                   [--model-programs FILE]

Each corpus runs through the CLI exactly as a user runs it (a fresh `python -m arc_induct execute`
process: pool start-up, reading, writing and the progress bar included):
- trivial: 4,000 rows of `def transform(grid): return grid` over arc-agi-1/training tasks: the
  pool's own cost per program (target: >= 400 programs/s on 2 workers);
- human: the 250 human-written programs of tests/data/transduction_programs.jsonl on their real
  arc-agi-1/training tasks (general solvers with numpy, collections, BFS; and hard-coders), x4;
- model (with --model-programs): the first 1,000 model-written programs of a corpus such as the
  real-text issue's (not shipped here: the completions' licences vary).
CPU ms per program is the CLI process and all its descendants (zygotes and program processes),
from RUSAGE_CHILDREN, so it holds up better than wall time on a shared machine. With
--baseline-src (the `src` folder of another checkout), that code runs in alternating rounds with
this one; the best round of each is reported, every round printed, with the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
TRIVIAL = "def transform(grid):\n    return grid\n"


def write_corpora(folder: Path, model_programs: Path | None) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "src"))
    from arc_induct.tasks import load_tasks

    ids = [t.id for t in load_tasks("arc-agi-1/training")]
    trivial = folder / "trivial.jsonl"
    trivial.write_bytes(b"".join(orjson.dumps({"task_id": ids[i % len(ids)], "code": TRIVIAL}) + b"\n"
                                 for i in range(4000)))
    rows = [orjson.loads(line) for line in (ROOT / "tests/data/transduction_programs.jsonl").read_bytes().splitlines()]
    rows = [r for r in rows if r["dataset"] == "arc-agi-1/training"]
    real = folder / "real.jsonl"
    real.write_bytes(b"".join(orjson.dumps({"task_id": r["task_id"], "code": r["code"]}) + b"\n" for r in rows * 4))
    corpora = {"trivial": trivial, "human": real}
    if model_programs is not None:  # e.g. a corpus of real model completions (not shipped: licences vary)
        known, picked = set(ids), []
        with model_programs.open("rb") as f:
            for line in f:
                r = orjson.loads(line)
                if r.get("task_id") in known and isinstance(r.get("code"), str):
                    picked.append(orjson.dumps({"task_id": r["task_id"], "code": r["code"]}) + b"\n")
                if len(picked) == 1000:
                    break
        (folder / "model.jsonl").write_bytes(b"".join(picked))
        corpora["model"] = folder / "model.jsonl"
    return corpora


def run_cli(src: Path, programs: Path, out: Path, workers: int) -> dict:
    n = sum(1 for _ in programs.open("rb"))
    env = {**os.environ, "PYTHONPATH": str(src)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arc_induct", "execute", str(programs), "--dataset", "arc-agi-1/training",
                    "--out", str(out), "--workers", str(workers)], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out.unlink()
    return {"per_s": n / wall, "cpu_ms": 1000 * cpu / n, "seconds": wall, "programs": n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the code to measure (default: this checkout's)")
    ap.add_argument("--baseline-src", type=Path, help="the src folder of another checkout, run alternately")
    ap.add_argument("--model-programs", type=Path, help="JSONL of model-written programs ({task_id, code}) on "
                    "arc-agi-1/training: the first 1,000 are a third corpus")
    args = ap.parse_args()
    sources = {"this checkout": args.src.resolve()}
    if args.baseline_src:
        sources["baseline"] = args.baseline_src.resolve()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.workers} workers; {args.rounds} rounds")
    best: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpora = write_corpora(Path(tmp), args.model_programs)
        for r in range(args.rounds):
            for corpus, path in corpora.items():
                for name, src in sources.items():
                    got = run_cli(src, path, Path(tmp) / "out.jsonl", args.workers)
                    print(f"  round {r + 1} {corpus:7} {name:13}: {got['per_s']:6.0f} programs/s, "
                          f"{got['cpu_ms']:.2f} CPU ms/program")
                    key = (corpus, name)
                    if key not in best or got["per_s"] > best[key]["per_s"]:
                        best[key] = got
    print("\n| corpus | code | programs | seconds | programs/s | CPU ms/program |")
    print("|---|---|---|---|---|---|")
    for (corpus, name), b in best.items():
        print(f"| {corpus} | {name} | {b['programs']} | {b['seconds']:.2f} | {b['per_s']:.0f} | {b['cpu_ms']:.2f} |")


if __name__ == "__main__":
    main()
