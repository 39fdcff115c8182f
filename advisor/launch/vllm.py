"""vLLM: `vllm serve` (docs: "Engine arguments")."""

from __future__ import annotations

import json
import shlex
from typing import Any

from advisor.launch.common import Context
from rules.plan import Plan
from rules.spec import ModelSpec

QUANTIZATION = {"fp8": "fp8", "awq-int4": "awq", "gptq-int4": "gptq", "nvfp4": "modelopt_fp4", "mxfp4": "mxfp4",
                "int8-w8a8": "compressed-tensors"}


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    args = ["vllm", "serve", ctx.ref, "--max-model-len", str(plan.context)]
    if plan.torch_dtype:
        args += ["--dtype", plan.torch_dtype]
    quant = QUANTIZATION.get(plan.precision)
    if quant and not (spec.quantization and plan.precision != "fp8"):
        args += ["--quantization", quant]
    if plan.kv_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    if plan.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", f"{plan.gpu_memory_utilization:.2f}"]
    if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
        args += ["--tensor-parallel-size", str(plan.tensor_parallel_size)]
    if plan.batch > 1:
        args += ["--max-num-seqs", str(plan.batch)]
    if ctx.rope:
        # vLLM reads config overrides as JSON (--hf-overrides); YaRN as in Qwen's long-context instructions
        args += ["--hf-overrides", json.dumps({"rope_scaling": ctx.rope}, separators=(",", ":"))]
    return {"engine": "vllm", "command": shlex.join(args), "env": ctx.env}
