import asyncio
import dataclasses
import importlib.util
from pathlib import Path

import pytest

from arc_induct.config import PRESETS
from arc_induct.quantize import QuantizeError, quantization_summary, quantize
from arc_induct.replicas import Replicas, log_tail
from arc_induct.router import CompletionRequest, Router, SamplingConfig

QUANTIZE_PYTHON = Path(__file__).resolve().parents[1] / ".venv-quantize/bin/python"


def test_a_folder_without_config_json_is_refused_with_its_path(tmp_path):
    with pytest.raises(QuantizeError, match=f"{tmp_path}: not a model folder"):
        quantize(tmp_path, tmp_path / "out")


@pytest.mark.skipif(importlib.util.find_spec("llmcompressor") is not None,
                    reason="llmcompressor is importable here, so no venv is needed")
def test_a_missing_quantize_venv_names_it_and_the_command_that_creates_it(tiny_model, tmp_path):
    with pytest.raises(QuantizeError, match=r"nope/python does not exist.*bash scripts/setup.sh"):
        quantize(tiny_model, tmp_path / "out", python=tmp_path / "nope/python")


@pytest.fixture(scope="module")
def fp8_model(tiny_model, tmp_path_factory):
    assert QUANTIZE_PYTHON.exists(), f"{QUANTIZE_PYTHON} missing: run `bash scripts/setup.sh`"
    return quantize(tiny_model, tmp_path_factory.mktemp("fp8") / "tiny-fp8", python=QUANTIZE_PYTHON)


@pytest.mark.vllm
def test_quantized_config_says_compressed_tensors_fp8_with_lm_head_kept(fp8_model):
    q = quantization_summary(fp8_model)
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "float-quantized"
    assert q["weight_types"] == ["float8"] and q["ignore"] == ["lm_head"]
    assert (fp8_model / "chat_template.jinja").exists() and (fp8_model / "tokenizer.json").exists()


@pytest.mark.vllm
def test_vllm_serves_the_fp8_model_with_an_fp8_kv_cache(fp8_model, tmp_path):
    serving = dataclasses.replace(PRESETS["cpu-smoke"].serving, replicas=1, kv_cache_dtype="fp8",
                                  served_model_name="tiny-fp8")

    async def ask(endpoints):
        async with Router(endpoints, "tiny-fp8") as r:
            return await r.complete(CompletionRequest("fp8", 0, "def transform(grid):", seed=0, n=2,
                                                      sampling=SamplingConfig(max_tokens=16)))

    with Replicas(fp8_model, serving, log_dir=tmp_path) as replicas:
        done = asyncio.run(ask(replicas.endpoints))
    assert len(done.texts) == 2 and done.completion_tokens > 0
    log = log_tail(tmp_path / "replica-0.log", lines=100_000)
    assert "Using fp8 data type to store kv cache" in log
    assert "CompressedTensorsW8A8Fp8" in log
