"""Assemble the folder that `kaggle kernels push -p` takes: kernel-metadata.json + the notebook.

    python kaggle_kernel/assemble.py --username ME --model ME/qwen3-fp8/transformers/default/1
    kaggle kernels push -p kaggle_kernel/build      # kaggle CLI >= 2.0.1 (older ones drop machine_shape)

Covered: filling kernel-metadata.json (the template beside this file) with your username, kernel
slug, the competition (--competition, default the ARC Prize 2026 ARC-AGI-2 track), the wheels
datasets (both CUDA flavours by default: the notebook installs the one the driver supports) and
the FP8 model; building the .ipynb from notebooks/arc_induct_kaggle.py with the competition and the
model's mount path (the notebook searches /kaggle/input when a mount path differs); refusing
titles and slugs Kaggle would reject.
Not covered: credentials and the push itself (the `kaggle` CLI does both); uploading the datasets.

machine_shape: "NvidiaL4" is our reading of 4xL4, not Kaggle's wording: its CLI docs (docs/kernels.md)
list the ids "NvidiaL4" and "NvidiaL4X1" without saying how many GPUs each has; public ARC Prize
notebooks set "NvidiaL4" and check for four "NVIDIA L4". The kaggle CLI reads the field from
version 2.0.1 on and older versions ignore it silently. The notebook uses the GPUs it finds, so a
wrong shape costs speed, not the submission. Override with --machine-shape.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat

from arc_induct.kaggle import COMPETITION

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "kernel-metadata.json"
DEFAULT_OUT = HERE / "build"
CODE_FILE = "arc_induct_kaggle.ipynb"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$")
MIN_TITLE = 5  # Kaggle refuses shorter kernel titles
WHEELS = ("arc-induct-wheels-cu12", "arc-induct-wheels-cu13")
USERNAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


class AssembleError(ValueError):
    """A flag Kaggle would reject; the message names the flag."""


def load_notebook_builder():
    spec = importlib.util.spec_from_file_location("notebook_build", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slug_of(title: str) -> str:
    # Kaggle derives a kernel's slug from its title: lowercased, runs of other characters -> "-".
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def dataset_ref(ref: str, username: str) -> tuple[str, str]:
    """"owner/slug" or "slug" (yours) -> (the reference, the slug)."""
    owner, _, slug = ref.rpartition("/")
    owner = owner or username
    if not USERNAME.match(owner) or not SLUG.match(slug):
        raise AssembleError(f"--wheels-dataset {ref!r}: expected OWNER/SLUG or SLUG (lowercase, digits, '-')")
    return f"{owner}/{slug}", slug


def model_mount(ref: str) -> Path:
    """"owner/model/framework/variation/version" -> where Kaggle mounts it."""
    parts = ref.split("/")
    if len(parts) != 5 or not all(parts) or not parts[4].isdigit():
        raise AssembleError(f"--model {ref!r}: expected OWNER/MODEL/FRAMEWORK/VARIATION/VERSION (version a number)")
    _, model, framework, variation, version = parts
    return Path("/kaggle/input") / model / framework.lower() / variation / version


def metadata(username: str, title: str, wheels: tuple[str, ...], model: str, private: bool, machine_shape: str,
             competition: str = COMPETITION) -> dict:
    if not USERNAME.match(username):
        raise AssembleError(f"--username {username!r}: letters, digits, '-' and '_' only")
    slug = slug_of(title)
    if len(title.strip()) < MIN_TITLE:
        raise AssembleError(f"--title {title!r}: Kaggle wants at least {MIN_TITLE} characters")
    if not SLUG.match(slug):
        raise AssembleError(f"--title {title!r}: its slug {slug!r} must be 3-50 characters of a-z, 0-9, '-'")
    if not SLUG.match(competition):
        raise AssembleError(f"--competition {competition!r}: expected a competition slug (lowercase, digits, '-')")
    if not wheels:
        raise AssembleError("--wheels-dataset: give at least one")
    values = {"username": username, "slug": slug, "title": title, "code_file": CODE_FILE,
              "model_source": model, "competition": competition}
    meta = json.loads(TEMPLATE.read_text())
    for key, value in meta.items():
        if isinstance(value, str):
            meta[key] = value.format_map(values)
        elif isinstance(value, list):
            meta[key] = [v.format_map(values) for v in value]
    meta["dataset_sources"] = [dataset_ref(w, username)[0] for w in wheels]
    meta["is_private"] = private
    meta["machine_shape"] = machine_shape
    return meta


def assemble(out: Path, username: str, title: str, wheels: tuple[str, ...], model: str, private: bool = True,
             machine_shape: str = "NvidiaL4", parameters: dict[str, object] | None = None,
             competition: str = COMPETITION) -> Path:
    """Write `out`/kernel-metadata.json and `out`/arc_induct_kaggle.ipynb; return `out`."""
    meta = metadata(username, title, wheels, model, private, machine_shape, competition)
    # The notebook finds the wheel sets itself (it must pick one by the driver) and reads the rest
    # from Kaggle; only the competition and where the model is mounted are worth telling it.
    params = {"COMPETITION": competition, "MODEL_DIR": str(model_mount(model)), **(parameters or {})}
    nb = load_notebook_builder().build_notebook(parameters=params)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():  # `kaggle kernels push -p` reads the folder: leave nothing else in it
        if stale.is_file() and stale.name not in ("kernel-metadata.json", CODE_FILE):
            stale.unlink()
    nbformat.write(nb, out / CODE_FILE)
    (out / "kernel-metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    doc_head, doc_rest = __doc__.split("\n\n", 1)
    p = argparse.ArgumentParser(description=doc_head, epilog=doc_rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--username", required=True, help="your Kaggle username (the kernel's owner)")
    p.add_argument("--model", required=True, metavar="OWNER/MODEL/FRAMEWORK/VARIATION/VERSION",
                   help="the FP8 model you uploaded to Kaggle Models, as model_sources wants it")
    p.add_argument("--competition", default=COMPETITION, metavar="SLUG",
                   help="the competition to attach (competition_sources; default: %(default)s)")
    p.add_argument("--wheels-dataset", action="append", metavar="[OWNER/]SLUG",
                   help="a wheels dataset to attach (repeatable; default: " + " and ".join(WHEELS) +
                        ", owned by --username)")
    p.add_argument("--title", default="arc-induct", help="kernel title, >= 5 characters; its slug is derived from it "
                                                         "(default: %(default)s)")
    p.add_argument("--public", action="store_true", help="make the kernel public (default: private)")
    p.add_argument("--machine-shape", default="NvidiaL4", help="Kaggle accelerator id for 4xL4 (default: %(default)s)")
    p.add_argument("--set", dest="params", action="append", default=[], metavar="NAME=VALUE",
                   help="also set a notebook parameter, e.g. SAFETY_HOURS=0.75 (repeatable)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        builder = load_notebook_builder()
        params = dict(builder.parse_assignment(a) for a in args.params)
        out = assemble(args.out, args.username, args.title, tuple(args.wheels_dataset or WHEELS), args.model,
                       not args.public, args.machine_shape, params, args.competition)
    except (AssembleError, ValueError, argparse.ArgumentTypeError) as e:
        print(f"assemble.py: error: {e}", file=sys.stderr)
        return 2
    meta = json.loads((out / "kernel-metadata.json").read_text())
    print(f"wrote {out}/kernel-metadata.json ({meta['id']}) and {out}/{CODE_FILE}\nnext: kaggle kernels push -p {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
