"""Build the .ipynb from its jupytext source, with parameters set, and optionally execute it.

    python notebooks/build.py                                   # -> notebooks/build/arc_induct_kaggle.ipynb
    python notebooks/build.py --set MODE='"cpu"' --set N_TASKS=2 --execute --timeout 1800

Covered: jupytext percent source -> ipynb; parameters injected papermill-style (a cell tagged
`injected-parameters` right after the cell tagged `parameters`, so the source keeps its defaults);
headless execution with nbclient, writing the executed notebook with its outputs.
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
    args = p.parse_args(argv)
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
