"""`arc-induct`: the command line. Each verb parses its flags and calls one library function.

Errors that come from bad input (a malformed file, an unknown dataset) are printed as one line
naming the file, task or field, with exit status 2; anything else is a bug and keeps its traceback.
`run` exits 1 when it could not sample at all (no replica came up, no request succeeded): its
report says why, and the submission it leaves is still valid.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from arc_induct.config import BACKENDS, PRESETS, ConfigError
from arc_induct.batch import ProgramFileError, execute_file
from arc_induct.execution import Limits, LimitsError
from arc_induct.export import ExportError
from arc_induct.kaggle import find_gpus
from arc_induct.prompts import ENCODINGS, FormatError, builtin_formats
from arc_induct.quantize import QuantizeError, folder_mb, quantization_summary, quantize
from arc_induct.replicas import ReplicaError, Replicas, ServingConfig
from arc_induct.router import APIS, POLICIES, AuthError, RouterError, RoutingConfig
from arc_induct.scoring import ScoringError, score_submission
from arc_induct.store import StoreError, read_attempts
from arc_induct.submission import SubmissionError, read_submission, submission_faults
from arc_induct.tasks import NAMED_DATASETS, TaskFileError, by_size, load_tasks
from arc_induct.transduction import THRESHOLD
from arc_induct.voting import VoteError, answers, tally

DATASET_HELP = (
    "a named dataset (" + ", ".join(NAMED_DATASETS) + "), a Kaggle *_challenges.json "
    "(its *_solutions.json is read when beside it), or a folder of task .json files"
)

# Input errors a user can fix; reported as one line, never a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    TaskFileError, SubmissionError, ScoringError, ProgramFileError, LimitsError, ConfigError, StoreError,
    VoteError, ReplicaError, QuantizeError, ExportError, FormatError, AuthError,
    RouterError)  # escapes the run only when the backend cannot open at all (e.g. a malformed replay file)

THINKING = {"on": True, "off": False, "model": None}  # --thinking: enable_thinking sent, or nothing


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
    attempts = tqdm(read_attempts(args.results), desc="vote", unit=" rows", disable=not sys.stderr.isatty())
    try:
        ballots = tally(attempts, tasks)
    except VoteError as e:
        raise VoteError(f"{args.results}: {e}") from None
    guesses = answers(ballots)
    write_submission(args.out, build_submission(tasks, guesses))
    used, skipped = sum(b.used for b in ballots.values()), sum(b.skipped for b in ballots.values())
    print(f"voted {used} programs ({skipped} without usable test outputs); "
          f"{len(guesses)} of {len(tasks)} tasks answered, {len(tasks) - len(guesses)} get the fallback")
    print(f"wrote {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from arc_induct.config import RunConfig
    from arc_induct.run import run_job

    budget_s = args.budget_seconds if args.budget_seconds is not None else (
        args.budget_hours * 3600 if args.budget_hours is not None else None)
    cfg = RunConfig.preset(args.preset, {
        "dataset": args.dataset, "max_tasks": args.tasks, "backend": args.backend, "model": args.model,
        "endpoints": tuple(args.endpoints) if args.endpoints else None, "replay": args.replay,
        "budget_s": budget_s, "out": args.out, "submission": args.submission, "resume": args.resume or None,
        "seed": args.seed, "serving.replicas": args.replicas, "serving.gpus": args.gpus,
        "serving.served_model_name": args.served_model_name, "serving.max_model_len": args.max_model_len,
        "routing.policy": args.policy, "routing.api": args.api, "routing.api_key_env": args.api_key_env,
        "prompts.format": args.prompt_format, "prompts.encoding": args.grid_encoding,
        "sampling.max_tokens": args.max_tokens, "scheduling.max_samples_per_task": args.samples_per_task,
    })
    if args.thinking:  # replaced, not overridden: "model" is None, which override reads as "flag not given"
        thinking = THINKING[args.thinking]
        cfg = dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, thinking=thinking))
    # The one place the key is read: it goes to the router's headers, never into the config or a file.
    api_key = os.environ.get(cfg.routing.api_key_env) or None
    report = run_job(cfg, api_key=api_key)
    print(report.text())
    return 0 if report.error is None else 1  # nothing sampled (no replica up, every request failed)


def cmd_execute(args: argparse.Namespace) -> int:
    import signal
    from collections import Counter

    tasks = load_tasks(args.dataset)
    limits = Limits(timeout_s=args.timeout, max_timeout_s=args.max_timeout, memory_mb=args.memory_mb)
    inputs = [Path(args.dataset)] if Path(args.dataset).exists() else []
    counts: Counter[str] = Counter()
    # SIGTERM stops the run like Ctrl-C: the rows written so far stay (each is flushed as written).
    signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    start = time.monotonic()
    try:
        execute_file(Path(args.programs), tasks, Path(args.out), args.workers, limits, counts,
                     inputs=inputs)
    except KeyboardInterrupt:
        print(f"interrupted: {sum(counts.values())} rows written to {args.out}", file=sys.stderr)
        return 130
    seconds = time.monotonic() - start
    n = sum(counts.values())
    by_status = ", ".join(f"{k}={v}" for k, v in counts.most_common())
    print(f"executed {n} programs in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f} programs/s): {by_status or 'none'}; "
          f"wrote {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from arc_induct.export import ExportConfig, export, recorded_settings, summary

    # A flag wins; else what the run recorded (run_config.json); else the built-in default.
    recorded = recorded_settings(Path(args.source))
    if recorded.get("model") and not Path(recorded["model"]).is_dir():
        recorded["model"] = None  # moved or deleted since the run: its prompts go unchecked, as without --model

    def pick(flag: Any, key: str, default: Any) -> Any:
        return flag if flag is not None else recorded.get(key, default)

    settings = dict(dataset=pick(args.dataset, "dataset", None),
                    prompt_format=pick(args.prompt_format, "prompt_format", "default"),
                    grid_encoding=pick(args.grid_encoding, "grid_encoding", "digits"),
                    threshold=pick(args.hardcoded_threshold, "threshold", THRESHOLD),
                    model=pick(args.model, "model", None))
    if settings["dataset"] is None:
        raise ExportError(f"--dataset: required, {args.source} has no run_config.json to read it from")
    if recorded:
        print(f"settings not given as flags are the run's ({recorded['path']}): " +
              ", ".join(f"{k} {v}" for k, v in settings.items()))
    cfg = ExportConfig(kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
                       max_per_task=args.max_per_task, validation_share=args.validation_share,
                       threshold=settings["threshold"], assistant=args.assistant,
                       prompt_format=settings["prompt_format"], grid_encoding=settings["grid_encoding"],
                       allow_eval=args.allow_eval, workers=args.workers)
    manifest = export(Path(args.source), settings["dataset"], Path(args.out), cfg, model=settings["model"])
    print(summary(manifest))
    print(f"wrote {args.out}: train.jsonl, validation.jsonl, rows.jsonl, manifest.json")
    return 0


def _positive(kind: type) -> object:
    """An argparse type: a finite number > 0 (argparse names the flag in its one-line error)."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import time

    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT; serve
    # promises that SIGINT stops everything, so it takes the signal back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A preset fixes gpus/replicas unless flags say otherwise; without one, one server per GPU found.
    gpus = args.gpus if args.gpus is not None or args.preset else len(find_gpus())
    replicas = args.replicas if args.replicas or args.preset else (gpus or 1)
    overrides = {k: v for k, v in dict(
        gpus=gpus, replicas=replicas, kv_cache_dtype=args.kv_cache_dtype,
        max_model_len=args.max_model_len, gpu_memory_utilization=args.memory_share,
        prefix_caching=not args.no_prefix_caching, served_model_name=args.served_model_name,
        max_num_seqs=args.max_num_seqs).items() if v is not None}
    base = PRESETS[args.preset].serving if args.preset else ServingConfig()
    config = dataclasses.replace(base, **overrides)
    where = f"{config.gpus} GPU(s)" if config.gpus else "the CPU"
    print(f"starting {config.replicas} vLLM replica(s) of {args.model} on {where}; logs in {args.log_dir}",
          file=sys.stderr)
    try:  # Ctrl-C, during startup too, is the normal way to stop: Replicas kills every server on exit
        with Replicas(Path(args.model), config, log_dir=Path(args.log_dir)) as replicas:
            for url in replicas.endpoints:
                print(url, flush=True)
            for line in replicas.startup_failures:  # its URL is printed too: the watchdog keeps trying it
                print(f"warning: {line}; the watchdog keeps restarting it", file=sys.stderr)
            print(f"model name for requests: {config.served_model_name}. Ctrl-C stops all.", file=sys.stderr)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("replicas stopped", file=sys.stderr)
    return 0


