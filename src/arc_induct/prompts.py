"""Prompts: what the model is shown, first and on refinement, in a format that is data.

Covered:
- Prompt formats: Jinja2 template files (the language of Hugging Face chat templates, with the
  same whitespace rules: trim_blocks, lstrip_blocks). A format sets the top-level variables
  `system` (optional) and `user` (required), usually as `{% set user %}...{% endset %}`; each
  becomes one chat message, byte for byte. `load_format(NAME|FILE)` takes a built-in name (the
  files in `formats/`, "default" being the SOAR-style prompt below) or a path, and renders a toy
  task with and without a parent at once, so a misspelt field fails before any work.
- The fields a format sees (`task_fields`): `task_id`; `train` (pairs with `.input`, `.output`);
  `test` (test input grids); each grid prints in the chosen encoding and has `.text`, `.rows`,
  `.cols`, `.cells` (list of rows of ints); `encoding`; `colours` (one line of names) and
  `colour_names` (a list); `parent` (None for a first prompt) with `.code`, `.status`, `.right`,
  `.total`, `.feedback` (the built-in feedback text below, in the same encoding), `.pairs` (per
  train pair: `.index`, `.correct`, `.expected`, `.predicted` or None, `.error`) and `.tests`
  (per test input: `.predicted` or None, `.error`). The filter `grid(encoding)` prints a grid in
  another encoding than the run's.
- Grid encodings (`ENCODINGS`): digits `0120`, spaced `0 1 2 0`, comma `0,1,2,0` (one row a line).
- `task_prompt(task, parent=None, fmt)`: the one function that renders a task (and a parent
  attempt) to chat messages; inference uses it, and so can training-data export.
- The built-in feedback (`feedback_text`): how many train pairs the parent got right, and for each
  wrong pair the predicted and expected grids with a cell diff (shapes equal), a note (shapes
  differ) or the error text; its test predictions, marked unverified.
- `render`: messages to the text a completions endpoint is sent, through the model's chat template
  (with `enable_thinking` when thinking is on or off) or a plain layout; `prompt_length`: tokens
  when a tokenizer is at hand, else characters; `prompt_hash`: the one hash of what was sent.

Not covered: truncating prompts that exceed the model's context (the run skips them); few-shot
examples; the assistant's side of a training example.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import orjson
from jinja2.sandbox import ImmutableSandboxedEnvironment

from arc_induct.grids import Grid
from arc_induct.store import Attempt, ExecutionResult
from arc_induct.tasks import Pair, Task

Messages = tuple[dict[str, str], ...]  # chat messages: {"role": ..., "content": ...}

COLOUR_NAMES = ("black", "blue", "red", "green", "yellow", "grey", "magenta/pink", "orange",
                "light blue/azure", "maroon")
COLOURS = ", ".join(f"{i} {name}" for i, name in enumerate(COLOUR_NAMES))

ENCODINGS = {  # one row per line in each; digits: one token per cell for most tokenizers
    "digits": "",
    "spaced": " ",
    "comma": ",",
}
ROLES = ("system", "user")  # the top-level variables of a format that become messages, in order

# A diff listing longer than this is cut: the grids themselves are shown in full anyway.
MAX_DIFF_CELLS = 40


class FormatError(ValueError):
    """A prompt format that cannot render; the message names the file and the line or field."""


@dataclass(frozen=True)
class Prompt:
    messages: Messages


@dataclass(frozen=True)
class PromptConfig:
    """The run's prompt section: which format, which grid encoding."""

    format: str = "default"  # a built-in name (formats/NAME.jinja) or a template file
    encoding: str = "digits"  # see ENCODINGS


@dataclass(frozen=True)
class PromptFormat:
    name: str  # the built-in name or the file's path, for error messages
    template: jinja2.Template
    encoding: str = "digits"


def format_grid(grid: Grid, encoding: str = "digits") -> str:
    sep = ENCODINGS[encoding]
    return "\n".join(sep.join(str(v) for v in row) for row in grid)


def shape_text(grid: Grid) -> str:
    return f"{len(grid)} rows x {len(grid[0])} columns"


@dataclass(frozen=True)
class GridField:
    """A grid as a template sees it: `{{ g }}` prints `text`."""

    cells: Grid
    text: str
    rows: int
    cols: int

    def __str__(self) -> str:
        return self.text


def _grid(grid: Grid | None, encoding: str) -> GridField | None:
    if grid is None:
        return None
    return GridField(grid, format_grid(grid, encoding), len(grid), len(grid[0]) if grid else 0)


# ---- loading and rendering formats ---------------------------------------------------------

