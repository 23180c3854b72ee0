import pytest

from arc_induct.extraction import extract_program

GOOD = "def transform(grid):\n    return [row[::-1] for row in grid]\n"
DRAFT = "def transform(grid):\n    return grid\n"


def test_single_python_block():
    e = extract_program(f"Flip each row.\n```python\n{GOOD}```\nDone.")
    assert e.code == GOOD and e.reason is None


def test_last_block_defining_transform_wins_over_later_non_program_block():
    text = f"```python\n{DRAFT}```\nBetter:\n```python\n{GOOD}```\nExample use:\n```python\nprint(transform([[1]]))\n```"
    assert extract_program(text).code == GOOD


def test_last_code_block_when_none_defines_transform():
    text = "```python\nx = 1\n```\nand\n```\ny = 2\n```"
    assert extract_program(text).code == "y = 2\n"


def test_missing_closing_fence_runs_to_end():
    e = extract_program(f"Here it is:\n```python\n{GOOD}")
    assert e.code == GOOD


def test_truncated_last_block_falls_back_to_earlier_complete_one():
    text = f"```python\n{GOOD}```\nA rewrite:\n```python\ndef transform(grid):\n    return [r for r in"
    assert extract_program(text).code == GOOD


def test_think_section_is_ignored():
    text = f"<think>\nMaybe:\n```python\n{DRAFT}```\nno...\n</think>\nFinal:\n```python\n{GOOD}```"
    assert extract_program(text).code == GOOD


def test_close_think_without_open_drops_the_reasoning_before_it():
    # Qwen3-style chat templates put `<think>` in the prompt; the completion only closes it.
    text = f"I could try\n```python\n{GOOD}```\n</think>\nNo program after all."
    e = extract_program(text)
    assert e.code is None and "no code block" in e.reason


def test_unclosed_think_yields_nothing_with_reason():
    e = extract_program(f"<think>\nLet me think.\n```python\n{GOOD}```\nhmm")
    assert e.code is None and "unclosed <think>" in e.reason


def test_no_code_gives_reason():
    e = extract_program("I cannot solve this puzzle.")
    assert e.code is None and "no code block" in e.reason


def test_unparseable_only_block_gives_reason():
    e = extract_program("```python\ndef transform(grid)\n    return grid\n```")
    assert e.code is None and "parses" in e.reason


def test_non_python_blocks_are_not_programs():
    e = extract_program("```text\n012\n345\n```")
    assert e.code is None and "non-Python" in e.reason


def test_fallback_entry_name_counts_as_defining():
    solve = "def solve(grid):\n    return grid[::-1]\n"
    text = f"```python\n{solve}```\n```python\nresult = 3\n```"
    assert extract_program(text).code == solve


def test_unfenced_program():
    e = extract_program("import numpy as np\n\n" + GOOD)
    assert e.code == "import numpy as np\n\n" + GOOD


def test_py_tag_and_trailing_prose_after_fence():
    e = extract_program(f"```py\n{GOOD}   ```  \nThat flips rows.")
    assert e.code == GOOD


def test_block_too_deep_to_compile_is_skipped():
    deep = "def transform(grid):\n    x = " + "+".join(["1"] * 50000) + "\n    return grid\n"
    e = extract_program(f"```python\n{GOOD}```\n```python\n{deep}```")
    assert e.code == GOOD
