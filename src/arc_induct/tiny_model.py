"""A tiny random-weight Qwen3 model with a real tokenizer, built locally in a few seconds.

Covered: `make_tiny_model(out_dir, seed, max_positions)` writes a Hugging Face model folder (config,
safetensors weights, tokenizer with a Qwen3-style chat template that takes `enable_thinking`) that
vLLM serves and llmcompressor quantizes.
Tests and the CPU smoke run use it so that every part of the serving path is real without
downloading weights. The same seed gives the same files, byte for byte.

Not covered: useful text. The weights are random, so completions are gibberish; it exercises
tokenization, batching, prefix caching, sampling and FP8 kernels, never answer quality.

transformers, tokenizers and torch are imported inside the function: they come with the `cpu` or
`gpu` extra, not with the core package.
"""

from __future__ import annotations

from pathlib import Path

# Shapes verified on the CPU attention kernel (../shared/PLATFORM.md): head_dim 16 is refused, 64 works.
HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 128, 256, 2, 2, 1, 64
VOCAB = 1024
MAX_POSITIONS = 8192
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Qwen's ChatML layout, so prompts rendered for the tiny model look like the real model's; like
# Qwen3's template it thinks unless `enable_thinking` is false, which opens with an empty think block.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}"
    "{% endif %}"
)

# What the tokenizer learns merges from: ARC-style grids, prose, and Python in markdown fences, so
# digits, spaces, newlines and code all tokenize to short sequences.
_CORPUS = [
    "You are given input and output grids. Write a Python function transform(grid) that maps each "
    "input grid to its output grid. Answer with one ```python code block.",
    "Example 1\nInput:\n0 0 1\n0 2 0\n3 0 0\nOutput:\n1 0 0\n0 2 0\n0 0 3\n",
    "\n".join(" ".join(str((r * 7 + c * 3) % 10) for c in range(12)) for r in range(12)),
    "```python\ndef transform(grid):\n    h, w = len(grid), len(grid[0])\n"
    "    out = [[0] * w for _ in range(h)]\n    for r in range(h):\n        for c in range(w):\n"
    "            out[r][w - 1 - c] = grid[r][c]\n    return out\n```\n",
    "import numpy as np\n\ndef transform(grid: list[list[int]]) -> list[list[int]]:\n"
    "    a = np.array(grid)\n    return np.rot90(a, k=1).tolist()\n",
    "# Observations\n- The red object moves down until it touches the blue line.\n"
    "- Colors: 0 black, 1 blue, 2 red, 3 green, 4 yellow, 5 grey, 6 magenta, 7 orange, 8 azure, 9 maroon.\n",
    "for i, row in enumerate(grid):\n\tif any(v != 0 for v in row):\n\t\tbreak\nreturn [row[:] for row in grid]\n",
    "0123456789 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] {}()<>=+-*/%:;,.!?'\"#_@$&|\\^~`",
]


def _train_tokenizer():
    """A byte-level BPE tokenizer (every byte string encodes) trained on the built-in corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The corpus repeated so that merge counts are clearly separated (ties make BPE order-sensitive).
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok


def make_tiny_model(out_dir: Path, seed: int = 0, max_positions: int = MAX_POSITIONS) -> Path:
    """Write a random tiny Qwen3 model + tokenizer into `out_dir` (created if needed); return it.
    `max_positions`: its context length (max_position_embeddings), e.g. to try a short-context model."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=max_positions,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        head_dim=HEAD_DIM,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,  # a separate lm_head, as on the real model, so FP8 can leave it out
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        torch_dtype="bfloat16",
    )
    # fork_rng: seeding the global generator would silently change the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def is_tiny_model(folder: Path) -> bool:
    """Whether `folder` holds a model made by `make_tiny_model` (judged by its shapes), so that a
    run can say its text is noise. Reads only config.json; False when there is none."""
    import json

    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    shape = ("hidden_size", "intermediate_size", "num_hidden_layers", "head_dim")
    return tuple(config.get(k) for k in shape) == (HIDDEN, INTERMEDIATE, LAYERS, HEAD_DIM)
