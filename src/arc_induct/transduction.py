"""Transduction: the probability that a program hard-codes its answers instead of computing them.

Programs that paste the expected train outputs score perfectly on train and fail on test; they
must not win the vote. One logistic regression combines three kinds of evidence:
- the literal check: a non-trivial train output, or the program's own test prediction, appears
  flattened (row by row, or column by column) among the code's integer literals or the digits
  of its strings; and the share of the train outputs' varied rows found there (grids in pieces);
- code features (after the published 13-feature model): how many and how varied the integer
  literals are, the largest one, the biggest list literal, assignments to constant coordinates,
  comparisons against non-colour constants, the longest if/elif chain (any, and on such keys),
  nesting depth, digits inside string literals, dict keys that name inputs (long tuples, digests, big
  ints), calls that fingerprint the input;
- behaviour, when execution outputs are at hand: a test prediction that repeats a train output
  verbatim, or repeats its own input where the task never does.
Every feature reads only the code on the entry function's call path (`on_call_path`: a pasted-in
helper library is mostly code the program never runs) and never docstrings, bare string
statements or comments (a docstring saying "5x13 grid" is prose, not data).
The coefficients and the threshold are data (`transduction_weights.json`, refit by
`scripts/fit_transduction.py` from real programs' labelled feature vectors and the synthetic
programs in `tests/data/`).

Not covered: running the program on perturbed inputs to test input-dependence directly (that
needs the execution pool; the voting stage only has the outputs already computed); programs
that compute their answers from a seed or a generator of the outputs.
"""

from __future__ import annotations

import ast
import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arc_induct.grids import Grid
from arc_induct.sandbox import FUNCTION_NAMES
from arc_induct.store import ExecutionResult
from arc_induct.tasks import Task


WEIGHTS_PATH = Path(__file__).with_name("transduction_weights.json")

FEATURES: tuple[str, ...] = (
    "n_int", "n_distinct_int", "max_int", "max_list_ints", "coord_assign", "const_compare",
    "max_elif", "key_elif", "depth", "string_digits", "keyed_dict", "fingerprint_calls", "ints_per_line",
    "literal_train", "literal_rows", "literal_test", "test_is_train_output", "test_is_input",
)

SETTINGS = {"setrecursionlimit"}
FINGERPRINTS = {"hash", "repr", "md5", "sha1", "sha256", "hexdigest", "dumps", "tobytes", "crc32", "id"}
_NESTING = (ast.For, ast.While, ast.If, ast.With, ast.Try, ast.FunctionDef, ast.ListComp, ast.GeneratorExp)


