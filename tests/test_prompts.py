import pytest

from arc_induct.prompts import (
    Prompt,
    first_prompt,
    format_grid,
    prompt_hash,
    prompt_length,
    refine_prompt,
    render,
    shape_text,
)
from arc_induct.store import Attempt

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
