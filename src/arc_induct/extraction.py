"""Extraction: the program inside a model's completion, or the reason there is none.

Covered:
- Fenced code blocks (```python, ```py, bare ```), several per completion; the last block that
  defines an accepted entry function wins, else the last block that parses, so a final
  summary block or a truncated rewrite does not hide a complete program written earlier.
- A missing closing fence (the completion ran out of tokens): the block runs to the end.
- Reasoning: `<think>...</think>` sections are ignored, as is an unclosed `<think>` (the
  completion ended while thinking), and a leading `...</think>` whose `<think>` was in the prompt.
- Unfenced completions that are just a program (`def transform(` at the start of a line).
- Syntax: a candidate that does not parse is skipped in favour of an earlier one that does.

Not covered: running or validating the program's behaviour (that is `execution`); other
languages; repairing syntax.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from arc_induct.sandbox import FUNCTION_NAMES


PYTHON_TAGS = {"", "python", "python3", "py", "py3"}

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_DEF = re.compile(r"^def\s+(" + "|".join(FUNCTION_NAMES) + r")\s*\(", re.MULTILINE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass(frozen=True)
class Extraction:
    code: str | None  # None when no usable program was found
    reason: str | None  # why `code` is None; None on success


def strip_thinking(completion: str) -> tuple[str, bool]:
    """The completion without its reasoning, and whether it ended inside an unclosed <think>."""
    # Chat templates often open <think> in the prompt, so the completion has only the close.
    head, sep, tail = completion.partition("</think>")
    if sep and "<think>" not in head:
        completion = tail
    text = _THINK.sub("", completion)
    open_at = text.find("<think>")
    if open_at >= 0:
        return text[:open_at], True
    return text, False


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, body) of every fenced block in order; an unclosed last block runs to the end."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL byte
        return False
    return True


def extract_program(completion: str) -> Extraction:
    text, unclosed = strip_thinking(completion)
    blocks = [body for tag, body in _code_blocks(text) if tag in PYTHON_TAGS and body.strip()]
    if not blocks:
        # No fences: accept a completion that is itself a program starting at a def or import.
        start = re.search(r"^(?:def |import |from \S+ import )", text, re.MULTILINE)
        if start and _DEF.search(text):
            blocks = [text[start.start():]]
    if not blocks:
        if unclosed:
            return Extraction(None, "completion ended inside an unclosed <think>; no code after reasoning")
        if "```" in text:
            return Extraction(None, "only empty or non-Python code blocks")
        return Extraction(None, "no code block in the completion")
    defining = [b for b in blocks if _DEF.search(b)]
    for candidates in (defining, blocks):
        for body in reversed(candidates):
            if _parses(body):
                return Extraction(body.strip("\n") + "\n", None)
    names = "/".join(FUNCTION_NAMES[:3])
    what = f"a block defining {names}" if defining else "a code block"
    return Extraction(None, f"found {what}, but no block parses as Python")
