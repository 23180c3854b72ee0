"""The Kaggle notebook: built from its jupytext source, parameters injected, executed headless.

The CPU-mode execution starts real CPU vLLM servers through `arc_induct.run` (the `cpu-smoke`
preset), so it needs the `cpu` extra and is marked `vllm`.
Kaggle mode is executed against a staged /kaggle/input (real wheels, real tasks) in a fresh venv
kernel; with no GPU here its vLLM steps fail, which is exactly what it must survive.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "notebooks" / "build.py"
SOURCE = ROOT / "notebooks" / "arc_induct_kaggle.py"


def build(*args, cwd=ROOT, timeout=None):
    return subprocess.run([sys.executable, str(BUILD), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def outputs_text(nb):
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def errors(nb):
    return [out for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]


def validate(submission: Path, dataset: Path):
    return subprocess.run([sys.executable, "-m", "arc_induct", "validate", str(submission), "--dataset", str(dataset)],
                          capture_output=True, text=True)


def test_build_writes_a_valid_notebook_with_a_tagged_parameters_cell(tmp_path):
    out = tmp_path / "nb.ipynb"
    done = build("-o", str(out))
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'MODE = "auto"' in tagged[0].source
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]


def test_set_injects_parameters_right_after_the_parameters_cell(tmp_path):
    out = tmp_path / "nb.ipynb"
    done = build("-o", str(out), "--set", "MODE=cpu", "--set", "N_TASKS=2", "--set", "BUDGET_HOURS=0.01")
    assert done.returncode == 0, done.stderr
    cells = nbformat.read(out, as_version=4).cells
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    injected = cells[at + 1]
    assert injected.metadata.tags == ["injected-parameters"]
    scope = {}
    exec(cells[at].source + "\n" + injected.source, scope)
    assert (scope["MODE"], scope["N_TASKS"], scope["BUDGET_HOURS"]) == ("cpu", 2, 0.01)


def test_unknown_parameter_is_refused_naming_the_source(tmp_path):
    done = build("-o", str(tmp_path / "nb.ipynb"), "--set", "MODEL=x")
    assert done.returncode == 2
    assert str(SOURCE) in done.stderr and "MODEL" in done.stderr
    assert not (tmp_path / "nb.ipynb").exists()


def test_fallback_submission_is_written_before_a_later_cell_fails(tmp_path):
    """A run that cannot start (no such model) fails the cpu-mode notebook, yet a valid submission
    for every task already exists: the fallback is written before anything heavy."""
    run = tmp_path / "run"
    out = tmp_path / "nb.ipynb"
    done = build("-o", str(out), "--execute", "--timeout", "300", "--cwd", str(tmp_path),
                 "--set", "MODE=cpu", "--set", "N_TASKS=2", "--set", f"OUT_DIR={str(run)!r}",
                 "--set", f"MODEL_DIR={str(tmp_path / 'no-such-model')!r}", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors(nbformat.read(out, as_version=4))
    challenges = run / "cpu_challenges.json"
    assert len(json.loads(challenges.read_text())) == 2
    checked = validate(run / "submission.json", challenges)
    assert checked.returncode == 0, checked.stdout


@pytest.mark.vllm
def test_cpu_mode_runs_headless_and_its_submission_validates(tmp_path):
    """The CI check of issue 7: generated with jupytext, executed with nbclient in cpu mode on a few
    real ARC-AGI-2 tasks, and the submission it writes passes `arc-induct validate`."""
    run = tmp_path / "run"
    out = tmp_path / "executed.ipynb"
    done = build("-o", str(out), "--execute", "--timeout", "1500", "--cwd", str(tmp_path),
                 "--set", "MODE=cpu", "--set", "N_TASKS=3", "--set", f"OUT_DIR={str(run)!r}", timeout=1800)
    nb = nbformat.read(out, as_version=4)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not errors(nb)
    text = outputs_text(nb)
    assert "valid for 3 tasks" in text
    assert "no report" not in text and "failed steps: none" in text
    checked = validate(run / "submission.json", run / "cpu_challenges.json")
    assert checked.returncode == 0, checked.stdout


def test_kaggle_mode_installs_offline_and_never_raises(tmp_path):
    """Kaggle mode in a fresh venv kernel, with /kaggle/input staged from real parts: the slim
    wheelhouse, competition-format tasks, a model folder. No pip config, no index: the install is
    offline. vLLM is not in the slim wheels and there is no GPU, so the vLLM install and the run
    fail; the notebook must still finish (a raised error forfeits a Kaggle submission) and leave a
    valid submission.json for every task."""
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "wheels" / "wheelhouse.py")
    wheelhouse = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wheelhouse)
    kaggle_input = tmp_path / "input"
    wheelhouse.build(kaggle_input / "arc-induct-wheels", "slim", None, [], wheelhouse.VLLM)
    competition = kaggle_input / "arc-prize-2025"
    competition.mkdir()
    from arc_induct.tasks import by_size, load_tasks

    tasks = by_size(load_tasks("arc-agi-2/evaluation"))[:4]
    challenges = {t.id: {"train": [{"input": p.input, "output": p.output} for p in t.train],
                         "test": [{"input": g} for g in t.test_inputs]} for t in tasks}
    (competition / "arc-agi_test_challenges.json").write_text(json.dumps(challenges))
    model = kaggle_input / "some-model" / "transformers" / "default" / "1"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")

    # The kernel: a fresh venv that has only what Kaggle's image has for this purpose (ipykernel).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "ipykernel"], check=True)
    spec_dir = tmp_path / "jupyter" / "kernels" / "kagglesim"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "kaggle sim", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, JUPYTER_PATH=str(tmp_path / "jupyter"))

    working = tmp_path / "working"
    out = tmp_path / "kaggle.ipynb"
    done = subprocess.run(
        [sys.executable, str(BUILD), "-o", str(out), "--execute", "--kernel", "kagglesim", "--timeout", "600",
         "--cwd", str(tmp_path), "--set", "MODE=kaggle", "--set", f"KAGGLE_INPUT={str(kaggle_input)!r}",
         "--set", f"OUT_DIR={str(working / 'run')!r}", "--set", f"SUBMISSION={str(working / 'submission.json')!r}"],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    text = outputs_text(nbformat.read(out, as_version=4))
    assert f"arc_induct 0.1.0 from {venv}" in text  # installed from the wheels, not this checkout
    assert "failed steps: ['install vLLM', 'run']" in text
    checked = validate(working / "submission.json", competition / "arc-agi_test_challenges.json")
    assert checked.returncode == 0, checked.stdout
