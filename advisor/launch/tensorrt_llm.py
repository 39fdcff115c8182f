"""TensorRT-LLM: `trtllm-serve` (docs: "trtllm-serve": --max_seq_len, --max_batch_size, --tp_size,
--kv_cache_free_gpu_memory_fraction, a fraction of the memory free after the weights load)."""

from __future__ import annotations

import shlex
from typing import Any

from advisor.launch.common import Context
from rules.plan import Plan
from rules.spec import ModelSpec


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    args = ["trtllm-serve", ctx.ref, "--max_seq_len", str(plan.context), "--max_batch_size", str(plan.batch)]
    if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
        args += ["--tp_size", str(plan.tensor_parallel_size)]
    if plan.gpu_memory_utilization is not None:
        args += ["--kv_cache_free_gpu_memory_fraction", f"{plan.gpu_memory_utilization:.2f}"]
    note = (f"quantize the checkpoint to {plan.precision} with TensorRT Model Optimizer first"
            if plan.precision not in ("bf16", "fp16") else None)
    return {"engine": "tensorrt-llm", "command": shlex.join(args), "env": ctx.env, "note": note}