def _int(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _int(node.operand)
        return -v if v is not None else None
    return None


def _const_index(node: ast.AST) -> bool:
    """`x[3]`, `x[1][2]`, `x[1, 2]`: every index a literal int, down to a name."""
    while isinstance(node, ast.Subscript):
        idx = node.slice
        elts = idx.elts if isinstance(idx, ast.Tuple) else [idx]
        if not all(_int(e) is not None for e in elts):
            return False
        node = node.value
    return isinstance(node, ast.Name | ast.Attribute)


def _literal_ints(tree: ast.AST) -> int:
    """Ints inside a container literal made only of containers and int constants; -1 if not such."""
    if _int(tree) is not None:
        return 1
    if isinstance(tree, ast.List | ast.Tuple | ast.Set):
        counts = [_literal_ints(e) for e in tree.elts]
        return sum(counts) if all(c >= 0 for c in counts) else -1
    return -1


def _depth(tree: ast.AST) -> int:
    """Deepest nesting of blocks and comprehensions (iterative: long expressions are deep trees)."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, level = stack.pop()
        level += isinstance(node, _NESTING)
        deepest = max(deepest, level)
        stack.extend((c, level) for c in ast.iter_child_nodes(node))
    return deepest


def _not_colour(node: ast.AST) -> bool:
    """A constant no ARC rule needs: an int beyond the colours 0-9, a string, or a literal container
    (`h == 3` or `v == 5` are ordinary; `total == 137`, `key == (3, 1, 4)`, `digest == 'a9f3'` are keys)."""
    v = _int(node)
    if v is not None:
        return abs(v) > 9
    return isinstance(node, ast.List | ast.Tuple | ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes))


def _keyed_compare(node: ast.AST) -> bool:
    return isinstance(node, ast.Compare) and any(_not_colour(o) for o in [node.left, *node.comparators])


def _fingerprint_key(key: ast.AST) -> bool:
    """A dict key that names one input rather than a rule: long string, big int, or a long tuple."""
    if isinstance(key, ast.Constant) and isinstance(key.value, str):  # a digest or str(grid), not a name
        return len(key.value) >= 6 and any(ch.isdigit() for ch in key.value)
    if _int(key) is not None:
        return abs(_int(key)) > 9
    if isinstance(key, ast.Tuple | ast.List):  # (h, w) or (left, v) are rules; (3, 1, 4, ...) is an input
        return len(key.elts) >= 3 or any(isinstance(e, ast.Tuple | ast.List) for e in key.elts)
    return False


def _elif_chain(node: ast.If, keyed: bool = False) -> int:
    """Length of the if/elif chain starting here; with `keyed`, only while every test compares to a key."""
    n = 0
    while True:
        if keyed and not any(_keyed_compare(c) for c in ast.walk(node.test)):
            break
        n += 1
        if not (len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If)):
            break
        node = node.orelse[0]
    return n


def _called(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, ast.AnnAssign | ast.AugAssign) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def on_call_path(tree: ast.Module) -> ast.Module:
    """The top-level statements the entry function can reach by name, and the ones that bind nothing
    else (imports, loose code); the whole module when it defines no entry function.

    Large helper libraries pasted in whole (arc-dsl's dsl.py, BARC's common.py) are mostly code
    the program never calls; their constants and tables are no evidence about *this* program.
    """
    binders: dict[str, list[int]] = {}
    for i, node in enumerate(tree.body):
        for name in _bound_names(node):
            binders.setdefault(name, []).append(i)
    todo = [n for n in FUNCTION_NAMES if n in binders][:1]
    if not todo:
        return tree
    keep, seen = set(), set(todo)
    while todo:
        for i in binders.get(todo.pop(), ()):
            if i in keep:
                continue
            keep.add(i)
            for n in ast.walk(tree.body[i]):
                if isinstance(n, ast.Name) and n.id not in seen:
                    seen.add(n.id)
                    todo.append(n.id)
    body = [node for i, node in enumerate(tree.body) if i in keep or not _bound_names(node)
            and not _is_docstring(node)]
    return ast.Module(body=body, type_ignores=[])


def _is_docstring(node: ast.AST) -> bool:
    """A bare string statement: a docstring, or prose a model left as a string."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _prose(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings or bare string statements: prose, not data."""
    return {id(n.value) for n in ast.walk(tree) if _is_docstring(n)}


def _code_lines(tree: ast.Module, source: str) -> int:
    """Non-blank source lines of the statements kept, less comments and docstrings."""
    lines = source.splitlines()

    def span(node: ast.AST) -> range:
        return range(node.lineno - 1, getattr(node, "end_lineno", None) or node.lineno)

    spans = {i for node in tree.body for i in span(node)}
    spans -= {i for node in ast.walk(tree) if _is_docstring(node) for i in span(node)}
    return max(1, sum(1 for i in spans if i < len(lines) and lines[i].strip() and not lines[i].strip().startswith("#")))


def code_features(tree: ast.Module, source: str) -> dict[str, float]:
    """Features of the code on the entry function's call path (see `on_call_path`)."""
    prose = _prose(tree)
    # Settings are not data: `sys.setrecursionlimit(10000)` is how flood fills survive big grids.
    settings = {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) in SETTINGS for a in n.args}
    ints, strings = [], []
    max_list = coord = compares = elif_max = key_elif = keyed = prints = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if type(node.value) is int:
                if id(node) not in settings:
                    ints.append(node)
            elif isinstance(node.value, str) and id(node) not in prose:
                strings.append(node.value)
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            max_list = max(max_list, _literal_ints(node))
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            coord += sum(isinstance(t, ast.Subscript) and _const_index(t) for t in targets)
        elif isinstance(node, ast.Compare):
            compares += _keyed_compare(node)
        elif isinstance(node, ast.If):
            elif_max = max(elif_max, _elif_chain(node))
            key_elif = max(key_elif, _elif_chain(node, keyed=True))
        elif isinstance(node, ast.Dict):
            keyed += sum(_fingerprint_key(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Call):
            prints += _called(node) in FINGERPRINTS
    # Digits, not characters: messages and colour names are prose; grids, run-lengths and digests
    # kept in strings are digits.
    string_digits = sum(ch.isdigit() for s in strings for ch in s)
    values = [abs(n.value) for n in ints]
    lines = _code_lines(tree, source)
    log = math.log1p
    return {
        "n_int": log(len(values)),
        "n_distinct_int": log(len(set(values))),
        "max_int": log(min(max(values, default=0), 1e12)),
        "max_list_ints": log(max_list),
        "coord_assign": log(coord),
        "const_compare": log(compares),
        "max_elif": log(elif_max),
        "key_elif": log(key_elif),
        "depth": float(_depth(tree)),
        "string_digits": log(string_digits),
        "keyed_dict": log(keyed),
        "fingerprint_calls": log(prints),
        "ints_per_line": len(values) / lines,
    }


def literal_stream(tree: ast.Module) -> bytes:
    """The code's value literals in source order, as bytes (cell colours 0-9; other ints 255).

    Subscript indices are left out (in `g[2][3] = 4` only the 4 is a value); the digits of each
    string literal follow, so grids kept as "0120" strings are seen too.
    """
    in_slice = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Subscript) for n in ast.walk(node.slice)}
    ints = sorted(
        (n.lineno, n.col_offset, n.value) for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and type(n.value) is int and id(n) not in in_slice
    )
    seq = bytes(v if 0 <= v <= 9 else 255 for _, _, v in ints)
    prose = _prose(tree)
    digits = b"".join(
        bytes(int(ch) for ch in n.value if ch.isdigit() and ch.isascii())
        for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose
    )
    return seq + b"\xfe" + digits


