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


# ---- failure shapes met in recorded completions of real models ------------------------------------
# Each reproduces a shape from the real-text corpus (scripts/build_real_corpus.py; the recorded text
# itself has no licence to be copied here). "Failed before": the test failed on the regex fence
# reader this module replaced; the others guard shapes a first draft of the new reader broke.

def _defines_transform(code):
    import ast
    return any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in ast.parse(code).body)


def test_new_opener_after_unclosed_block_is_not_a_closing_fence():
    # Failed before.
    # A draft abandoned mid-statement, then "Final answer:" and a new ```python block: read as a
    # closing fence, the new opener swallowed the real program.
    text = ("```python\nimport numpy as np\ndef transform(grid):\n    a = np.array(grid)\n    b = a[\n\n"
            f"Final answer:\n```python\n{GOOD}```\n")
    assert extract_program(text).code == GOOD


def test_opener_glued_to_an_unfinished_line_starts_a_new_block():
    # Failed before.
    text = f"```python\ndef transform(grid):\n    rotated_p```python\n{GOOD}```\n"
    assert extract_program(text).code == GOOD


def test_closing_fence_followed_by_prose_on_the_same_line():
    # Fine-tuned models repeat "```Final answer:\n```python" until the length limit.
    text = f"Final answer:\n```python\n{DRAFT}```Final answer:\n```python\n{GOOD}```Final answer:\n```python\ndef transform(grid):\n    out = [[0] * 4 for _ in range(5)]\n    out[0][0] = grid["
    assert extract_program(text).code == GOOD


def test_digit_only_block_is_not_a_program():
    # Failed before.
    e = extract_program("The output is:\n```\n0\n9\n1\n8\n6\n```\n")
    assert e.code is None and "data" in e.reason


def test_grid_blocks_do_not_hide_the_program_or_count_as_one():
    text = f"Input:\n```\n0 1 1\n4 1 5\n```\nOutput:\n```\n[[2, 1], [4, 1]]\n```\nCode:\n```python\n{GOOD}```\nCheck:\n```\n[[1, 2]]\n```"
    assert extract_program(text).code == GOOD


def test_complete_transform_before_an_unfinished_literal_is_kept():
    # Failed before.
    # Cut by the length limit while writing a test input after a finished program.
    text = f"```python\n{GOOD}\n\ntest_input = [\n    [0, 0, 5, 0],\n    [0, 5"
    assert extract_program(text).code == GOOD


def test_transform_cut_in_its_own_body_is_not_kept():
    text = f"```python\n{DRAFT}```\nImproved:\n```python\ndef helper(x):\n    return x\n\ndef transform(grid):\n    for r in range(len(grid)):\n        if grid[r][0] =="
    assert extract_program(text).code == DRAFT


def test_unfenced_program_followed_by_prose():
    # Failed before.
    e = extract_program(f"{GOOD}\nThis reverses every row, as in all three examples.")
    assert e.code == GOOD


def test_block_indented_inside_a_list_item_is_dedented():
    # Failed before.
    body = "".join("    " + line + "\n" for line in GOOD.splitlines())
    text = f"3. Implement it:\n    ```python\n{body}    ```\n"
    assert extract_program(text).code == GOOD


def test_reasoning_section_exemplars():
    # Greenblatt's hand-written <reasoning> + code completions (MIT; source in each row).
    import json
    from pathlib import Path

    rows = [json.loads(line) for line in (Path(__file__).parent / "data" / "greenblatt_exemplars.jsonl").open()]
    assert rows and all("(MIT)" in r["source"] for r in rows)
    for row in rows:
        e = extract_program(row["completion"])
        assert e.code is not None and _defines_transform(e.code), row["source"]
        assert "<reasoning>" not in e.code
