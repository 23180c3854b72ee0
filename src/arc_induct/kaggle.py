"""Kaggle facts: where the competition files are, the fallback submission, the GPUs and driver, the
wheel set that driver supports, whether this is the competition rerun and what budget that gives.

Standard library only (and `arc_induct.grids`, itself standard library only): notebooks/build.py
inlines both files into the notebook's first code cell, which runs before anything is installed,
so a missing wheels dataset still leaves a valid submission.json.

Covered: the 2026 (`input/competitions/<slug>/`) and 2025 (`input/<slug>/`) layouts; the task ids
to answer (sample_submission.json when present, else the test file); the fallback and the final
per-task merge of the run's answers into it; `nvidia-smi` GPUs and driver; the wheel sets attached
(their manifests say CUDA major and minimum driver) and which one to install; the model folder and
whether its weights fit one GPU; check run or full run and its budget; one error handler for the
notebook's steps. Nothing here reads the environment: the notebook passes what it read.
Not covered: the run (run.py), building wheels (wheels/wheelhouse.py), pushing the kernel
(kaggle_kernel/assemble.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_induct.grids import grid_fault

COMPETITION = "arc-prize-2026-arc-agi-2"
TEST_FILE = "arc-agi_test_challenges.json"  # Kaggle swaps in the hidden tasks at the rerun
SAMPLE_FILE = "sample_submission.json"
RERUN_VARIABLE = "KAGGLE_IS_COMPETITION_RERUN"  # set by Kaggle when it reruns a notebook to score it
FALLBACK_GRID = [[0]]  # a valid grid, never mistaken for a real answer
ATTEMPT_KEYS = ("attempt_1", "attempt_2")


class KaggleError(RuntimeError):
    """Something Kaggle-side is missing or unusable; the message names the path, driver or GPU."""


@dataclass(frozen=True)
class KagglePaths:
    """Kaggle's folders under one root: /kaggle on Kaggle, any folder for a rehearsal."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def working(self) -> Path:
        return self.root / "working"

    @property
    def submission(self) -> Path:
        return self.working / "submission.json"


# ---- the competition files -------------------------------------------------------------------

@dataclass(frozen=True)
class Competition:
    slug: str
    layout: str  # "2026" (input/competitions/<slug>/) or "2025" (input/<slug>/)
    test_file: Path
    sample_file: Path | None
    others: tuple[Path, ...] = ()  # further test files found and not used

    def describe(self) -> str:
        sample = self.sample_file.name if self.sample_file else f"no {SAMPLE_FILE} (ids from the test file)"
        text = f"competition {self.slug} ({self.layout} layout): {self.test_file}; {sample}"
        return text + "".join(f"; also found, not used: {p}" for p in self.others)


def find_competition(input_root: Path, prefer: str = COMPETITION) -> Competition:
    """The attached ARC competition's test file: `prefer` when several are attached, else the first."""
    input_root = Path(input_root)
    found = [(p, "2026") for p in sorted(input_root.glob(f"competitions/*/{TEST_FILE}"))]
    found += [(p, "2025") for p in sorted(input_root.glob(f"*/{TEST_FILE}"))]
    if not found:
        raise KaggleError(f"no {TEST_FILE} under {input_root} (looked in competitions/<slug>/ and <slug>/): "
                          f"attach the competition ({prefer})")
    found.sort(key=lambda pl: pl[0].parent.name != prefer)  # stable: the preferred slug first, else as found
    (test, layout), rest = found[0], found[1:]
    sample = test.parent / SAMPLE_FILE
    return Competition(test.parent.name, layout, test, sample if sample.is_file() else None,
                       tuple(p for p, _ in rest))


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise KaggleError(f"{path}: cannot read it as JSON ({e})") from None