def _nontrivial(grid: Grid) -> bool:
    """Big and varied enough that finding it among the literals is no coincidence."""
    return len(grid) * len(grid[0]) >= 4 and len({v for row in grid for v in row}) >= 2


def in_literals(grid: Grid, stream: bytes) -> bool:
    rows = bytes(v for row in grid for v in row)
    cols = bytes(grid[r][c] for c in range(len(grid[0])) for r in range(len(grid)))
    return rows in stream or cols in stream


def behaviour_features(tree: ast.Module, task: Task, test_outputs: Sequence[Grid | None] | None) -> dict[str, float]:
    """The literal check and what the test predictions give away (train outputs are the task's)."""
    stream = literal_stream(tree)
    expected = [p.output for p in task.train if _nontrivial(p.output)]
    literal_train = sum(in_literals(g, stream) for g in expected) / len(expected) if expected else 0.0
    # Rows catch grids stored in pieces (blocks, one row per branch); short or plain rows are
    # left out because general code is full of them ([0, 0, 0], offsets, kernels).
    rows = {bytes(r) for p in task.train for r in p.output if len(r) >= 3 and len(set(r)) >= 2}
    literal_rows = sum(r in stream for r in rows) / len(rows) if rows else 0.0
    tests = [g for g in (test_outputs or ()) if g]
    literal_test = float(any(_nontrivial(g) and in_literals(g, stream) for g in tests))
    train_out = [p.output for p in task.train]
    repeats = [
        g in train_out and _nontrivial(g) and task.test_inputs[i] not in [p.input for p in task.train]
        for i, g in enumerate(test_outputs or ()) if g
    ]
    identity_never = all(p.input != p.output for p in task.train)
    echoes = [identity_never and g == task.test_inputs[i] for i, g in enumerate(test_outputs or ()) if g]
    return {
        "literal_train": literal_train,
        "literal_rows": literal_rows,
        "literal_test": literal_test,
        "test_is_train_output": sum(repeats) / len(repeats) if repeats else 0.0,
        "test_is_input": sum(echoes) / len(echoes) if echoes else 0.0,
    }


def features(code: str, task: Task, test_outputs: Sequence[Grid | None] | None = None) -> dict[str, float] | None:
    """Every feature by name, or None when the code does not parse (it cannot have run either)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # what compile() itself refuses
        return None
    tree = on_call_path(tree)
    return code_features(tree, code) | behaviour_features(tree, task, test_outputs)


@functools.cache
def load_weights(path: Path = WEIGHTS_PATH) -> dict[str, Any]:
    model = json.loads(path.read_text())
    if tuple(model.get("features", ())) != FEATURES:
        raise ValueError(f"{path}: field 'features' does not match transduction.FEATURES; refit the model")
    return model


# The operating point: p >= THRESHOLD means "hard-coded". It is data, fitted and written with the
# coefficients; the scheduler's and report's setting default to it.
THRESHOLD: float = float(load_weights()["threshold"])


def logistic(x: dict[str, float], model: dict[str, Any]) -> float:
    z = model["intercept"] + sum(
        w * (x[f] - m) / s for f, w, m, s in zip(model["features"], model["coef"], model["mean"], model["scale"])
    )
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def probability_from_outputs(
    code: str, task: Task, test_outputs: Sequence[Grid | None] | None = None, model: dict[str, Any] | None = None
) -> float:
    """As `hardcoded_probability`, from the bare test outputs (what a results row holds)."""
    x = features(code, task, test_outputs)
    if x is None:
        return 0.0
    return logistic(x, model or load_weights())


def hardcoded_probability(code: str, task: Task, result: ExecutionResult | None = None) -> float:
    """Probability in [0, 1] that `code` hard-codes outputs for `task` rather than computing them.

    Without `result` the behaviour features read as "no evidence" and only the code and the
    train outputs (the literal check) are used.
    """
    if result is None:
        return probability_from_outputs(code, task)
    return probability_from_outputs(code, task, result.test_outputs)
