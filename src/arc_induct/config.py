"""The one run configuration, built once at the entry point (CLI or notebook) and passed down.

Covered: every knob of `arc-induct run`, grouped in one frozen dataclass, and the named presets
`cpu-smoke` (the no-flags dry run on this kind of machine) and `kaggle-4xL4` (the competition).
Not covered: reading environment variables or files; nothing below the entry point does either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    backend: str = "vllm"  # vllm (start local replicas) | openai (given endpoints) | replay (a JSONL file)
    model: Path | None = None  # model folder; None with backend vllm = make a tiny random model under out/
    served_model_name: str = "arc-induct"
    endpoints: tuple[str, ...] = ()
    replay: Path | None = None
    replicas: int = 2
    gpus: int = 0  # 0 = CPU replicas
    max_model_len: int = 4096
    kv_cache_dtype: str = "auto"  # "fp8_e4m3" on L4s
    gpu_memory_utilization: float = 0.9  # per server; CPU servers size their cache by cpu_kvcache_gib
    cpu_kvcache_gib: int = 1
    prefix_caching: bool = True
    enforce_eager: bool = False  # skip torch.compile / CUDA graphs: faster start, slower decode
    policy: str = "affinity"
    request_timeout_s: float = 600.0

    # --- sampling
    samples_per_request: int = 2  # vLLM's n: one prompt, several programs (shares the prefix)
    max_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    min_p: float = 0.0
    in_flight_per_replica: int = 2
    seed: int = 0

    # --- scheduler
    budget_s: float = 180.0  # wall clock for the whole run, from its start
    reserve_min_s: float = 5.0  # always kept back for the final vote and write
    max_samples_per_task: int = 8
    extend_budget: bool = True  # when every task used its samples and time is left, sample more
    early_stop_k: int = 6  # programs right on all train pairs and not hard-coded
    give_up_after: int = 64  # samples with no program right on even one train pair
    refine_share: float = 0.5  # share of a task's requests that refine, once it has a partial program
    refine_c: float = 20.0  # REx: Beta(1 + C*h, 1 + C*(1-h) + times refined)
    hardcoded_threshold: float = 0.75
    checkpoint_every_s: float = 120.0

    # --- execution
    exec_workers: int | None = None  # None = the machine's cores
    exec_timeout_s: float = 1.0  # per grid; a program gets this times its grid count
    exec_max_timeout_s: float = 10.0
    exec_memory_mb: int = 1024

    # --- notes carried into the report
    notes: tuple[str, ...] = field(default=())

    @property
    def submission_path(self) -> Path:
        return self.submission if self.submission is not None else self.out / "submission.json"

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RunConfig:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


PRESETS: dict[str, RunConfig] = {
    # Runs anywhere in a few minutes: every stage real, the model random, the score expected 0.
    "cpu-smoke": RunConfig(
        max_tasks=4,
        out=Path("runs/cpu-smoke"),
        replicas=2,
        gpu_memory_utilization=0.1,
        enforce_eager=True,
        budget_s=150.0,
        max_tokens=256,
        max_samples_per_task=8,
        notes=("cpu-smoke: the model is a tiny random network made locally; its text is noise, "
               "so no program is expected and the score is expected to be 0.",),
    ),
    # ARC Prize 2025 on Kaggle: 4 L4 GPUs, one FP8 replica each, 12 h minus a margin.
    "kaggle-4xL4": RunConfig(
        dataset="/kaggle/input/arc-prize-2025/arc-agi_test_challenges.json",
        out=Path("/kaggle/working/run"),
        submission=Path("/kaggle/working/submission.json"),
        replicas=4,
        gpus=4,
        max_model_len=16384,
        kv_cache_dtype="fp8_e4m3",
        gpu_memory_utilization=0.92,
        samples_per_request=8,
        max_tokens=2048,
        in_flight_per_replica=16,
        budget_s=11.5 * 3600,
        reserve_min_s=300.0,
        max_samples_per_task=1024,
        early_stop_k=6,
        give_up_after=256,
        checkpoint_every_s=300.0,
    ),
}
