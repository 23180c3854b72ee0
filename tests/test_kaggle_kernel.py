"""kaggle_kernel/assemble.py: the folder `kaggle kernels push -p` takes.

The push itself needs Kaggle credentials and the network, so it is not run here; these tests check
what Kaggle reads: every metadata field, the notebook beside it, and its injected parameters.
"""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "kaggle_kernel" / "assemble.py"
MODEL = "alice/qwen3-8b-fp8/Transformers/default/1"
_spec = importlib.util.spec_from_file_location("assemble", SCRIPT)
assemble = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assemble)


def injected(folder):
    nb = nbformat.read(folder / "arc_induct_kaggle.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    scope = {}
    exec(cell.source, scope)
    return {k: v for k, v in scope.items() if not k.startswith("__")}


@pytest.fixture
def folder(tmp_path):
    return assemble.assemble(tmp_path / "kernel", "alice", "arc-induct", assemble.WHEELS, MODEL)


def test_metadata_has_every_field_kaggle_reads(folder):
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta == {
        "id": "alice/arc-induct",
        "title": "arc-induct",
        "code_file": "arc_induct_kaggle.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": True,
        "enable_tpu": False,
        "enable_internet": False,
        "machine_shape": "NvidiaL4",
        "dataset_sources": ["alice/arc-induct-wheels-cu12", "alice/arc-induct-wheels-cu13"],
        "competition_sources": ["arc-prize-2026-arc-agi-2"],
        "kernel_sources": [],
        "model_sources": [MODEL],
    }


def test_folder_holds_the_metadata_and_its_code_file_only(folder):
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(["kernel-metadata.json", meta["code_file"]])
    nbformat.validate(nbformat.read(folder / meta["code_file"], as_version=4))


def test_notebook_gets_the_competition_and_the_model_mount_path(folder):
    assert injected(folder) == {
        "COMPETITION": "arc-prize-2026-arc-agi-2",
        "MODEL_DIR": "/kaggle/input/qwen3-8b-fp8/transformers/default/1",
    }


def test_competition_flag_sets_the_source_and_the_notebook_parameter(tmp_path):
    out = tmp_path / "k"
    done = subprocess.run([sys.executable, str(SCRIPT), "--username", "alice", "--model", MODEL, "--out", str(out),
                           "--competition", "arc-prize-2025", "--wheels-dataset", "arc-induct-wheels-cu12"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert meta["competition_sources"] == ["arc-prize-2025"]
    assert meta["dataset_sources"] == ["alice/arc-induct-wheels-cu12"]
    assert injected(out)["COMPETITION"] == "arc-prize-2025"


def test_notebook_code_is_valid_python(folder):
    nb = nbformat.read(folder / "arc_induct_kaggle.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)


def test_title_gives_the_slug_and_extra_parameters_pass_through(tmp_path):
    out = assemble.assemble(tmp_path / "k", "bob", "ARC Induct v2", ("carol/wheels-312",), MODEL,
                            private=False, parameters={"SAFETY_HOURS": 0.75})
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert (meta["id"], meta["is_private"], meta["dataset_sources"]) == ("bob/arc-induct-v2", False, ["carol/wheels-312"])
    assert injected(out)["SAFETY_HOURS"] == 0.75


def test_reassembling_removes_stale_files(folder):
    (folder / "old.ipynb").write_text("{}")
    assemble.assemble(folder, "alice", "arc-induct", assemble.WHEELS, MODEL)
    assert not (folder / "old.ipynb").exists()


@pytest.mark.parametrize("flags, named", [
    (["--username", "alice", "--model", "alice/m/transformers/default"], "--model"),
    (["--username", "alice", "--model", "alice/m/transformers/default/latest"], "--model"),
    (["--username", "al ice", "--model", MODEL], "--username"),
    (["--username", "alice", "--model", MODEL, "--wheels-dataset", "Alice/Wheels_312"], "--wheels-dataset"),
    (["--username", "alice", "--model", MODEL, "--title", "!!"], "--title"),
    (["--username", "alice", "--model", MODEL, "--title", "arc"], "--title"),  # Kaggle wants >= 5 characters
    (["--username", "alice", "--model", MODEL, "--competition", "ARC 2026"], "--competition"),
    (["--username", "alice", "--model", MODEL, "--set", "NO_SUCH=1"], "NO_SUCH"),
])
def test_bad_flags_fail_naming_the_flag_and_write_nothing(tmp_path, flags, named):
    out = tmp_path / "k"
    done = subprocess.run([sys.executable, str(SCRIPT), *flags, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and named in done.stderr
    assert not out.exists()
