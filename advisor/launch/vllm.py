"""vLLM: `vllm serve` (docs: "Engine arguments"; config overrides as JSON with --hf-overrides, YaRN as in Qwen's
long-context instructions)."""

from __future__ import annotations

import shlex
from typing import Any

from advisor.launch.common import QUANTIZATION_METHODS, Context, ServerFlags, quantize_note, server_args
from rules.plan import Plan
from rules.spec import ModelSpec

FLAGS = ServerFlags(
    quantization={**QUANTIZATION_METHODS, "int8-w8a8": "compressed-tensors"},
    kv_fp8=("--kv-cache-dtype", "fp8"), memory="--gpu-memory-utilization", tensor_parallel="--tensor-parallel-size",
    batch="--max-num-seqs", overrides="--hf-overrides")


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    args = server_args(["vllm", "serve", ctx.ref, "--max-model-len", str(plan.context)], plan, spec, ctx, FLAGS)
    return {"engine": "vllm", "command": shlex.join(args), "env": ctx.env, "note": quantize_note(plan, spec)}
