"""arc_induct.kaggle: the Kaggle facts the notebook relies on, checked on staged Kaggle folders.

The competition files are staged from real ARC tasks in both layouts; the wheel-set manifests are
written by wheels/wheelhouse.py itself (its producer), so reader and writer cannot drift apart.
The nvidia-smi parser reads lines in the format of the documented query (no GPU here).
"""

import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest

from arc_induct import kaggle
from arc_induct.grids import grid_fault

ROOT = Path(__file__).resolve().parents[1]


def load_script(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_script("notebook_build", ROOT / "notebooks" / "build.py")
wheelhouse = load_script("wheelhouse", ROOT / "wheels" / "wheelhouse.py")


@pytest.mark.parametrize("layout, where", [("2026", "competitions/arc-prize-2026-arc-agi-2"),
                                           ("2025", "arc-prize-2025")])
def test_finds_the_test_file_in_either_layout_and_names_it(tmp_path, layout, where):
    build.stage_input(tmp_path, tasks=3, layout=layout)
    found = kaggle.find_competition(tmp_path / "input")
    assert found.test_file == tmp_path / "input" / where / kaggle.TEST_FILE
    assert found.layout == layout and found.sample_file is not None
    assert str(found.test_file) in found.describe() and layout in found.describe()


def test_prefers_the_named_competition_and_names_the_others(tmp_path):
    build.stage_input(tmp_path, tasks=2, layout="2025")
    build.stage_input(tmp_path, tasks=2, layout="2026")
    found = kaggle.find_competition(tmp_path / "input", prefer="arc-prize-2025")
    assert found.slug == "arc-prize-2025"
    assert "arc-prize-2026-arc-agi-2" in found.describe()  # also found, not used
    assert kaggle.find_competition(tmp_path / "input").slug == kaggle.COMPETITION


def test_no_competition_is_one_error_naming_the_input_root(tmp_path):
    with pytest.raises(kaggle.KaggleError, match=f"no {kaggle.TEST_FILE} under {tmp_path}"):
        kaggle.find_competition(tmp_path)


def test_fallback_answers_every_sample_id_with_one_entry_per_test_input(tmp_path):
    folder = build.stage_input(tmp_path, tasks=4)
    test = json.loads((folder / kaggle.TEST_FILE).read_text())
    sample = json.loads((folder / kaggle.SAMPLE_FILE).read_text())
    sample["00000000"] = [{"attempt_1": [[0, 0]], "attempt_2": [[0, 0]]}] * 2  # in the sample only
    (folder / kaggle.SAMPLE_FILE).write_text(json.dumps(sample))
    fallback = kaggle.fallback_submission(kaggle.find_competition(tmp_path / "input"))
    assert set(fallback) == set(sample)
    for task_id, entries in fallback.items():
        assert len(entries) == (len(test[task_id]["test"]) if task_id in test else 2)
        assert all(set(e) == set(kaggle.ATTEMPT_KEYS) and grid_fault(e["attempt_1"]) is None for e in entries)


def test_without_a_sample_the_ids_come_from_the_test_file(tmp_path):
    folder = build.stage_input(tmp_path, tasks=3)
    (folder / kaggle.SAMPLE_FILE).unlink()
    found = kaggle.find_competition(tmp_path / "input")
    assert found.sample_file is None and "no sample_submission.json" in found.describe()
    assert set(kaggle.fallback_submission(found)) == set(json.loads((folder / kaggle.TEST_FILE).read_text()))


def test_final_submission_keeps_valid_answers_and_repairs_each_bad_task(tmp_path):
    fallback = {"a": [{"attempt_1": [[0]], "attempt_2": [[0]]}], "b": [{"attempt_1": [[0]], "attempt_2": [[0]]}] * 2,
                "c": [{"attempt_1": [[0]], "attempt_2": [[0]]}]}
    run = {"a": [{"attempt_1": [[1, 2]], "attempt_2": [[3]]}],  # valid: kept
           "b": [{"attempt_1": [[1]], "attempt_2": [[1]]}],  # one entry for two test inputs
           "z": [{"attempt_1": [[1]], "attempt_2": [[1]]}]}  # not asked for; "c" missing
    path = kaggle.write_json(tmp_path / "submission.json", run)
    final, fixed = kaggle.final_submission(path, fallback)
    assert final == {"a": run["a"], "b": fallback["b"], "c": fallback["c"]}
    assert [f.split(":")[0] for f in fixed] == ["task b", "task c", "task z"]
    path.write_text("{not json")
    assert kaggle.final_submission(path, fallback)[0] == fallback


def test_submission_is_written_atomically_and_readable_by_all(tmp_path):
    path = kaggle.write_json(tmp_path / "w" / "submission.json", {"a": []})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["submission.json"]


def test_nvidia_smi_lines_give_gpus_with_driver_and_memory():
    text = "0, NVIDIA L4, 550.54.15, 23034\n1, NVIDIA L4, 550.54.15, 23034\n"
    gpus = kaggle.parse_nvidia_smi(text)
    assert gpus == [kaggle.Gpu(0, "NVIDIA L4", 23034, "550.54.15"), kaggle.Gpu(1, "NVIDIA L4", 23034, "550.54.15")]
    assert kaggle.parse_nvidia_smi("") == []


@pytest.fixture
def wheel_sets(tmp_path):
    """Three attached wheel datasets, their manifests written by wheelhouse.py, plus an unrelated manifest."""
    runtime = {"cu12": "nvidia-cuda-runtime-cu12==12.8.90", "cu13": "nvidia-cuda-runtime==13.0.96"}
    for name in ("slim", "cu12", "cu13"):
        folder = tmp_path / "input" / f"arc-induct-wheels-{name}"
        folder.mkdir(parents=True)
        meta = {"set": name, **wheelhouse.flavour_meta(name, [runtime[name]] if name in runtime else [])}
        wheelhouse.write_manifest(folder, meta)
    (tmp_path / "input" / "other").mkdir()
    (tmp_path / "input" / "other" / "manifest.json").write_text('{"files": []}')
    return kaggle.find_wheel_sets(tmp_path / "input")


@pytest.mark.parametrize("driver, chosen", [("580.82.07", "cu13"), ("550.54.15", "cu12"), ("525.60.13", "cu12"),
                                            (None, "slim")])
def test_the_newest_set_the_driver_supports_is_chosen(wheel_sets, driver, chosen, tmp_path):
    assert sorted(s.name for s in wheel_sets) == ["cu12", "cu13", "slim"]
    assert kaggle.choose_wheel_set(wheel_sets, driver, tmp_path).name == chosen


def test_a_driver_too_old_for_every_set_stops_with_one_line_naming_driver_and_sets(wheel_sets, tmp_path):
    with pytest.raises(kaggle.KaggleError) as e:
        kaggle.choose_wheel_set(wheel_sets, "470.82.01", tmp_path)
    message = str(e.value)
    assert "\n" not in message and "470.82.01" in message
    assert "cu12 (CUDA 12, driver >= 525.60.13)" in message and "cu13 (CUDA 13, driver >= 580.65.06)" in message


def test_no_wheels_dataset_is_named(tmp_path):
    with pytest.raises(kaggle.KaggleError, match=f"no wheels dataset under {tmp_path}"):
        kaggle.choose_wheel_set(kaggle.find_wheel_sets(tmp_path), "580.82.07", tmp_path)


def test_weights_larger_than_one_gpu_are_refused_naming_model_and_gpu(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    weights = model / "model.safetensors"
    with open(weights, "wb") as f:
        f.truncate(21 * 2**30)  # sparse: its size without the disk space
    l4 = [kaggle.Gpu(0, "NVIDIA L4", 23034, "550.54.15")]
    with pytest.raises(kaggle.KaggleError, match=r"21\.0 GiB of weights do not fit one GPU: GPU 0 \(NVIDIA L4\)"):
        kaggle.check_fits(model, l4, 0.92)
    os.truncate(weights, 9 * 2**30)  # an 8B model in FP8
    kaggle.check_fits(model, l4, 0.92)
    assert kaggle.find_model(tmp_path, None) == model and kaggle.find_model(tmp_path, tmp_path / "nothing") == model


def test_only_the_rerun_or_full_run_gets_the_full_budget_counted_from_the_first_cell():
    full = kaggle.plan_run(600, rerun=True, full_run=False, total_hours=12, safety_hours=0.5, check_minutes=10,
                           check_tasks=4)
    assert (full.full, full.budget_s, full.max_tasks) == (True, 11.5 * 3600 - 600, None)
    check = kaggle.plan_run(600, rerun=False, full_run=False, total_hours=12, safety_hours=0.5, check_minutes=10,
                            check_tasks=4)
    assert (check.full, check.budget_s, check.max_tasks) == (False, 600, 4)
    assert "KAGGLE_IS_COMPETITION_RERUN not set" in check.why
    forced = kaggle.plan_run(0, rerun=False, full_run=True, total_hours=12, safety_hours=0.5, check_minutes=10,
                             check_tasks=4, max_tasks=7)
    assert (forced.full, forced.max_tasks) == (True, 7)
    with pytest.raises(kaggle.KaggleError, match="no time left"):
        kaggle.plan_run(12 * 3600, rerun=True, full_run=False, total_hours=12, safety_hours=0.5, check_minutes=10,
                        check_tasks=4)
    assert kaggle.is_rerun("True") and not kaggle.is_rerun(None) and not kaggle.is_rerun("")


def test_a_failing_step_is_recorded_and_printed_not_raised(capsys):
    steps = kaggle.Steps()
    with steps("install"):
        raise kaggle.KaggleError("no wheels dataset under /kaggle/input")
    with steps("report"):
        pass
    out = capsys.readouterr().out
    assert steps.failed == ["install"] and not steps.ok
    assert "Traceback" in out and "step 'install' failed: no wheels dataset under /kaggle/input" in out
    with pytest.raises(KeyboardInterrupt):  # a person stopping the notebook is not a failed step
        with steps("run"):
            raise KeyboardInterrupt



def test_the_kaggle_presets_hard_code_no_competition_and_the_rehearsal_runs_on_the_cpu():
    from arc_induct.config import PRESETS

    kaggle_cfg, rehearsal = PRESETS["kaggle"], PRESETS["kaggle-cpu"]
    assert "/kaggle/input" not in str(kaggle_cfg.dataset) and kaggle_cfg.serving.kv_cache_dtype == "fp8_e4m3"
    assert kaggle_cfg.progress_every_s == 60
    assert rehearsal.serving.gpus == 0 and rehearsal.serving == PRESETS["cpu-smoke"].serving
    assert rehearsal.budget_from == "start" and not rehearsal.scheduling.extend_budget  # ends when tasks are done
    assert (rehearsal.budget_s, rehearsal.progress_every_s) == (kaggle_cfg.budget_s, kaggle_cfg.progress_every_s)
