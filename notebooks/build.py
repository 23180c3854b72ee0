"""Build the .ipynb from its jupytext source, with parameters set, and optionally execute it.

    python notebooks/build.py                                   # -> notebooks/build/arc_induct_kaggle.ipynb
    python notebooks/build.py --stage runs/kaggle-root          # a Kaggle input folder of public tasks
    python notebooks/build.py --set KAGGLE_ROOT='"runs/kaggle-root"' --set ACCELERATOR='"cpu"' \
        --set MAX_TASKS=2 --execute                             # the rehearsal: the Kaggle path on the CPU

Covered: jupytext percent source -> ipynb; the standard-library modules the first cell needs
(arc_induct.grids, arc_induct.kaggle) inlined into it, since nothing is installed when it runs;
parameters injected papermill-style (a cell tagged `injected-parameters` right after the cell
tagged `parameters`, so the source keeps its defaults); headless execution with nbclient, writing
the executed notebook with its outputs; staging a Kaggle input folder for a rehearsal.
Not covered: pushing to Kaggle (that is kaggle_kernel/assemble.py). The .ipynb is a build output
and is never committed: the .py is the one source a person edits and a reviewer reads.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "arc_induct_kaggle.py"
DEFAULT_OUT = HERE / "build" / "arc_induct_kaggle.ipynb"
LIBRARY = HERE.parent / "src" / "arc_induct"
# The first code cell runs before anything is installed; it imports these standard-library modules
# (in this order), which build_notebook inlines in place of this line of the cell tagged "kaggle-module".
INLINE = ("grids", "kaggle")
INLINE_LINE = "from arc_induct import kaggle"


def inlined_modules(library: Path = LIBRARY) -> str:
    """Code that defines `kaggle` from the library's own files, each run as its own module."""
    lines = [
        "# arc_induct.grids and arc_induct.kaggle, inlined by notebooks/build.py from src/arc_induct/",
        "# (standard library only): nothing is installed yet when this cell runs.",
        "import sys as _sys, types as _types",
        "",
        "",
        "def _inline_module(name, source):",
        "    module = _types.ModuleType(name)",
        "    _sys.modules[name] = module  # the next module's `from arc_induct.grids import ...` finds it here",
        "    exec(compile(source, f\"{name} (inlined)\", \"exec\"), module.__dict__)",
        "    return module",
        "",
        "",
    ]
    for name in INLINE:
        text = (library / f"{name}.py").read_text()
        if "'''" in text or text.rstrip().endswith("\\"):
            raise ValueError(f"{library / name}.py: cannot be inlined as a r'''...''' string")
        lines.append(f"{'kaggle = ' if name == 'kaggle' else ''}_inline_module('arc_induct.{name}', r'''{text}''')")
    lines += ["for _name in " + repr(tuple(f"arc_induct.{n}" for n in INLINE)) + ":",
              "    del _sys.modules[_name]  # once installed, arc_induct is imported whole, from the wheels"]
    return "\n".join(lines)


def stage_input(root: Path, tasks: int = 4, layout: str = "2026", slug: str | None = None) -> Path:
    """A Kaggle input folder under `root` for a rehearsal: the `tasks` smallest public ARC Prize 2025
    evaluation tasks as arc-agi_test_challenges.json (no solutions) and sample_submission.json, in the
    2026 (input/competitions/<slug>/) or 2025 (input/<slug>/) layout. Returns the competition folder."""
    import json

    from arc_induct.kaggle import COMPETITION, SAMPLE_FILE, TEST_FILE, fallback_submission, find_competition
    from arc_induct.tasks import by_size, load_tasks

    picked = by_size(load_tasks("kaggle-2025/evaluation"))[:tasks]
    slug = slug or (COMPETITION if layout == "2026" else "arc-prize-2025")
    folder = root / "input" / ("competitions" if layout == "2026" else "") / slug
    folder.mkdir(parents=True, exist_ok=True)
    challenges = {t.id: {"train": [{"input": p.input, "output": p.output} for p in t.train],
                         "test": [{"input": g} for g in t.test_inputs]} for t in picked}
    (folder / TEST_FILE).write_text(json.dumps(challenges))
    (folder / SAMPLE_FILE).unlink(missing_ok=True)
    sample = fallback_submission(find_competition(root / "input", slug))  # Kaggle's sample: every id, zeros
    (folder / SAMPLE_FILE).write_text(json.dumps(sample))
    return folder


