import pytest

import json
from pathlib import Path

from arc_induct.prompts import (
    FormatError,
    Prompt,
    builtin_formats,
    format_grid,
    load_format,
    prompt_hash,
    prompt_length,
    render,
    shape_text,
    task_prompt,
)
from arc_induct.store import Attempt
from arc_induct.tasks import load_tasks

DATA = Path(__file__).parent / "data"


def first_prompt(task):
    return task_prompt(task)


def refine_prompt(task, parent):
    return task_prompt(task, parent)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _user(prompt: Prompt) -> str:
    return next(m["content"] for m in prompt.messages if m["role"] == "user")


def _tiny_tokenizer(with_template: bool):
    """A real PreTrainedTokenizerFast over a BPE trained here in well under a second."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(["Input Output rows columns 0123456789 transform grid python"] * 20, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    if with_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def test_first_prompt_shows_every_grid_and_shape(arc2_eval):
    for task in arc2_eval[:30]:
        text = _user(first_prompt(task))
        for pair in task.train:
            for grid in (pair.input, pair.output):
                assert format_grid(grid) in text and shape_text(grid) in text
        for grid in task.test_inputs:
            assert format_grid(grid) in text and shape_text(grid) in text


def test_first_prompt_never_leaks_test_outputs(arc1_eval):
    # A test output that is not also shown as some train/test grid must not appear.
    for task in arc1_eval[:40]:
        shown = {format_grid(g) for p in task.train for g in (p.input, p.output)} | {
            format_grid(g) for g in task.test_inputs
        }
        text = _user(first_prompt(task))
        for out in task.test_outputs:
            if format_grid(out) not in shown and len(out) * len(out[0]) > 4:
                assert f"\n{format_grid(out)}\n" not in text + "\n"


def test_first_prompt_asks_for_transform_and_names_colours(arc1_eval):
    p = first_prompt(arc1_eval[0])
    assert p.messages[0]["role"] == "system"
    text = _user(p)
    assert "transform(grid: list[list[int]]) -> list[list[int]]" in text and "```python" in text
    assert "hard-code" in text and "8 light blue/azure" in text and "9 maroon" in text


def test_render_plain_without_tokenizer(arc1_eval):
    p = first_prompt(arc1_eval[0])
    text = render(p)
    assert text.startswith("### System\n") and text.endswith("### Assistant\n")
    assert _user(p) in text
    assert prompt_length(text) == len(text)


def test_render_uses_chat_template_of_real_tokenizer(arc1_eval):
    tok = _tiny_tokenizer(with_template=True)
    p = first_prompt(arc1_eval[1])
    text = render(p, tok)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert _user(p) in text
    # Token count, not characters: BPE merges make it strictly shorter than the text.
    n = prompt_length(text, tok)
    assert 0 < n < len(text)
    assert n == len(tok(text, add_special_tokens=False)["input_ids"])


def test_render_falls_back_to_plain_when_tokenizer_has_no_template(arc1_eval):
    tok = _tiny_tokenizer(with_template=False)
    p = first_prompt(arc1_eval[2])
    assert render(p, tok) == render(p)


def _run(code, task):
    execution = pytest.importorskip("arc_induct.execution")
    with execution.ExecutionPool(workers=1) as pool:
        return pool.run(code, task)


def test_refine_prompt_reports_cell_diff_and_unverified_tests(arc1_eval):
    # Identity is wrong on every pair of this same-shape recolouring task, so each gets a diff.
    task = next(t for t in arc1_eval if all(
        len(p.input) == len(p.output) and len(p.input[0]) == len(p.output[0]) for p in t.train))
    code = "def transform(grid):\n    return [row[:] for row in grid]\n"
    result = _run(code, task)
    text = _user(refine_prompt(task, Attempt(task.id, 0, code=code, result=result)))
    right = sum(result.train_correct)
    assert f"It got {right} of {len(task.train)} training examples right" in text
    assert code.strip() in text
    assert text.count("cells wrong") == len(task.train) - right
    assert text.count("(unverified") == len(task.test_inputs)
    for pair, ok in zip(task.train, result.train_correct):
        if not ok:
            assert format_grid(pair.output) in text


def test_refine_prompt_notes_shape_mismatch(arc1_eval):
    task = next(t for t in arc1_eval if all(len(p.input) != len(p.output) for p in t.train))
    code = "def transform(grid):\n    return [row[:] for row in grid]\n"
    text = _user(refine_prompt(task, Attempt(task.id, 0, code=code, result=_run(code, task))))
    assert text.count("Shape mismatch") == len(task.train)
    assert "cells wrong" not in text


def test_refine_prompt_shows_error_text(arc1_eval):
    task = arc1_eval[3]
    code = "def transform(grid):\n    raise ValueError('no idea what to do')\n"
    text = _user(refine_prompt(task, Attempt(task.id, 0, code=code, result=_run(code, task))))
    assert "It got 0 of" in text
    assert text.count("no idea what to do") >= len(task.train)


def test_an_attempt_without_an_executed_program_cannot_be_refined(arc1_eval):
    with pytest.raises(ValueError, match="attempt .*/4 has no executed program"):
        refine_prompt(arc1_eval[0], Attempt(arc1_eval[0].id, 4, code="def transform(g): return g"))


def test_prompt_hash_is_stable_and_distinguishes_prompts():
    assert prompt_hash("a prompt") == prompt_hash("a prompt") != prompt_hash("a prompt.")
    assert len(prompt_hash("x")) == 16


# ---- prompt formats as data -----------------------------------------------------------------

def test_the_builtin_format_reproduces_the_prompts_of_the_python_code_byte_for_byte():
    """tests/data/builtin_prompts.json holds first and refinement prompts of 4 real tasks (identity,
    raising, ragged and recolouring parents) as prompts.py wrote them in Python before formats
    became template files (commit 9536ad3); formats/default.jinja must write the same bytes."""
    rows = json.loads((DATA / "builtin_prompts.json").read_text())
    tasks = {t.id: t for t in load_tasks("arc-agi-1/evaluation")}
    execution = pytest.importorskip("arc_induct.execution")
    assert "default" in builtin_formats()
    with execution.ExecutionPool(workers=1) as pool:
        for row in rows:
            task = tasks[row["task_id"]]
            parent = Attempt(task.id, 3, code=row["code"], result=pool.run(row["code"], task)) if row["code"] else None
            assert [dict(m) for m in task_prompt(task, parent, load_format("default")).messages] == row["messages"]
    assert sum(r["code"] is not None for r in rows) == 16


# A layout in the style of SOAR's prompts, written out by hand for one real task (arc-agi-1
# evaluation 66e6c45b: 2 train pairs of 4x4 grids, one test input), refined from an identity program.
SOAR_LIKE = """\
{% set system %}You are a world-class puzzle solver who writes Python.{% endset %}
{% set user %}
Solve the puzzle {{ task_id }} by writing `transform(grid)`.
{% for pair in train %}
## Input {{ loop.index }}
{{ pair.input }}
## Output {{ loop.index }}
{{ pair.output }}
{% endfor %}
{% for g in test %}
## Test Input {{ loop.index }} ({{ g.rows }}x{{ g.cols }})
{{ g }}
{% endfor %}
{% if parent %}
Previous code ({{ parent.right }}/{{ parent.total }} train correct):
```python
{{ parent.code | trim }}
```
{% for p in parent.pairs if not p.correct %}
Wrong on {{ p.index }}: expected {{ p.expected | grid("comma") }} got {{ p.predicted.cells }}
{% endfor %}
{% endif %}
{% endset %}
"""

SOAR_LIKE_EXPECTED = """\
Solve the puzzle 66e6c45b by writing `transform(grid)`.
## Input 1
0 0 0 0
0 3 4 0
0 7 6 0
0 0 0 0
## Output 1
3 0 0 4
0 0 0 0
0 0 0 0
7 0 0 6
## Input 2
0 0 0 0
0 5 6 0
0 8 3 0
0 0 0 0
## Output 2
5 0 0 6
0 0 0 0
0 0 0 0
8 0 0 3
## Test Input 1 (4x4)
0 0 0 0
0 2 3 0
0 4 9 0
0 0 0 0
Previous code (0/2 train correct):
```python
def transform(grid):
    return grid
```
Wrong on 1: expected 3,0,0,4
0,0,0,0
0,0,0,0
7,0,0,6 got [[0, 0, 0, 0], [0, 3, 4, 0], [0, 7, 6, 0], [0, 0, 0, 0]]
Wrong on 2: expected 5,0,0,6
0,0,0,0
0,0,0,0
8,0,0,3 got [[0, 0, 0, 0], [0, 5, 6, 0], [0, 8, 3, 0], [0, 0, 0, 0]]
"""


def test_a_template_file_reproduces_a_given_layout_byte_for_byte(tmp_path, arc1_eval):
    path = tmp_path / "soar_like.jinja"
    path.write_text(SOAR_LIKE)
    task = next(t for t in arc1_eval if t.id == "66e6c45b")
    code = "def transform(grid):\n    return grid\n\n"
    parent = Attempt(task.id, 0, code=code, result=_run(code, task))
    prompt = task_prompt(task, parent, load_format(str(path), encoding="spaced"))
    assert prompt.messages == ({"role": "system", "content": "You are a world-class puzzle solver who writes Python."},
                               {"role": "user", "content": SOAR_LIKE_EXPECTED})


@pytest.mark.parametrize("encoding, row", [("digits", "0340"), ("spaced", "0 3 4 0"), ("comma", "0,3,4,0")])
def test_grid_encodings_reach_prompt_and_feedback(arc1_eval, encoding, row):
    task = next(t for t in arc1_eval if t.id == "66e6c45b")
    code = "def transform(grid):\n    return grid\n"
    parent = Attempt(task.id, 0, code=code, result=_run(code, task))
    user = _user(task_prompt(task, parent, load_format("default", encoding)))
    grid = format_grid(task.train[0].input, encoding)
    assert grid.splitlines()[1] == row
    # In the task, and as the prediction the identity parent made for pair 1 in the feedback.
    assert f"## Example 1\nInput (4 rows x 4 columns):\n{grid}\n" in user
    assert f"Predicted (4 rows x 4 columns):\n{grid}\n" in user


def _format_file(tmp_path, text):
    path = tmp_path / "f.jinja"
    path.write_text(text)
    return str(path)


def test_a_template_syntax_error_names_file_and_line(tmp_path):
    path = _format_file(tmp_path, "{% set user %}\nok\n{% for x in train %}\n{% endset %}\n")
    with pytest.raises(FormatError, match=rf"{path}: line \d: .*"):
        load_format(path)


def test_an_unknown_field_fails_at_load_naming_it_even_in_the_refine_branch(tmp_path):
    path = _format_file(tmp_path, "{% set user %}{{ train }}{% if parent %}{{ parent.feedbak }}{% endif %}{% endset %}")
    with pytest.raises(FormatError, match=rf"{path}.*feedbak"):
        load_format(path)


def test_a_format_without_a_user_message_is_refused(tmp_path):
    with pytest.raises(FormatError, match="sets no `user` message"):
        load_format(_format_file(tmp_path, "{% set system %}hi{% endset %}"))


def test_an_unknown_format_lists_the_builtins(tmp_path):
    with pytest.raises(FormatError, match=r"'nope': not a built-in \(default\)"):
        load_format("nope")
    with pytest.raises(FormatError, match="unknown grid encoding 'hex'"):
        load_format("default", encoding="hex")


THINKING_TEMPLATE = CHAT_TEMPLATE + (
    "{% if add_generation_prompt and enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}")


def test_thinking_reaches_the_chat_template_as_enable_thinking(arc1_eval):
    tok = _tiny_tokenizer(with_template=True)
    tok.chat_template = THINKING_TEMPLATE
    p = first_prompt(arc1_eval[0])
    model_default, on, off = (render(p, tok, thinking) for thinking in (None, True, False))
    assert model_default == on == render(p, tok, True) and on.endswith("<|im_start|>assistant\n")
    assert off == on + "<think>\n\n</think>\n\n"


def test_prompt_hash_of_chat_messages_is_stable_and_distinguishes_them(arc1_eval):
    a, b = first_prompt(arc1_eval[0]).messages, first_prompt(arc1_eval[1]).messages
    assert prompt_hash(a) == prompt_hash(tuple(dict(m) for m in a)) != prompt_hash(b)
    assert prompt_hash(a) != prompt_hash(render(Prompt(a)))


def test_the_readme_example_format_renders(tmp_path, arc1_eval):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    source = readme.split("````jinja\n", 1)[1].split("````", 1)[0]
    path = tmp_path / "readme.jinja"
    path.write_text(source)
    task = arc1_eval[0]
    messages = task_prompt(task, None, load_format(str(path), "comma")).messages
    assert [m["role"] for m in messages] == ["system", "user"]
    assert f"## Input 1 ({len(task.train[0].input)}x" in messages[1]["content"]
    assert format_grid(task.test_inputs[0], "comma") in messages[1]["content"]