def _environment() -> ImmutableSandboxedEnvironment:
    # Sandboxed and strict, as transformers renders chat templates: a template can read the fields
    # it is given and nothing else, and an unknown field is an error, never an empty string.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                                        autoescape=False, keep_trailing_newline=True)
    env.filters["grid"] = lambda g, encoding: format_grid(g.cells if isinstance(g, GridField) else g, encoding)
    return env


_ENV = _environment()


def builtin_formats() -> list[str]:
    return sorted(p.name.removesuffix(".jinja") for p in resources.files("arc_induct").joinpath("formats").iterdir()
                  if p.name.endswith(".jinja"))


def load_format(name_or_file: str | Path, encoding: str = "digits") -> PromptFormat:
    """A built-in format by name, or a template file; FormatError names the file and line."""
    if encoding not in ENCODINGS:
        raise FormatError(f"unknown grid encoding {encoding!r}; choose {', '.join(ENCODINGS)}")
    name = str(name_or_file)
    builtin = resources.files("arc_induct").joinpath("formats", f"{name}.jinja")
    if "/" not in name and not name.endswith(".jinja") and builtin.is_file():
        source = builtin.read_text()
    else:
        try:
            source = Path(name).read_text()
        except OSError as e:
            raise FormatError(f"prompt format {name!r}: not a built-in ({', '.join(builtin_formats())}) "
                              f"and not a readable file ({e.strerror})") from None
    try:
        template = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise FormatError(f"{name}: line {e.lineno}: {e.message}") from None
    fmt = PromptFormat(name, template, encoding)
    for parent in (None, _TOY_PARENT):  # both branches, so a wrong field fails now, not mid-run
        task_prompt(_TOY_TASK, parent, fmt)
    return fmt


@cache
def default_format() -> PromptFormat:
    return load_format("default")


def task_prompt(task: Task, parent: Attempt | None = None, fmt: PromptFormat | None = None) -> Prompt:
    """The task (and, to refine, an attempt whose program ran) as chat messages in format `fmt`."""
    fmt = fmt or default_format()
    if parent is not None and (parent.code is None or parent.result is None):
        raise ValueError(f"attempt {parent.id} has no executed program to refine")
    try:
        module = fmt.template.make_module(task_fields(task, parent, fmt.encoding))
    except jinja2.TemplateError as e:
        where = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
        raise FormatError(f"{fmt.name}{where}: {e.message or type(e).__name__}; fields: {', '.join(FIELDS)}") from None
    messages = tuple({"role": role, "content": str(getattr(module, role))} for role in ROLES
                     if getattr(module, role, None) is not None)
    if not any(m["role"] == "user" for m in messages):
        raise FormatError(f"{fmt.name}: sets no `user` message (write {{% set user %}}...{{% endset %}})")
    return Prompt(messages)


FIELDS = ("task_id", "train", "test", "encoding", "colours", "colour_names", "parent")


def task_fields(task: Task, parent: Attempt | None, encoding: str) -> dict[str, Any]:
    """Everything a format can use; documented in the module docstring."""
    fields = {
        "task_id": task.id,
        "train": [{"input": _grid(p.input, encoding), "output": _grid(p.output, encoding)} for p in task.train],
        "test": [_grid(g, encoding) for g in task.test_inputs],
        "encoding": encoding, "colours": COLOURS, "colour_names": list(COLOUR_NAMES), "parent": None,
    }
    if parent is not None:
        r = parent.result
        fields["parent"] = {
            "code": parent.code, "status": r.status, "right": sum(r.train_correct), "total": len(task.train),
            "feedback": feedback_text(task, r, encoding),
            "pairs": [{"index": i + 1, "correct": bool(_at(r.train_correct, i)), "expected": _grid(p.output, encoding),
                       "predicted": _grid(_shown(_at(r.train_outputs, i)), encoding), "error": _at(r.train_errors, i)}
                      for i, p in enumerate(task.train)],
            "tests": [{"predicted": _grid(_at(r.test_outputs, i), encoding), "error": _at(r.test_errors, i)}
                      for i in range(len(task.test_inputs))],
        }
    return fields


# ---- the built-in feedback on a parent -----------------------------------------------------

def _grid_block(title: str, grid: Grid, encoding: str) -> str:
    return f"{title} ({shape_text(grid)}):\n{format_grid(grid, encoding)}"


