import hashlib

from arc_induct.tiny_model import HEAD_DIM, make_tiny_model


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_files(tmp_path, tiny_model):
    again = make_tiny_model(tmp_path / "again", seed=0)
    assert _digests(again) == _digests(tiny_model)


def test_other_seed_gives_other_weights(tmp_path, tiny_model):
    other = make_tiny_model(tmp_path / "other", seed=1)
    assert _digests(other)["model.safetensors"] != _digests(tiny_model)["model.safetensors"]
    assert _digests(other)["tokenizer.json"] == _digests(tiny_model)["tokenizer.json"]


def test_tokenizer_round_trips_code_grids_and_whitespace(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = "```python\ndef transform(grid):\n\treturn [[0, 1], [9, 8]]\n```\n0 1 2\n3 4 5\n  é✓"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_tokenizer_spends_one_token_per_grid_cell(tiny_model):
    """Merges learned from grids: " 7" is one token, as in Qwen's own tokenizer, so prompt lengths
    measured with the tiny model are realistic."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    row = "0 0 1 0 2 0 3 0 0 4\n"
    assert len(tok.encode(row * 10, add_special_tokens=False)) == 11 * 10


def test_chat_template_renders_chatml_with_generation_prompt(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = tok.apply_chat_template([{"role": "user", "content": "solve"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<|im_start|>user\nsolve<|im_end|>\n<|im_start|>assistant\n"


def test_head_dim_is_one_the_cpu_kernel_accepts(tiny_model):
    import json

    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["model_type"] == "qwen3" and cfg["head_dim"] == HEAD_DIM == 64


def test_chat_template_takes_enable_thinking_as_qwen3_does(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = [{"role": "user", "content": "solve"}]
    render = lambda **kw: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)  # noqa: E731
    assert render(enable_thinking=True) == render() == "<|im_start|>user\nsolve<|im_end|>\n<|im_start|>assistant\n"
    assert render(enable_thinking=False) == render() + "<think>\n\n</think>\n\n"


def test_max_positions_sets_the_context_length(tmp_path):
    import json

    short = make_tiny_model(tmp_path / "short", max_positions=2048)
    assert json.loads((short / "config.json").read_text())["max_position_embeddings"] == 2048
    assert json.loads((short / "tokenizer_config.json").read_text())["model_max_length"] == 2048


def test_the_tiny_model_is_recognised_and_another_folder_is_not(tiny_model, tmp_path):
    from arc_induct.tiny_model import is_tiny_model

    assert is_tiny_model(tiny_model)
    (tmp_path / "config.json").write_text('{"hidden_size": 4096, "num_hidden_layers": 36}')
    assert not is_tiny_model(tmp_path) and not is_tiny_model(tmp_path / "missing")
