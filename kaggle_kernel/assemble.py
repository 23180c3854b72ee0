"""Assemble the folder that `kaggle kernels push -p` takes: kernel-metadata.json + the notebook.

    python kaggle_kernel/assemble.py --username ME --model ME/qwen3-fp8/transformers/default/1
    kaggle kernels push -p kaggle_kernel/build

Covered: filling kernel-metadata.json (the template beside this file) with your username, kernel
slug, wheels dataset and FP8 model; building the .ipynb from notebooks/arc_induct_kaggle.py with
MODE="kaggle" and the /kaggle/input paths where Kaggle mounts those sources (the notebook falls
back to searching /kaggle/input if a mount path differs); refusing slugs Kaggle would reject.
Not covered: credentials and the push itself (the `kaggle` CLI does both); uploading the datasets.

machine_shape: "NvidiaL4" is the 4xL4 machine. Kaggle's CLI docs (docs/kernels.md, Sep 2026) list
"NvidiaL4" beside "NvidiaL4X1" (one L4); 4xL4 is only granted inside competitions that offer it,
such as ARC Prize. Override with --machine-shape if Kaggle renames it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "kernel-metadata.json"
DEFAULT_OUT = HERE / "build"
CODE_FILE = "arc_induct_kaggle.ipynb"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$")
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


def metadata(username: str, title: str, wheels: str, model: str, private: bool, machine_shape: str) -> dict:
    if not USERNAME.match(username):
        raise AssembleError(f"--username {username!r}: letters, digits, '-' and '_' only")
    slug = slug_of(title)
    if not SLUG.match(slug):
        raise AssembleError(f"--title {title!r}: its slug {slug!r} must be 3-50 characters of a-z, 0-9, '-'")
    values = {"username": username, "slug": slug, "title": title, "code_file": CODE_FILE,
              "wheels_dataset": dataset_ref(wheels, username)[0], "model_source": model}
    meta = json.loads(TEMPLATE.read_text())
    for key, value in meta.items():
        if isinstance(value, str):
            meta[key] = value.format_map(values)
        elif isinstance(value, list):
            meta[key] = [v.format_map(values) for v in value]
    meta["is_private"] = private
    meta["machine_shape"] = machine_shape
    return meta


def assemble(out: Path, username: str, title: str, wheels: str, model: str, private: bool = True,
             machine_shape: str = "NvidiaL4", parameters: dict[str, object] | None = None) -> Path:
    """Write `out`/kernel-metadata.json and `out`/arc_induct_kaggle.ipynb; return `out`."""
    meta = metadata(username, title, wheels, model, private, machine_shape)
    params = {"MODE": "kaggle", "WHEELS_DIR": str(Path("/kaggle/input") / dataset_ref(wheels, username)[1]),
              "MODEL_DIR": str(model_mount(model)), **(parameters or {})}
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
    p.add_argument("--wheels-dataset", default="arc-induct-wheels", metavar="[OWNER/]SLUG",
                   help="the wheels dataset (default: %(default)s, owned by --username)")
    p.add_argument("--title", default="arc-induct", help="kernel title; its slug is derived from it (default: %(default)s)")
    p.add_argument("--public", action="store_true", help="make the kernel public (default: private)")
    p.add_argument("--machine-shape", default="NvidiaL4", help="Kaggle accelerator id for 4xL4 (default: %(default)s)")
    p.add_argument("--set", dest="params", action="append", default=[], metavar="NAME=VALUE",
                   help="also set a notebook parameter, e.g. SAFETY_HOURS=0.75 (repeatable)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        builder = load_notebook_builder()
        params = dict(builder.parse_assignment(a) for a in args.params)
        out = assemble(args.out, args.username, args.title, args.wheels_dataset, args.model,
                       not args.public, args.machine_shape, params)
    except (AssembleError, ValueError, argparse.ArgumentTypeError) as e:
        print(f"assemble.py: error: {e}", file=sys.stderr)
        return 2
    meta = json.loads((out / "kernel-metadata.json").read_text())
    print(f"wrote {out}/kernel-metadata.json ({meta['id']}) and {out}/{CODE_FILE}\nnext: kaggle kernels push -p {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
