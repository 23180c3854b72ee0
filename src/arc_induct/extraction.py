"""Extraction: the program inside a model's completion, or the reason there is none.

Covered (each shape met in recorded completions of real models; tests/test_extraction.py):
- Fenced code blocks (```python, ```py, bare ```), several per completion, read line by line:
  inside a block a line holding only ``` closes it, and a line ending in a new ```python
  opener ends it *unclosed* and opens the next block (models abandon a draft mid-line and
  restart with "Final answer:"; read as a closing fence, the opener swallowed the real program).
- Which block: the last one that defines an entry function (sandbox.FUNCTION_NAMES) at top
  level and parses. Models revise, so the last definition is their final word; blocks that
  follow it without one (usage examples, a printed grid) are not programs to run.
- Truncation: a block (or an unfenced program) that does not parse keeps its longest prefix,
  cut at a top-level statement, that parses and still defines the entry function: a complete
  `transform` followed by an unfinished test literal or by prose is kept, a `transform` cut
  in its own body is not.
- Reasoning: `<think>...</think>` sections are ignored, as is an unclosed `<think>` (the
  completion ended while thinking), and a leading `...</think>` whose `<think>` was in the prompt.
- A block indented as a whole (fenced inside a markdown list item) is dedented.
- Unfenced completions that are a program (`def`/`import` at the start of a line).
- Blocks of data are not programs: a block of bare values (a grid of digits, a list literal)
  is never returned, even as the last resort "last block that parses".

Not covered: running or validating the program's behaviour (that is `execution`); other
languages; repairing syntax.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from arc_induct.sandbox import FUNCTION_NAMES


PYTHON_TAGS = {"", "python", "python3", "py", "py3"}

# Outside a block: an opener anywhere on a line (```python, ``` or ```py3); the tag is its first word.
_OPEN = re.compile(r"```[ \t]*([\w+.-]*)[^`\n]*$")
# Inside a block: a line ending in ``` closes it (text before the fence is code), as does a line
# starting with ``` (text after it is prose: "```Final answer:"); a line ending in ```<tag> ends
# it unclosed and opens the next block.
_CLOSE = re.compile(r"^(.*?)```[ \t]*$|^[ \t]*()```")
_REOPEN = re.compile(r"^(.*?)```[ \t]*([A-Za-z][\w+.-]*)[ \t]*$")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_TOP_LEVEL = re.compile(r"^[A-Za-z_@]", re.MULTILINE)  # where a top-level statement can start
MAX_PREFIX_TRIES = 64  # prefixes tried per candidate, from the longest: bounded work on huge blocks


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


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, body) of every fenced block in order; an unclosed last block runs to the end."""
    blocks: list[tuple[str, str]] = []
    tag: str | None = None  # the open block's tag, None outside a block
    body: list[str] = []
    for line in text.split("\n"):
        if tag is None:
            m = _OPEN.search(line)
            if m:
                tag, body = m.group(1).lower(), []
            continue
        reopen, close = _REOPEN.match(line), _CLOSE.match(line)
        if reopen or close:
            before = reopen.group(1) if reopen else close.group(1) or ""
            blocks.append((tag, "\n".join(body + ([before] if before.strip() else []))))
            tag, body = (reopen.group(2).lower(), []) if reopen else (None, [])
        else:
            body.append(line)
    if tag is not None:
        blocks.append((tag, "\n".join(body)))
    return blocks


def _tree(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL byte
        return None


def _defines_entry(tree: ast.Module) -> bool:
    """An entry function at top level, where `sandbox` looks it up."""
    return any(isinstance(n, ast.FunctionDef) and n.name in FUNCTION_NAMES for n in tree.body)


def _is_data(tree: ast.Module) -> bool:
    """Only bare expressions (a grid of digits, a list literal, a printed value): nothing to run."""
    return all(isinstance(n, ast.Expr) for n in tree.body)


def _program(code: str) -> str | None:
    """`code` if it parses and defines an entry function, else its longest such top-level prefix."""
    tree = _tree(code)
    if tree is not None:
        return code if _defines_entry(tree) else None
    cuts = [m.start() for m in _TOP_LEVEL.finditer(code)][::-1][:MAX_PREFIX_TRIES]
    for cut in cuts:
        tree = _tree(code[:cut])
        if tree is not None and _defines_entry(tree):
            return code[:cut]
    return None


def _unfenced(text: str) -> str | None:
    """A completion that is itself a program: from the first def or import to the end."""
    start = re.search(r"^(?:def |import |from \S+ import )", text, re.MULTILINE)
    return text[start.start():] if start else None


def extract_program(completion: str) -> Extraction:
    text, unclosed = strip_thinking(completion)
    # Dedent: a block fenced inside a markdown list item is indented as a whole.
    blocks = [textwrap.dedent(body) for tag, body in code_blocks(text) if tag in PYTHON_TAGS and body.strip()]
    candidates = blocks or [c for c in [_unfenced(text)] if c]
    for body in reversed(candidates):
        program = _program(body)
        if program is not None:
            return Extraction(program.strip("\n") + "\n", None)
    # No entry function anywhere: the last block that parses and is more than data, so that
    # execution names what is missing (a program under another name, a script).
    for body in reversed(candidates):
        tree = _tree(body)
        if tree is not None and not _is_data(tree):
            return Extraction(body.strip("\n") + "\n", None)
    if not candidates:
        if unclosed:
            return Extraction(None, "completion ended inside an unclosed <think>; no code after reasoning")
        if "```" in text:
            return Extraction(None, "only empty or non-Python code blocks")
        return Extraction(None, "no code block in the completion")
    names = "/".join(FUNCTION_NAMES[:3])
    if any(re.search(r"^\s*def\s+(" + "|".join(FUNCTION_NAMES) + r")\s*\(", b, re.MULTILINE) for b in candidates):
        return Extraction(None, f"found a block defining {names}, but no block parses as Python")
    if any(_tree(b) is not None for b in candidates):
        return Extraction(None, "only blocks of data (bare values), no program")
    return Extraction(None, "found a code block, but no block parses as Python")
