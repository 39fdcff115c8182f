"""SGLang: `python -m sglang.launch_server` (docs: "Server arguments": --model-path, --context-length, --tp,
--mem-fraction-static, --kv-cache-dtype, --quantization, --json-model-override-args)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from advisor.launch.common import Context
from rules.plan import Plan
from rules.spec import ModelSpec

QUANTIZATION = {"fp8": "fp8", "awq-int4": "awq", "gptq-int4": "gptq", "nvfp4": "modelopt_fp4", "mxfp4": "mxfp4",
                "int8-w8a8": "w8a8_int8"}


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    args = ["python", "-m", "sglang.launch_server", "--model-path", ctx.ref, "--context-length", str(plan.context)]
    if plan.torch_dtype:
        args += ["--dtype", plan.torch_dtype]
    quant = QUANTIZATION.get(plan.precision)
    if quant and not (spec.quantization and plan.precision != "fp8"):
        args += ["--quantization", quant]
    if plan.kv_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8_e4m3"]
    if plan.gpu_memory_utilization is not None:
        args += ["--mem-fraction-static", f"{plan.gpu_memory_utilization:.2f}"]
    if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
        args += ["--tp", str(plan.tensor_parallel_size)]
    if plan.batch > 1:
        args += ["--max-running-requests", str(plan.batch)]
    if ctx.rope:
        args += ["--json-model-override-args", json.dumps({"rope_scaling": ctx.rope}, separators=(",", ":"))]
    return {"engine": "sglang", "command": shlex.join(args), "env": ctx.env}
