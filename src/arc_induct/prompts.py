"""Prompts: what the model is shown, first and on refinement, and how long that is.

Covered:
- `first_prompt`: the SOAR-style prompt that program-writing models are fine-tuned on: a short
  system text, every train pair and test input as a text grid (one line of digits per row)
  under a header giving its shape, the colour names, and a request for one ```python block
  defining `transform(grid: list[list[int]]) -> list[list[int]]` with no hard-coded outputs.
- `refine_prompt`: the task again, a previous program, how many train pairs it got right, and
  for each wrong pair the predicted and expected grids with a cell diff (shapes equal), a note
  (shapes differ) or the error text (it raised); its test predictions, marked unverified.
- `render`: the model's chat template when the tokenizer has one, else plain completion text.
- `prompt_length`: tokens when a tokenizer is at hand, else characters (for shortest-first).

Not covered: truncating prompts that exceed the model's context (the scheduler skips or
orders them by `prompt_length`); few-shot examples.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from typing import Any

from arc_induct.grids import Grid
from arc_induct.store import Attempt, ExecutionResult
from arc_induct.tasks import Task


SYSTEM = (
    "You are an expert at solving ARC (Abstraction and Reasoning Corpus) puzzles by writing "
    "Python programs."
)

COLOURS = (
    "0 black, 1 blue, 2 red, 3 green, 4 yellow, 5 grey, 6 magenta/pink, 7 orange, "
    "8 light blue/azure, 9 maroon"
)

REQUEST = (
    "Write a Python function `transform(grid: list[list[int]]) -> list[list[int]]` that turns "
    "every input into its output. It must work from the input alone: do not hard-code output "
    "grids or special-case the examples. You may use numpy. Reason briefly, then give the whole "
    "program in one ```python block."
)

# A diff listing longer than this is cut: the grids themselves are shown in full anyway.
MAX_DIFF_CELLS = 40


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict[str, str], ...]  # chat messages: {"role": ..., "content": ...}


def format_grid(grid: Grid) -> str:
    """One line per row, one digit per cell, no separators (each digit is one token for most models)."""
    return "\n".join("".join(str(v) for v in row) for row in grid)


def shape_text(grid: Grid) -> str:
    return f"{len(grid)} rows x {len(grid[0])} columns"


def _grid_block(title: str, grid: Grid) -> str:
    return f"{title} ({shape_text(grid)}):\n{format_grid(grid)}"


def task_text(task: Task) -> str:
    """The task as the model sees it: every train pair, then every test input."""
    parts = [f"Colours: {COLOURS}.", f"Here are {len(task.train)} training examples."]
    for i, pair in enumerate(task.train, 1):
        parts.append(f"## Example {i}\n{_grid_block('Input', pair.input)}\n{_grid_block('Output', pair.output)}")
    for i, grid in enumerate(task.test_inputs, 1):
        parts.append(f"## Test input {i}\n{_grid_block('Input', grid)}")
    return "\n\n".join(parts)


def first_prompt(task: Task) -> Prompt:
    user = f"{task_text(task)}\n\n{REQUEST}"
    return Prompt(({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}))


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


def _pair_feedback(i: int, expected: Grid, predicted: Grid | None, error: str | None, status: str) -> str:
    head = f"## Example {i}: wrong"
    if predicted is None:
        return f"{head}. The program failed ({status}):\n{error or 'no output'}"
    if (len(predicted), len(predicted[0])) != (len(expected), len(expected[0])):
        note = f"Shape mismatch: predicted {shape_text(predicted)}, expected {shape_text(expected)}."
        return f"{head}. {note}\n{_grid_block('Predicted', predicted)}\n{_grid_block('Expected', expected)}"
    return (
        f"{head}.\n{_grid_block('Predicted', predicted)}\n{_grid_block('Expected', expected)}\n"
        f"{cell_diff(predicted, expected)}"
    )


def feedback_text(task: Task, result: ExecutionResult) -> str:
    """How the previous program did: train score, each wrong pair, test predictions (unverified)."""
    right = sum(result.train_correct)
    parts = [f"It got {right} of {len(task.train)} training examples right (status: {result.status})."]
    for i, pair in enumerate(task.train):
        if i < len(result.train_correct) and result.train_correct[i]:
            continue
        predicted = _at(result.train_outputs, i)
        # A malformed grid (ragged, empty) cannot be diffed; it is shown as its error instead.
        if predicted is not None and not (predicted and predicted[0]):
            predicted = None
        error = _at(result.train_errors, i)
        parts.append(_pair_feedback(i + 1, pair.output, predicted, error, result.status))
    for i in range(len(task.test_inputs)):
        out, err = _at(result.test_outputs, i), _at(result.test_errors, i)
        body = _grid_block("Predicted", out) if out else f"failed: {err or result.status}"
        parts.append(f"## Test input {i + 1}: prediction (unverified, the answer is unknown)\n{body}")
    return "\n\n".join(parts)


def _at(seq: Any, i: int) -> Any:
    return seq[i] if seq is not None and i < len(seq) else None


def refine_prompt(task: Task, parent: Attempt) -> Prompt:
    """Refine `parent`, an attempt whose program ran (it has code and a result)."""
    if parent.code is None or parent.result is None:
        raise ValueError(f"attempt {parent.id} has no executed program to refine")
    user = (
        f"{task_text(task)}\n\nA previous attempt wrote this program:\n```python\n{parent.code.strip()}\n```\n\n"
        f"{feedback_text(task, parent.result)}\n\nFind the mistake and write a corrected program. {REQUEST}"
    )
    return Prompt(({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}))


def render(prompt: Prompt, tokenizer: Any = None) -> str:
    """The text sent to a completions endpoint.

    Through the tokenizer's chat template when it has one (what instruction-tuned and
    fine-tuned models expect); otherwise a plain layout with role headers that any base
    model can continue.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
    body = "\n\n".join(f"### {m['role'].capitalize()}\n{m['content']}" for m in prompt.messages)
    return f"{body}\n\n### Assistant\n"


def prompt_hash(text: str) -> str:
    """The one hash of a rendered prompt: stored with each attempt and each recorded completion, so
    the two files join on it, and replay refuses a recording made for another prompt."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prompt_length(text: str, tokenizer: Any = None) -> int:
    """Tokens with a tokenizer (special tokens already in `text` count as written), else characters."""
    if tokenizer is None:
        return len(text)
    # verbose=False: a prompt longer than the model takes is measured, not warned about (the run
    # skips such tasks itself, naming them).
    return len(tokenizer.encode(text, add_special_tokens=False, verbose=False))
