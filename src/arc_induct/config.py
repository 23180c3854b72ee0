"""The one run configuration, built once at the entry point (CLI or notebook) and passed down.

Covered: `RunConfig`, a tree of frozen sections, each defined (with its defaults) by the stage that
takes it: `prompts` (prompts.PromptConfig), `serving` (replicas.ServingConfig), `routing` and
`sampling` (router), `scheduling` (scheduler.SchedulerConfig), `execution` (execution.ExecutionConfig). The run-level settings
(what to solve, where to write, which backend, the budget) sit at the top. Presets are values of
the tree; `override` applies flags given as dotted names ("serving.replicas").
Not covered: reading environment variables or files; nothing below the entry point does either,
and no stage below `run` sees the whole tree, only its section. Secrets (an API key) are never part
of the tree: the entry point reads the key from the variable `routing.api_key_env` names and passes
it to `run_job` apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from arc_induct.execution import ExecutionConfig, Limits
from arc_induct.prompts import ENCODINGS, PromptConfig
from arc_induct.replicas import ServingConfig
from arc_induct.router import APIS, POLICIES, RoutingConfig, SamplingConfig
from arc_induct.scheduler import SchedulerConfig

BACKENDS = ("vllm", "openai", "replay")  # start local replicas | given endpoints | a recorded JSONL file


class ConfigError(ValueError):
    """A run was asked for with settings that cannot work together; the message names the flag."""


@dataclass(frozen=True)
class RunConfig:
    # --- what to solve, where to write
    dataset: str = "arc-agi-2/evaluation"
    max_tasks: int | None = None  # the first N tasks by prompt length (shortest first); None = all
    out: Path = Path("runs/smoke")
    submission: Path | None = None  # default: <out>/submission.json
    resume: bool = False

    # --- where completions come from
    backend: str = "vllm"
    model: Path | None = None  # model folder; None with backend vllm = make a tiny random model under out/
    endpoints: tuple[str, ...] = ()
    replay: Path | None = None

    # --- the clock
    budget_s: float = 180.0  # wall clock for the whole run, from its start (see budget_from)
    # "start": the budget is the whole run (Kaggle's limit is wall clock). "sampling": it counts from
    # when sampling starts, so a dry run samples for its budget however long replicas took to start.
    budget_from: str = "start"
    reserve_min_s: float = 5.0  # always kept back for the final vote and write
    checkpoint_every_s: float = 120.0
    seed: int = 0
    progress_every_s: float = 1.0  # at most one progress line this often (off a terminal each one is kept)

    # --- each stage's own section
    prompts: PromptConfig = field(default_factory=PromptConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    scheduling: SchedulerConfig = field(default_factory=SchedulerConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    notes: tuple[str, ...] = ()  # carried into the report

    @property
    def submission_path(self) -> Path:
        return self.submission if self.submission is not None else self.out / "submission.json"

    def to_json(self) -> bytes:
        """The whole tree (paths as text), as a run records it in OUT/run_config.json: what `export`
        reads back (dataset, model, prompt format, threshold) and what a reader checks a run against."""
        return orjson.dumps(dataclasses.asdict(self), default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    def override(self, changes: dict[str, Any]) -> RunConfig:
        """A copy with `changes` applied; keys are field names, dotted for sections
        ("serving.replicas", "execution.limits.timeout_s"); None values are skipped (flag not given)."""
        cfg: Any = self
        for key, value in changes.items():
            if value is not None:
                cfg = _replace_path(cfg, key.split("."), value, key)
        return cfg

    def check(self) -> RunConfig:
        """Fail before any work when the settings cannot work; the message names the flag."""
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: choose {', '.join(BACKENDS)}")
        if self.backend == "replay" and self.replay is None:
            raise ConfigError("--backend replay needs --replay FILE")
        if self.backend == "openai" and not self.endpoints:
            raise ConfigError("--backend openai needs --endpoints URL [URL ...]")
        if self.routing.api not in APIS:
            raise ConfigError(f"unknown --api {self.routing.api!r}: choose {', '.join(APIS)}")
        if self.prompts.encoding not in ENCODINGS:
            raise ConfigError(f"unknown --grid-encoding {self.prompts.encoding!r}: choose {', '.join(ENCODINGS)}")
        if self.routing.policy not in POLICIES:
            raise ConfigError(f"unknown --policy {self.routing.policy!r}: choose {', '.join(POLICIES)}")
        if self.budget_from not in ("start", "sampling"):
            raise ConfigError(f"budget_from must be 'start' or 'sampling', got {self.budget_from!r}")
        if self.budget_s <= 0:
            raise ConfigError(f"--budget-seconds must be > 0, got {self.budget_s}")
        if self.max_tasks is not None and self.max_tasks < 1:
            raise ConfigError(f"--tasks must be >= 1, got {self.max_tasks}")
        if self.serving.replicas < 1:
            raise ConfigError(f"--replicas must be >= 1, got {self.serving.replicas}")
        return self

    @classmethod
    def preset(cls, name: str, changes: dict[str, Any] | None = None) -> RunConfig:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return PRESETS[name].override(changes or {})


def _replace_path(obj: Any, path: list[str], value: Any, key: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in names:
        raise ConfigError(f"unknown setting {key!r}")
    if len(path) > 1:
        value = _replace_path(getattr(obj, path[0]), path[1:], value, key)
    return dataclasses.replace(obj, **{path[0]: value})


PRESETS: dict[str, RunConfig] = {
    # Runs anywhere in a few minutes: every stage real, the model random (unless --model), the score
    # expected 0. It samples for its whole budget, counted from the start of sampling: two CPU
    # replicas take 45 s to start on a quiet 2-core machine and 2 minutes on a loaded one, and a dry
    # run that spent its budget waiting for them would show nothing. It never gives up on a task:
    # the random model's noise would make every task give up within a minute or so and end the run
    # long before its budget.
    "cpu-smoke": RunConfig(
        max_tasks=4,
        out=Path("runs/cpu-smoke"),
        budget_s=150.0,
        budget_from="sampling",
        serving=ServingConfig(replicas=2, gpu_memory_utilization=0.1, enforce_eager=True),
        sampling=SamplingConfig(max_tokens=256),
        scheduling=SchedulerConfig(max_samples_per_task=8, give_up_after=1_000_000),
    ),
    # The Kaggle competition (ARC Prize 2026, ARC-AGI-2 track) on 4xL4: one FP8 replica per GPU, 12 h
    # minus a margin. The notebook sets the paths under KAGGLE_ROOT, the budget (check run or full
    # rerun) and replicas = gpus = the GPUs it finds (arc_induct.kaggle owns those facts).
    "kaggle": RunConfig(
        out=Path("runs/kaggle"),
        budget_s=11.5 * 3600,
        reserve_min_s=300.0,
        checkpoint_every_s=300.0,
        progress_every_s=60.0,  # a 12-hour log keeps ~700 progress lines, not one per loop
        serving=ServingConfig(replicas=4, gpus=4, max_model_len=16384, kv_cache_dtype="fp8_e4m3",
                              gpu_memory_utilization=0.92),
        routing=RoutingConfig(in_flight_per_replica=16),
        sampling=SamplingConfig(max_tokens=2048),
        scheduling=SchedulerConfig(samples_per_request=8, max_samples_per_task=1024, early_stop_k=6,
                                   give_up_after=256),
    ),
}
# The notebook's rehearsal (ACCELERATOR = "cpu"): the kaggle run (its budget the whole run's wall
# clock) on the smoke preset's CPU replicas and sampling, with 8 samples per task and no extension,
# so that the check run ends once each task has them (about a minute) instead of at its deadline.
PRESETS["kaggle-cpu"] = dataclasses.replace(
    PRESETS["kaggle"], serving=PRESETS["cpu-smoke"].serving, sampling=PRESETS["cpu-smoke"].sampling,
    routing=PRESETS["cpu-smoke"].routing, scheduling=SchedulerConfig(max_samples_per_task=8, extend_budget=False),
    reserve_min_s=PRESETS["cpu-smoke"].reserve_min_s, checkpoint_every_s=PRESETS["cpu-smoke"].checkpoint_every_s)

__all__ = ["BACKENDS", "PRESETS", "ConfigError", "ExecutionConfig", "Limits", "PromptConfig", "RoutingConfig",
           "RunConfig",
           "SamplingConfig", "SchedulerConfig", "ServingConfig"]
