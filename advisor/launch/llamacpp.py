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
    # flash attention as the plan was sized (rules/engines/llamacpp.py): on wherever the backend has the kernels
    # (a quantized KV cache needs it; builds whose default is off would otherwise reserve context x context
    # scores), off where the GPU lacks them for this head size, whose materialised scores the plan then holds
    why = flash_off_reason(plan, spec)
    args += ["-fa", "off" if why else "on"]
    if cache != "f16":
        args += ["-ctk", cache, "-ctv", cache]
    if len(plan.gpu_indices) > 1:
        args += ["--split-mode", "layer"]
    if ctx.rope:
        args += ["--rope-scaling", "yarn", "--rope-scale", f"{ctx.rope['factor']:g}",
                 "--yarn-orig-ctx", str(ctx.rope["original_max_position_embeddings"])]
    return {"engine": "llama.cpp", "command": shlex.join(args), "env": ctx.env, "note": why}


def flash_off_reason(plan: Plan, spec: ModelSpec) -> str | None:
    """Why the plan runs without flash attention (its GPUs lack the kernels for this model), or None."""
    from rules import engines

    if not plan.gpu_indices:
        return None
    return engines.get(plan.engine).no_flash_reason(spec)