def fallback_submission(competition: Competition) -> dict[str, list[dict]]:
    """A complete submission of FALLBACK_GRID: every id of the sample (else of the test file), with
    one entry per test input (the test file's count, else the sample's)."""
    test = read_json(competition.test_file)
    if not isinstance(test, dict):
        raise KaggleError(f"{competition.test_file}: expected an object of task id -> task")
    ids = read_json(competition.sample_file) if competition.sample_file else test
    if not isinstance(ids, dict) or not ids:
        raise KaggleError(f"{competition.sample_file or competition.test_file}: expected a non-empty object of task ids")
    sub = {}
    for task_id, sample_entries in ids.items():
        task = test.get(task_id)
        n = len(task["test"]) if isinstance(task, dict) and isinstance(task.get("test"), list) else len(sample_entries)
        sub[task_id] = [dict.fromkeys(ATTEMPT_KEYS, FALLBACK_GRID) for _ in range(max(n, 1))]
    return sub


def entry_faults(entries: Any, expected: list[dict]) -> list[str]:
    """Why `entries` cannot stand for one task whose fallback is `expected`; empty when it can."""
    if not isinstance(entries, list) or len(entries) != len(expected):
        return [f"expected a list of {len(expected)} entries"]
    faults = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != set(ATTEMPT_KEYS):
            faults.append(f"test {i}: expected exactly {', '.join(ATTEMPT_KEYS)}")
            continue
        faults += [f"test {i}, {k}: {f}" for k in ATTEMPT_KEYS if (f := grid_fault(entry[k])) is not None]
    return faults


