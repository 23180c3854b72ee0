import ast
from pathlib import Path

import pytest

from arc_induct.config import PRESETS, ConfigError, RunConfig
from arc_induct.replicas import ServingConfig
from arc_induct.scheduler import SchedulerConfig
from arc_induct.transduction import THRESHOLD

SRC = Path(__file__).resolve().parents[1] / "src/arc_induct"


def test_dotted_overrides_reach_their_section_and_none_means_not_given():
    cfg = RunConfig.preset("cpu-smoke", {"serving.replicas": 3, "execution.limits.timeout_s": 2.5,
                                         "budget_s": None, "scheduling.early_stop_k": 1})
    assert cfg.serving.replicas == 3 and cfg.execution.limits.timeout_s == 2.5 and cfg.scheduling.early_stop_k == 1
    assert cfg.budget_s == PRESETS["cpu-smoke"].budget_s  # None: the flag was not given
    assert PRESETS["cpu-smoke"].serving.replicas == 2  # presets are values: never changed in place


@pytest.mark.parametrize("key", ["serving.replica", "nope", "execution.limits.timeout"])
def test_an_unknown_setting_is_named(key):
    with pytest.raises(ConfigError, match=f"unknown setting '{key}'"):
        RunConfig().override({key: 1})


def test_an_unknown_preset_is_named():
    with pytest.raises(ConfigError, match="kaggle-8xH100"):
        RunConfig.preset("kaggle-8xH100")


@pytest.mark.parametrize("changes, flag", [
    ({"backend": "grpc"}, "unknown backend 'grpc'"), ({"backend": "replay"}, "--replay FILE"),
    ({"backend": "openai"}, "--endpoints"), ({"routing.policy": "fastest"}, "--policy"),
    ({"budget_s": 0}, "--budget-seconds"), ({"max_tasks": 0}, "--tasks"), ({"serving.replicas": 0}, "--replicas"),
])
def test_settings_that_cannot_work_fail_before_any_work_naming_the_flag(changes, flag):
    with pytest.raises(ConfigError, match=flag):
        RunConfig().override(changes).check()


def test_each_section_is_the_one_source_of_its_defaults():
    assert RunConfig().serving == ServingConfig() and RunConfig().scheduling == SchedulerConfig()
    assert SchedulerConfig().hardcoded_threshold == THRESHOLD  # the fitted operating point, from its data file


def test_no_stage_below_the_entry_points_imports_the_whole_config():
    entry = {"config.py", "cli.py", "run.py", "__main__.py"}
    importers = []
    for path in SRC.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        if "arc_induct.config" in names and path.name not in entry:
            importers.append(path.name)
    assert importers == []


def test_an_unknown_api_or_grid_encoding_names_the_flag():
    with pytest.raises(ConfigError, match="--api 'grpc'"):
        RunConfig().override({"routing.api": "grpc"}).check()
    with pytest.raises(ConfigError, match="--grid-encoding 'hex'"):
        RunConfig().override({"prompts.encoding": "hex"}).check()
