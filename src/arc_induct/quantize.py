"""FP8 quantization of a Hugging Face causal LM with llmcompressor, for vLLM to serve.

Covered: `quantize(model_dir, out_dir)` writes an FP8_DYNAMIC checkpoint (per-channel FP8 weights,
per-token dynamic FP8 activations; `lm_head` left in full precision) in compressed-tensors format,
with the tokenizer and chat template copied beside it. No calibration data is needed. On Kaggle's L4
(sm_89) this roughly doubled sampling speed at equal quality; serve it with an FP8 KV cache too
(`--kv-cache-dtype fp8_e4m3`). `quantization_summary` reads back what a checkpoint says it is.

Not covered: calibrated schemes (W4A16, static FP8), GPU offloading for models larger than RAM.

llmcompressor pins a compressed-tensors that differs from vLLM's, so it lives in its own venv
(`.venv-quantize`, made by scripts/setup.sh). When it is not importable here, `quantize` runs this
file as a script with that venv's interpreter: the module therefore imports only the standard
library at the top.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCHEMES = ("FP8_DYNAMIC",)  # per-channel: avoids the block-FP8 kernel gaps on sm_89


class QuantizeError(RuntimeError):
    """Bad input folder, or no environment with llmcompressor; the message says how to fix it."""


def quantize(model_dir: Path, out_dir: Path, scheme: str = "FP8_DYNAMIC",
             python: Path | None = None) -> Path:
    """Quantize `model_dir` into `out_dir`. Runs here if llmcompressor imports, else with `python`."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "config.json").is_file():
        raise QuantizeError(f"{model_dir}: not a model folder (no config.json)")
    if scheme not in SCHEMES:
        raise QuantizeError(f"scheme {scheme!r} is not supported; choose one of {', '.join(SCHEMES)}")
    if importlib.util.find_spec("llmcompressor") is not None:
        return quantize_here(model_dir, out_dir, scheme)
    if python is None or not Path(python).exists():
        raise QuantizeError(
            f"llmcompressor is not installed in this environment ({sys.executable}) and the "
            f"quantize venv {python or '.venv-quantize'} does not exist. Create it with "
            "`bash scripts/setup.sh` (or: python3 -m venv .venv-quantize && "
            ".venv-quantize/bin/pip install 'llmcompressor==0.14.0.1' 'torch==2.13.0'), "
            "or install the `quantize` extra into a venv of its own.")
    done = subprocess.run([str(python), __file__, str(model_dir), str(out_dir), scheme])
    if done.returncode != 0:
        raise QuantizeError(f"quantizing {model_dir} with {python} failed (exit {done.returncode}); "
                            "its traceback is printed above")
    return out_dir


def quantize_here(model_dir: Path, out_dir: Path, scheme: str = "FP8_DYNAMIC") -> Path:
    """The llmcompressor part; needs llmcompressor and torch importable in this process."""
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # lm_head stays full precision: FP8 logits cost quality and it is a small share of the FLOPs.
    recipe = QuantizationModifier(targets="Linear", scheme=scheme, ignore=["lm_head"])
    oneshot(model=model, recipe=recipe)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, save_compressed=True)
    tokenizer.save_pretrained(out_dir)  # also writes the chat template
    return out_dir


def quantization_summary(model_dir: Path) -> dict:
    """What a checkpoint's config.json says about its quantization ({} when it is not quantized)."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    q = cfg.get("quantization_config")
    if not q:
        return {}
    weights = [g.get("weights") or {} for g in q.get("config_groups", {}).values()]
    return {
        "quant_method": q.get("quant_method"),
        "format": q.get("format"),
        "weight_types": sorted({f"{w.get('type')}{w.get('num_bits')}" for w in weights}),
        "ignore": q.get("ignore", []),
    }


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


if __name__ == "__main__":  # the subprocess entry used by quantize(): MODEL_DIR OUT_DIR SCHEME
    quantize_here(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