def cell_diff(predicted: Grid, expected: Grid) -> str:
    """Where two same-shaped grids differ: a mask grid ('.' right, else the expected colour) and a list."""
    wrong = [
        (r, c, p, e)
        for r, (prow, erow) in enumerate(zip(predicted, expected))
        for c, (p, e) in enumerate(zip(prow, erow))
        if p != e
    ]
    mask = "\n".join(
        "".join("." if p == e else str(e) for p, e in zip(prow, erow)) for prow, erow in zip(predicted, expected)
    )
    cells = "; ".join(f"({r},{c}) got {p} want {e}" for r, c, p, e in wrong[:MAX_DIFF_CELLS])
    more = f"; ... {len(wrong) - MAX_DIFF_CELLS} more" if len(wrong) > MAX_DIFF_CELLS else ""
    return (
        f"{len(wrong)} of {len(expected) * len(expected[0])} cells wrong. "
        f"Diff ('.' = right, digit = expected colour):\n{mask}\nWrong cells (row,col): {cells}{more}"
    )


def _pair_feedback(i: int, expected: Grid, predicted: Grid | None, error: str | None, status: str,
                   encoding: str) -> str:
    head = f"## Example {i}: wrong"
    if predicted is None:
        return f"{head}. The program failed ({status}):\n{error or 'no output'}"
    blocks = f"{_grid_block('Predicted', predicted, encoding)}\n{_grid_block('Expected', expected, encoding)}"
    if (len(predicted), len(predicted[0])) != (len(expected), len(expected[0])):
        note = f"Shape mismatch: predicted {shape_text(predicted)}, expected {shape_text(expected)}."
        return f"{head}. {note}\n{blocks}"
    return f"{head}.\n{blocks}\n{cell_diff(predicted, expected)}"


def feedback_text(task: Task, result: ExecutionResult, encoding: str = "digits") -> str:
    """How the previous program did: train score, each wrong pair, test predictions (unverified)."""
    right = sum(result.train_correct)
    parts = [f"It got {right} of {len(task.train)} training examples right (status: {result.status})."]
    for i, pair in enumerate(task.train):
        if _at(result.train_correct, i):
            continue
        predicted = _shown(_at(result.train_outputs, i))
        error = _at(result.train_errors, i)
        parts.append(_pair_feedback(i + 1, pair.output, predicted, error, result.status, encoding))
    for i in range(len(task.test_inputs)):
        out, err = _at(result.test_outputs, i), _at(result.test_errors, i)
        body = _grid_block("Predicted", out, encoding) if out else f"failed: {err or result.status}"
        parts.append(f"## Test input {i + 1}: prediction (unverified, the answer is unknown)\n{body}")
    return "\n\n".join(parts)


def _at(seq: Any, i: int) -> Any:
    return seq[i] if seq is not None and i < len(seq) else None


def _shown(grid: Grid | None) -> Grid | None:
    # An empty grid cannot be diffed; it is reported as its error instead.
    return grid if grid and grid[0] else None


# A toy task and parent that `load_format` renders once, to check a format's fields.
_TOY_TASK = Task("toy", (Pair([[1, 0]], [[0, 1]]),), ([[2, 0]],), None)
_TOY_PARENT = Attempt("toy", 0, code="def transform(grid):\n    return grid\n", result=ExecutionResult(
    "ok", ([[1, 0]],), (None,), ([[2, 0]],), (None,), (False,), None, 0.0))


# ---- what is sent -------------------------------------------------------------------------

def render(prompt: Prompt, tokenizer: Any = None, thinking: bool | None = False) -> str:
    """The text sent to a completions endpoint.

    Through the tokenizer's chat template when it has one (what instruction-tuned and fine-tuned
    models expect), with `enable_thinking` unless `thinking` is None (templates that do not read
    it ignore it; the default, off, is the run's); otherwise a plain layout with role headers that
    any base model can continue.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        extra = {} if thinking is None else {"enable_thinking": thinking}
        return tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True,
                                             **extra)
    body = "\n\n".join(f"### {m['role'].capitalize()}\n{m['content']}" for m in prompt.messages)
    return f"{body}\n\n### Assistant\n"


def prompt_hash(prompt: str | Messages) -> str:
    """The one hash of what was sent (rendered text, or chat messages): stored with each attempt and
    each recorded completion, so the two files join on it, and replay refuses a recording made for
    another prompt."""
    data = prompt.encode() if isinstance(prompt, str) else orjson.dumps(list(prompt))
    return hashlib.sha256(data).hexdigest()[:16]


def prompt_length(text: str, tokenizer: Any = None) -> int:
    """Tokens with a tokenizer (special tokens already in `text` count as written), else characters."""
    if tokenizer is None:
        return len(text)
    # verbose=False: a prompt longer than the model takes is measured, not warned about (the run
    # skips such tasks itself, naming them).
    return len(tokenizer.encode(text, add_special_tokens=False, verbose=False))
