"""`arc-induct`: the command line. Each verb parses its flags and calls one library function.

Errors that come from bad input (a malformed file, an unknown dataset) are printed as one line
naming the file, task or field, with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from arc_induct.quantize import QuantizeError, folder_mb, quantization_summary, quantize
from arc_induct.replicas import ReplicaConfig, ReplicaError, Replicas, detect_gpus
from arc_induct.scoring import ScoringError, score_submission
from arc_induct.submission import SubmissionError, read_submission, submission_faults
from arc_induct.tasks import NAMED_DATASETS, TaskFileError, by_size, load_tasks

DATASET_HELP = (
    "a named dataset (" + ", ".join(NAMED_DATASETS) + "), a Kaggle *_challenges.json "
    "(its *_solutions.json is read when beside it), or a folder of task .json files"
)

# Input errors a user can fix; reported as one line, never a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (TaskFileError, SubmissionError, ScoringError,
                                            ReplicaError, QuantizeError)


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


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    # A preset fixes gpus/replicas unless flags say otherwise; without one, one server per GPU found.
    gpus = args.gpus if args.gpus is not None or args.preset else detect_gpus()
    replicas = args.replicas if args.replicas or args.preset else (gpus or 1)
    overrides = {k: v for k, v in dict(
        gpus=gpus, replicas=replicas, kv_cache_dtype=args.kv_cache_dtype,
        max_model_len=args.max_model_len, gpu_memory_utilization=args.memory_share,
        prefix_caching=not args.no_prefix_caching, served_model_name=args.served_model_name,
        log_dir=Path(args.log_dir), max_num_seqs=args.max_num_seqs).items() if v is not None}
    config = (ReplicaConfig.preset(args.preset, args.model, **overrides) if args.preset
              else ReplicaConfig(model=Path(args.model), **overrides))
    where = f"{config.gpus} GPU(s)" if config.gpus else "the CPU"
    print(f"starting {config.replicas} vLLM replica(s) of {config.model} on {where}; logs in {config.log_dir}",
          file=sys.stderr)
    try:  # Ctrl-C, during startup too, is the normal way to stop: Replicas kills every server on exit
        with Replicas(config) as replicas:
            for url in replicas.endpoints:
                print(url, flush=True)
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

    out = make_tiny_model(Path(args.out), seed=args.seed)
    print(f"wrote {out}: random tiny Qwen3 + BPE tokenizer (seed {args.seed}), {folder_mb(out):.1f} MB")
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
        "serve", help="start vLLM replicas (one per GPU, or N on the CPU) and print their URLs",
        description="Start independent vLLM OpenAI-compatible servers on free ports, restart any that "
                    "dies, and stop them all (process groups) on Ctrl-C. Each logs to LOG_DIR/replica-I.log.")
    s.add_argument("--model", required=True, help="a Hugging Face model folder (e.g. from `quantize`)")
    s.add_argument("--replicas", type=int, help="number of servers (default: one per GPU, or 1 on the CPU)")
    s.add_argument("--gpus", type=int, help="GPUs to use, 0 for the CPU (default: those nvidia-smi lists)")
    s.add_argument("--preset", choices=["kaggle-4xL4", "cpu-smoke"], help="machine preset; flags override it")
    s.add_argument("--kv-cache-dtype", help="auto | fp8 | fp8_e4m3 (FP8 doubles KV capacity)")
    s.add_argument("--max-model-len", type=int, help="longest prompt + completion, in tokens")
    s.add_argument("--memory-share", type=float, help="--gpu-memory-utilization per server")
    s.add_argument("--max-num-seqs", type=int, help="sequences a server batches at once")
    s.add_argument("--no-prefix-caching", action="store_true", help="disable vLLM's prefix cache")
    s.add_argument("--served-model-name", help="the name requests use (default: model)")
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
    s.set_defaults(func=cmd_make_tiny_model)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"arc-induct: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