def parameter_names(nb: nbformat.NotebookNode, source: Path) -> tuple[int, set[str]]:
    """Index of the cell tagged `parameters` and the names it assigns."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            names = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name)}
            return i, names
    raise ValueError(f"{source}: no code cell tagged 'parameters'")


def build_notebook(source: Path = SOURCE, parameters: dict[str, object] | None = None) -> nbformat.NotebookNode:
    """Read the jupytext source; when `parameters` are given, inject them after the parameters cell."""
    nb = jupytext.read(source)
    for cell in nb.cells:
        if "kaggle-module" in cell.metadata.get("tags", []):
            if INLINE_LINE not in cell.source:
                raise ValueError(f"{source}: the cell tagged 'kaggle-module' has no line {INLINE_LINE!r}")
            cell.source = cell.source.replace(INLINE_LINE, inlined_modules(), 1)
    if parameters:
        at, known = parameter_names(nb, source)
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise ValueError(f"{source}: unknown parameter(s) {unknown}; the parameters cell sets {sorted(known)}")
        text = "# Injected by notebooks/build.py\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
        cell = nbformat.v4.new_code_cell(text, metadata={"tags": ["injected-parameters"]})
        nb.cells.insert(at + 1, cell)
    nbformat.validate(nb)
    return nb


def execute_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: int, kernel: str = "python3") -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel (python3: this Python); raises CellExecutionError on the first error."""
    from nbclient import NotebookClient  # only needed for --execute

    NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def parse_assignment(text: str) -> tuple[str, object]:
    """`NAME=VALUE`, VALUE a Python literal ('"cpu"', 3, None, 0.1); a bare word is taken as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE, got {text!r}")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--source", type=Path, default=SOURCE, help="jupytext percent-format .py (default: %(default)s)")
    p.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="the .ipynb to write (default: %(default)s)")
    p.add_argument("--set", dest="params", action="append", type=parse_assignment, default=[], metavar="NAME=VALUE",
                   help="override a parameter of the notebook's parameters cell (repeatable)")
    p.add_argument("--execute", action="store_true", help="run it headless with nbclient and save the outputs")
    p.add_argument("--cwd", type=Path, default=Path.cwd(), help="working directory of the kernel (default: here)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell when executing")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: %(default)s, this Python)")
    p.add_argument("--stage", type=Path, metavar="DIR",
                   help="only write a Kaggle input folder for a rehearsal under DIR/input (then --set KAGGLE_ROOT)")
    p.add_argument("--stage-tasks", type=int, default=4, help="tasks in the staged competition (default: %(default)s)")
    p.add_argument("--stage-layout", choices=("2026", "2025"), default="2026",
                   help="2026: input/competitions/<slug>/; 2025: input/<slug>/ (default: %(default)s)")
    args = p.parse_args(argv)
    if args.stage:
        folder = stage_input(args.stage, args.stage_tasks, args.stage_layout)
        print(f"staged {args.stage_tasks} tasks in {folder}; rehearse with --set KAGGLE_ROOT={str(args.stage)!r}")
        return 0
    try:
        nb = build_notebook(args.source, dict(args.params))
    except (ValueError, OSError) as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.execute:
        from nbclient.exceptions import CellExecutionError

        try:
            execute_notebook(nb, args.cwd, args.timeout, args.kernel)
        except CellExecutionError as e:
            nbformat.write(nb, args.out)  # keep the partial outputs: they show where it broke
            print(f"build.py: a cell failed; outputs so far in {args.out}\n{e}", file=sys.stderr)
            return 1
    nbformat.write(nb, args.out)
    print(f"wrote {args.out}{' (executed)' if args.execute else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
