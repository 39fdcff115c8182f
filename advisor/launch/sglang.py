"""SGLang: `python -m sglang.launch_server` (docs: "Server arguments": --model-path, --context-length, --tp,
--mem-fraction-static, --kv-cache-dtype, --quantization, --max-running-requests, --json-model-override-args)."""

from __future__ import annotations

import shlex
from typing import Any

from advisor.launch.common import QUANTIZATION_METHODS, Context, ServerFlags, quantize_note, server_args
from rules.plan import Plan
from rules.spec import ModelSpec

FLAGS = ServerFlags(
    quantization={**QUANTIZATION_METHODS, "int8-w8a8": "w8a8_int8"},
    kv_fp8=("--kv-cache-dtype", "fp8_e4m3"), memory="--mem-fraction-static", tensor_parallel="--tp",
    batch="--max-running-requests", overrides="--json-model-override-args")


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    base = ["python", "-m", "sglang.launch_server", "--model-path", ctx.ref, "--context-length", str(plan.context)]
    return {"engine": "sglang", "command": shlex.join(server_args(base, plan, spec, ctx, FLAGS)), "env": ctx.env,
            "note": quantize_note(plan, spec)}
