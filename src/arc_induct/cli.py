"""`arc-induct`: the command line. Each verb parses its flags and calls one library function.

Errors that come from bad input (a malformed file, an unknown dataset) are printed as one line
naming the file, task or field, with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import orjson

from arc_induct.config import PRESETS, ConfigError
from arc_induct.execution import Limits, LimitsError, ProgramFileError, execute_file
from arc_induct.scoring import ScoringError, score_submission
from arc_induct.store import StoreError
from arc_induct.submission import SubmissionError, read_submission, submission_faults
from arc_induct.tasks import NAMED_DATASETS, TaskFileError, by_size, load_tasks
from arc_induct.voting import VoteError, read_rows, tally

DATASET_HELP = (
    "a named dataset (" + ", ".join(NAMED_DATASETS) + "), a Kaggle *_challenges.json "
    "(its *_solutions.json is read when beside it), or a folder of task .json files"
)

# Input errors a user can fix; reported as one line, never a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    TaskFileError, SubmissionError, ScoringError, ProgramFileError, LimitsError, ConfigError, StoreError,
    VoteError)


def cmd_tasks(args: argparse.Namespace) -> int:
    tasks = load_tasks(args.dataset)
    if args.by_size:
        tasks = by_size(tasks)
    for t in tasks:
        print(f"{t.id}\ttrain={len(t.train)}\ttest={len(t.test_inputs)}\tcells={t.cells}")
    known = "with" if all(t.test_outputs is not None for t in tasks) else "without"
    print(f"{len(tasks)} tasks from {args.dataset}, {known} test outputs", file=sys.stderr)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    tasks = load_tasks(args.dataset)
    faults = submission_faults(read_submission(args.submission), tasks)
    for f in faults:
        print(f"{args.submission}: {f}")
    if faults:
        print(f"INVALID: {len(faults)} fault(s) against {len(tasks)} tasks of {args.dataset}")
        return 1
    print(f"valid: {len(tasks)} tasks of {args.dataset}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    tasks = load_tasks(args.dataset)
    sub = read_submission(args.submission)
    faults = submission_faults(sub, tasks)
    score = score_submission(sub, tasks)
    if args.per_task:
        for t in score.tasks:
            marks = "".join("1" if c else "0" for c in t.correct)
            print(f"{t.task_id}\t{t.score:.2f}\t[{marks}]")
    if faults:
        print(f"warning: {len(faults)} fault(s) in the submission (they score 0); see `arc-induct validate`")
    print(f"score: {score.total:g} / {len(score.tasks)} = {100 * score.fraction:.2f}%")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(score.to_json(), option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json}")
    return 0


def cmd_vote(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from arc_induct.submission import build_submission, write_submission

    tasks = load_tasks(args.dataset)
    rows = tqdm(read_rows(args.results), desc="vote", unit=" rows", disable=not sys.stderr.isatty())
    try:
        ballots = tally(rows, tasks)
    except VoteError as e:
        raise VoteError(f"{args.results}: {e}") from None
    answers = {tid: g for tid, b in ballots.items() if (g := b.guesses())}
    write_submission(args.out, build_submission(tasks, answers))
    used, skipped = sum(b.used for b in ballots.values()), sum(b.skipped for b in ballots.values())
    print(f"voted {used} programs ({skipped} without usable test outputs); "
          f"{len(answers)} of {len(tasks)} tasks answered, {len(tasks) - len(answers)} get the fallback")
    print(f"wrote {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from arc_induct.config import RunConfig
    from arc_induct.run import run_job

    budget_s = args.budget_seconds if args.budget_seconds is not None else (
        args.budget_hours * 3600 if args.budget_hours is not None else None)
    cfg = RunConfig.preset(
        args.preset,
        dataset=args.dataset, max_tasks=args.tasks, backend=args.backend, model=args.model,
        endpoints=tuple(args.endpoints) if args.endpoints else None, replay=args.replay,
        replicas=args.replicas, gpus=args.gpus, budget_s=budget_s, out=args.out,
        submission=args.submission, resume=args.resume or None,
        max_samples_per_task=args.samples_per_task, seed=args.seed, policy=args.policy,
    )
    report = run_job(cfg)
    print(report.text())
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    tasks = load_tasks(args.dataset)
    limits = Limits(timeout_s=args.timeout, max_timeout_s=args.max_timeout, memory_mb=args.memory_mb)
    start = time.monotonic()
    counts = execute_file(Path(args.programs), tasks, Path(args.out), args.workers, limits)
    seconds = time.monotonic() - start
    n = sum(counts.values())
    by_status = ", ".join(f"{k}={v}" for k, v in counts.most_common())
    print(f"executed {n} programs in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f} programs/s): {by_status or 'none'}; "
          f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arc-induct",
        description="Solve ARC-AGI tasks by program induction: sample programs, execute, filter, vote.",
    )
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    s = sub.add_parser("tasks", help="list the tasks of a dataset")
    s.add_argument("--dataset", required=True, help=DATASET_HELP)
    s.add_argument("--by-size", action="store_true", help="smallest first (the scheduler's order)")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("validate", help="check a submission.json against a dataset and list every fault")
    s.add_argument("submission")
    s.add_argument("--dataset", required=True, help=DATASET_HELP)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("score", help="score a submission.json with the ARC Prize metric")
    s.add_argument("submission")
    s.add_argument("--dataset", required=True, help=DATASET_HELP)
    s.add_argument("--per-task", action="store_true", help="print one line per task")
    s.add_argument("--json", metavar="OUT", help="also write the scores as JSON")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser(
        "vote", help="vote two attempts per test input from executed programs; write submission.json",
        description="Read RESULTS.jsonl as `arc-induct execute` writes it (one row per program: task_id, "
        "code, train_correct, test_outputs, ...), group programs of a task by their test outputs, weight "
        "each by (1 + 1000 x train accuracy) x (1 - hard-coded probability), and write the top two groups "
        "as attempt_1/attempt_2. Tasks without a usable program get the fallback grid. Score the result "
        "with `arc-induct score`.",
    )
    s.add_argument("results", help="JSONL of executed programs (streamed; any size)")
    s.add_argument("--dataset", required=True, help=DATASET_HELP + "; gives the tasks and their test counts")
    s.add_argument("--out", required=True, help="where to write submission.json (atomically)")
    s.set_defaults(func=cmd_vote)

    s = sub.add_parser(
        "run", help="the main job: sample, execute, vote and write submission.json within a budget",
        description="Sample programs for every task within a time budget and keep a valid submission.json "
        "at all times. With no flags: a smoke dry run on a few ARC-AGI-2 evaluation tasks with two CPU "
        "vLLM replicas of a tiny random model made locally (every stage real; score expected 0).",
    )
    s.add_argument("--preset", default="cpu-smoke", choices=sorted(PRESETS), help="named defaults (default: cpu-smoke)")
    s.add_argument("--dataset", help=DATASET_HELP)
    s.add_argument("--tasks", type=int, help="run only the N tasks with the shortest prompts")
    s.add_argument("--backend", choices=["vllm", "openai", "replay"], help="where completions come from")
    s.add_argument("--model", type=Path, help="model folder (vllm: served; all: its tokenizer renders prompts)")
    s.add_argument("--endpoints", nargs="+", metavar="URL", help="OpenAI-compatible base URLs (backend openai)")
    s.add_argument("--replay", type=Path, metavar="FILE", help="recorded completions (backend replay)")
    s.add_argument("--replicas", type=int, help="vLLM servers to start")
    s.add_argument("--gpus", type=int, help="GPUs to spread replicas over (0 = CPU)")
    s.add_argument("--policy", choices=["affinity", "round_robin", "least_loaded"], help="routing policy")
    budget = s.add_mutually_exclusive_group()
    budget.add_argument("--budget-hours", type=float, help="wall-clock budget of the whole run")
    budget.add_argument("--budget-seconds", type=float, help="the same, in seconds")
    s.add_argument("--samples-per-task", type=int, help="most samples any one task gets")
    s.add_argument("--seed", type=int)
    s.add_argument("--out", type=Path, help="run folder: attempts.jsonl, submission.json, report, logs")
    s.add_argument("--submission", type=Path, help="where to write submission.json (default: OUT/submission.json)")
    s.add_argument("--resume", action="store_true", help="continue the run stored in OUT")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "execute", help="run programs on their tasks' grids; write each row with its results (JSONL)",
        description="Run each program of PROGRAMS.jsonl (rows {\"task_id\": ..., \"code\": ..., any other "
        "fields}) on every train and test input of its task, in isolated processes. Each output row is "
        "the input row plus status, train_outputs, train_errors, test_outputs, test_errors, "
        "train_correct, test_correct (null when the dataset has no solutions) and seconds, in input "
        "order. Streams, so it re-scores files of any size. A malformed row or unknown task_id stops "
        "the run with one error naming the line; every row before it is already written.")
    s.add_argument("programs", metavar="PROGRAMS.jsonl")
    s.add_argument("--dataset", required=True, help=DATASET_HELP)
    s.add_argument("--out", required=True, metavar="RESULTS.jsonl", help="written row by row, in input order")
    s.add_argument("--workers", type=int, default=None, help="parallel programs (default: all cores)")
    s.add_argument("--timeout", type=float, default=Limits.timeout_s, metavar="S",
                   help="wall-clock seconds per grid (default %(default)s); a program gets this times its grid count")
    s.add_argument("--max-timeout", type=float, default=Limits.max_timeout_s, metavar="S",
                   help="cap on a program's whole wall-clock time (default %(default)s)")
    s.add_argument("--memory-mb", type=int, default=Limits.memory_mb, metavar="M",
                   help="address-space cap per program, interpreter included (default %(default)s)")
    s.set_defaults(func=cmd_execute)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"arc-induct: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