def final_submission(path: Path, fallback: dict[str, list[dict]]) -> tuple[dict, list[str]]:
    """The file at `path` made valid task by task: each id of `fallback` keeps the run's answers when
    they are valid, else gets the fallback; ids not in `fallback` are dropped. Returns it and what was fixed."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        return fallback, [f"{path}: unreadable ({e}); the fallback for every task"]
    if not isinstance(found, dict):
        return fallback, [f"{path}: not an object; the fallback for every task"]
    final, fixed = {}, []
    for task_id, expected in fallback.items():
        faults = ["missing"] if task_id not in found else entry_faults(found[task_id], expected)
        final[task_id] = expected if faults else found[task_id]
        fixed += [f"task {task_id}: {faults[0]}; the fallback instead"] if faults else []
    fixed += [f"task {t}: not asked for; dropped" for t in sorted(set(found) - set(fallback))]
    return final, fixed


def write_json(path: Path, obj: Any) -> Path:
    """Atomically (temp file, fsync, rename), readable by all (mkstemp alone would leave 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---- GPUs, driver, wheel sets, model -------------------------------------------------------------

@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mib: int
    driver: str


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Lines of `nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.strip().splitlines():
        index, name, driver, memory = (part.strip() for part in line.split(","))
        gpus.append(Gpu(int(index), name, int(float(memory)), driver))
    return gpus


def find_gpus() -> list[Gpu]:
    """The NVIDIA GPUs this machine has; empty when there is no driver."""
    query = ["nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(query, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


@dataclass(frozen=True)
class WheelSet:
    path: Path
    name: str  # "slim", "cu12", "cu13" (older manifests: "full")
    cuda_major: int | None  # None: no CUDA wheels (slim)
    min_driver: str | None
    requirements: tuple[str, ...] = ()

    def describe(self) -> str:
        need = f"CUDA {self.cuda_major}, driver >= {self.min_driver}" if self.cuda_major else "no vLLM"
        return f"{self.name} ({need}) at {self.path}"


def find_wheel_sets(input_root: Path) -> list[WheelSet]:
    """Every wheelhouse attached under `input_root` (a folder with a wheelhouse manifest.json)."""
    sets = []
    for manifest in sorted(Path(input_root).glob("**/manifest.json")):
        try:
            m = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue  # some other dataset's manifest
        if isinstance(m, dict) and isinstance(m.get("wheels"), list) and "set" in m:
            sets.append(WheelSet(manifest.parent, m.get("flavour") or m["set"], m.get("cuda_major"),
                                 m.get("min_driver"), tuple(m.get("requirements", ()))))
    return sets


def choose_wheel_set(sets: list[WheelSet], driver: str | None, input_root: Path) -> WheelSet:
    """With a driver: the newest CUDA set it supports. Without (a CPU rehearsal): the lightest set."""
    if not sets:
        raise KaggleError(f"no wheels dataset under {input_root} (no manifest.json of wheels/wheelhouse.py): attach one")
    if driver is None:
        return min(sets, key=lambda s: s.cuda_major is not None)
    usable = [s for s in sets if s.cuda_major and s.min_driver and version_tuple(driver) >= version_tuple(s.min_driver)]
    if not usable:
        raise KaggleError(f"NVIDIA driver {driver} supports none of the wheel sets found: "
                          + "; ".join(s.describe() for s in sets))
    return max(usable, key=lambda s: s.cuda_major)


def pip_install_offline(wheels: Path, *requirements: str) -> str:
    """`pip install --no-index --find-links wheels ...` with this Python; its output's tail, or KaggleError."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), *requirements]
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise KaggleError(f"pip install from {wheels} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return "\n".join(done.stdout.splitlines()[-5:])


def find_model(input_root: Path, hint: Path | None) -> Path | None:
    """`hint` when it holds config.json, else the first folder under `input_root` that does."""
    if hint is not None and (Path(hint) / "config.json").is_file():
        return Path(hint)
    found = sorted(p.parent for p in Path(input_root).glob("**/config.json"))
    return found[0] if found else None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def weights_gib(model: Path) -> float:
    return sum(p.stat().st_size for p in Path(model).rglob("*") if p.suffix in WEIGHT_SUFFIXES) / 2**30


def check_fits(model: Path, gpus: list[Gpu], memory_share: float) -> None:
    """Each replica holds the whole model on one GPU: its weights must fit the share vLLM may use."""
    need = weights_gib(model)
    for gpu in gpus:
        usable = gpu.memory_mib / 1024 * memory_share
        if need >= usable:
            raise KaggleError(f"model {model}: {need:.1f} GiB of weights do not fit one GPU: GPU {gpu.index} "
                              f"({gpu.name}) has {gpu.memory_mib / 1024:.1f} GiB, {memory_share:g} of it = "
                              f"{usable:.1f} GiB; attach a smaller (e.g. FP8) model")


# ---- run mode, budget, steps -----------------------------------------------------------------------

def is_rerun(value: str | None) -> bool:
    """Kaggle sets RERUN_VARIABLE (to a non-empty value) only when it reruns the notebook to score it."""
    return bool(value)


@dataclass(frozen=True)
class RunPlan:
    full: bool
    budget_s: float
    max_tasks: int | None
    why: str


def plan_run(elapsed_s: float, rerun: bool, full_run: bool, total_hours: float, safety_hours: float,
             check_minutes: float, check_tasks: int, max_tasks: int | None = None) -> RunPlan:
    """The competition rerun (or FULL_RUN) gets Kaggle's limit minus a margin minus what the notebook
    already spent; any other run is a check: a few tasks for a few minutes, proving install, replicas
    and submission without burning a 12-hour session."""
    left = total_hours * 3600 - safety_hours * 3600 - elapsed_s
    if left <= 0:
        raise KaggleError(f"no time left: {elapsed_s / 3600:.2f} h spent of {total_hours} h minus {safety_hours} h")
    if rerun or full_run:
        why = f"{RERUN_VARIABLE} is set" if rerun else "FULL_RUN = True"
        return RunPlan(True, left, max_tasks, f"full run ({why}): {left / 3600:.2f} h")
    budget = min(left, check_minutes * 60)
    tasks = max_tasks if max_tasks is not None else check_tasks
    return RunPlan(False, budget, tasks, f"check run ({RERUN_VARIABLE} not set; FULL_RUN = True runs in full): "
                                         f"{tasks} tasks, {budget / 60:.1f} min")


@dataclass
class Steps:
    """The notebook's one error handler. A Kaggle notebook that raises forfeits its submission, so a
    failing step prints its traceback, is recorded, and the notebook goes on to its last cell."""

    failed: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def __call__(self, name: str):
        print(f"--- {name}", flush=True)
        try:
            yield
        except Exception as e:  # the boundary: a failure becomes a line in the final summary
            traceback.print_exc(file=sys.stdout)
            print(f"step {name!r} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}", flush=True)
            self.failed.append(name)

    @property
    def ok(self) -> bool:
        return not self.failed