def default_quantize_python() -> Path:
    """`.venv-quantize/bin/python` in the current folder, else beside this checkout's src/."""
    here = Path(".venv-quantize/bin/python")
    return here if here.exists() else Path(__file__).resolve().parents[2] / ".venv-quantize/bin/python"


def cmd_quantize(args: argparse.Namespace) -> int:
    python = Path(args.python) if args.python else default_quantize_python()
    out = quantize(Path(args.model_dir), Path(args.out), args.scheme, python=python)
    q = quantization_summary(out)
    print(f"wrote {out}: {args.scheme} {q.get('quant_method')} ({q.get('format')}, weights "
          f"{','.join(q.get('weight_types', []))}, unquantized {q.get('ignore')}), {folder_mb(out):.1f} MB")
    return 0


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from arc_induct.tiny_model import make_tiny_model

    out = make_tiny_model(Path(args.out), seed=args.seed, max_positions=args.max_positions)
    print(f"wrote {out}: random tiny Qwen3 + BPE tokenizer (seed {args.seed}, {args.max_positions} positions), "
          f"{folder_mb(out):.1f} MB")
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
    s.add_argument("--backend", choices=BACKENDS, help="where completions come from")
    s.add_argument("--model", type=Path, help="model folder (vllm: served; all: its tokenizer renders prompts)")
    s.add_argument("--endpoints", nargs="+", metavar="URL", help="OpenAI-compatible base URLs (backend openai)")
    s.add_argument("--replay", type=Path, metavar="FILE", help="recorded completions (backend replay)")
    s.add_argument("--served-model-name", help="the model name requests carry (backend openai: the servers')")
    s.add_argument("--api", choices=APIS, help="completions (default): text rendered here through --model's chat "
                   "template; chat: messages, rendered by the server (hosted services offer only this)")
    s.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key sent to the "
                   f"endpoints (default: {RoutingConfig.api_key_env}; unset = no key); the key is never printed or stored")
    s.add_argument("--prompt-format", metavar="NAME|FILE", help=f"built-in ({', '.join(builtin_formats())}) or a "
                   "Jinja2 template file (fields: see README, Prompt formats); use the one the model was trained on")
    s.add_argument("--grid-encoding", choices=sorted(ENCODINGS), help="how grids are written (default: digits)")
    s.add_argument("--thinking", choices=sorted(THINKING), help="off (default) / on: enable_thinking for the chat "
                   "template (--model's, or the server's via chat_template_kwargs); model: send nothing")
    s.add_argument("--max-tokens", type=int, help="most new tokens per completion, thinking included")
    s.add_argument("--max-model-len", type=int, help="prompt + max-tokens limit; lowered to the model's own limit "
                   "(config.json) when that is shorter; longer prompts are skipped")
    s.add_argument("--replicas", type=int, help="vLLM servers to start")
    s.add_argument("--gpus", type=int, help="GPUs to spread replicas over (0 = CPU)")
    s.add_argument("--policy", choices=sorted(POLICIES), help="routing policy")
    budget = s.add_mutually_exclusive_group()
    budget.add_argument("--budget-hours", type=float,
                        help="wall-clock budget: of the whole run, or from when sampling starts where the "
                             "preset says so (cpu-smoke: its replicas' start-up is not counted)")
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
        "fields}; a file or a pipe, streamed) on every train and test input of its task, in confined "
        "processes. Each output row is the input row plus status, train_outputs, train_errors, "
        "test_outputs, test_errors, train_correct, test_correct (null when the dataset has no solutions) "
        "and seconds, in input order, flushed as it is written. Inputs and flags are checked before "
        "RESULTS.jsonl is opened (it may not be an input). A malformed row or unknown task_id, Ctrl-C or "
        "SIGTERM stop the run; every row before is already written.")
    s.add_argument("programs", metavar="PROGRAMS.jsonl")
    s.add_argument("--dataset", required=True, help=DATASET_HELP)
    s.add_argument("--out", required=True, metavar="RESULTS.jsonl", help="written row by row, in input order")
    s.add_argument("--workers", type=_positive(int), default=None, help="parallel programs (default: all cores)")
    s.add_argument("--timeout", type=_positive(float), default=Limits.timeout_s, metavar="S",
                   help="wall-clock seconds per grid (default %(default)s); a program gets this times its grid count")
    s.add_argument("--max-timeout", type=_positive(float), default=Limits.max_timeout_s, metavar="S",
                   help="cap on a program's whole wall-clock time (default %(default)s)")
    s.add_argument("--memory-mb", type=_positive(int), default=Limits.memory_mb, metavar="M",
                   help="address-space cap per program, interpreter included (default %(default)s)")
    s.set_defaults(func=cmd_execute)

    s = sub.add_parser(
        "export", help="turn a run's attempts into chat-format fine-tuning data (JSONL) with a manifest",
        description="Read a run's store (RUN_DIR or its attempts.jsonl) and write OUT/train.jsonl and "
        "OUT/validation.jsonl (one {\"messages\": [system, user, assistant]} per line, split by task), "
        "OUT/rows.jsonl (each row's kind, tasks, attempt and target outputs) and OUT/manifest.json. Kinds: "
        "correct (first prompt -> a general program right on every train and known test pair), relabelled "
        "(a clean but wrong program, right for a new task made of its own outputs), refinements (parent's "
        "refinement prompt -> a child that raised train accuracy). Every target is re-executed first.")
    s.add_argument("source", metavar="RUN_DIR_OR_ATTEMPTS")
    s.add_argument("--dataset", help=DATASET_HELP + "; default: the run's (run_config.json)")
    s.add_argument("--out", required=True, help="folder to write (must not hold an export already)")
    s.add_argument("--kinds", default="correct,relabelled,refinements", help="comma list (default: %(default)s)")
    s.add_argument("--max-per-task", type=int, default=8, metavar="N", help="rows per task and kind (default %(default)s)")
    s.add_argument("--validation-share", type=float, default=0.1, help="share of tasks held out (default %(default)s)")
    s.add_argument("--prompt-format", metavar="NAME|FILE",
                   help=f"the run's prompt format: built-in ({', '.join(builtin_formats())}) or a template file "
                   "(default: the run's, from run_config.json; without one: default)")
    s.add_argument("--grid-encoding", choices=sorted(ENCODINGS), help="the run's (default: the run's, else digits)")
    s.add_argument("--model", type=Path, help="the run's model folder: its chat template re-renders each prompt "
                   "to check it against the hash the run stored (a difference is then an error; default: the "
                   "run's, when that folder exists)")
    s.add_argument("--assistant", choices=("program", "completion"), default="program",
                   help="assistant message: the program in a ```python block, or the model's whole text")
    s.add_argument("--hardcoded-threshold", type=float,
                   help=f"the run's scheduling.hardcoded_threshold (default: the run's, else {THRESHOLD})")
    s.add_argument("--allow-eval", action="store_true", help="export programs of an evaluation dataset anyway")
    s.add_argument("--workers", type=int, help="programs re-executed in parallel (default: all cores)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "serve", help="start vLLM replicas (one per GPU, or N on the CPU) and print their URLs",
        description="Start independent vLLM OpenAI-compatible servers on free ports, restart any that "
                    "dies, and stop them all (process groups) on Ctrl-C. Each logs to LOG_DIR/replica-I.log.")
    s.add_argument("--model", required=True, help="a Hugging Face model folder (e.g. from `quantize`)")
    s.add_argument("--replicas", type=int, help="number of servers (default: one per GPU, or 1 on the CPU)")
    s.add_argument("--gpus", type=int, help="GPUs to use, 0 for the CPU (default: those nvidia-smi lists)")
    s.add_argument("--preset", choices=sorted(PRESETS), help="replica settings of a run preset; flags override it")
    s.add_argument("--kv-cache-dtype", help="auto | fp8 | fp8_e4m3 (FP8 doubles KV capacity)")
    s.add_argument("--max-model-len", type=int, help="longest prompt + completion, in tokens (default: the "
                   f"preset's, else {ServingConfig.max_model_len}, lowered to the model's own limit from its "
                   "config.json, e.g. max_position_embeddings, when that is shorter)")
    s.add_argument("--memory-share", type=float, help="--gpu-memory-utilization per server")
    s.add_argument("--max-num-seqs", type=int, help="sequences a server batches at once")
    s.add_argument("--no-prefix-caching", action="store_true", help="disable vLLM's prefix cache")
    s.add_argument("--served-model-name", help="the name requests use (default: arc-induct)")
    s.add_argument("--log-dir", default="runs/replica-logs", help="one log file per server (default: %(default)s)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser(
        "quantize", help="FP8-quantize a model with llmcompressor (runs in .venv-quantize)",
        description="Write an FP8_DYNAMIC compressed-tensors checkpoint (lm_head kept unquantized) with "
                    "the tokenizer and chat template; serve it with --kv-cache-dtype fp8_e4m3 (GPU) or fp8 "
                    "(CPU). llmcompressor lives in its own venv because its pins differ from vLLM's.")
    s.add_argument("model_dir")
    s.add_argument("--out", required=True, help="folder to write the quantized model into")
    s.add_argument("--scheme", default="FP8_DYNAMIC", help="llmcompressor scheme (default: %(default)s)")
    s.add_argument("--python", help="interpreter with llmcompressor (default: .venv-quantize/bin/python)")
    s.set_defaults(func=cmd_quantize)

    s = sub.add_parser("make-tiny-model", help="write a random tiny Qwen3 model for tests and smoke runs")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-positions", type=int, default=8192, help="its context length (default %(default)s)")
    s.set_defaults(func=cmd_make_tiny_model)
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
