"""llama.cpp: `llama-server` (its README: -m, -c, -ngl, -np, -ctk/-ctv with -fa, --split-mode, --rope-scaling yarn)."""

from __future__ import annotations

import shlex
from typing import Any

from advisor.launch.common import Context, cache_type, gguf_file, gpu_layers_flag
from rules.plan import Plan
from rules.spec import ModelSpec


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    cache = cache_type(plan)
    args = ["llama-server", "-m", gguf_file(spec, plan), "-c", str((plan.context or 0) * max(plan.batch, 1)),
            "-ngl", gpu_layers_flag(plan)]
    if plan.batch > 1:
        args += ["-np", str(plan.batch)]
    # flash attention on, always: the plan's compute buffer is sized for it (rules/engines/llamacpp.py), and a
    # quantized KV cache needs it; builds whose default is off would otherwise reserve context x context scores
    args += ["-fa", "on"]
    if cache != "f16":
        args += ["-ctk", cache, "-ctv", cache]
    if len(plan.gpu_indices) > 1:
        args += ["--split-mode", "layer"]
    if ctx.rope:
        args += ["--rope-scaling", "yarn", "--rope-scale", f"{ctx.rope['factor']:g}",
                 "--yarn-orig-ctx", str(ctx.rope["original_max_position_embeddings"])]
    return {"engine": "llama.cpp", "command": shlex.join(args), "env": ctx.env}
