"""Ollama: a Modelfile (FROM, PARAMETER num_ctx / num_gpu) and its environment (OLLAMA_FLASH_ATTENTION,
OLLAMA_KV_CACHE_TYPE)."""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context, cache_type, gguf_file, gpu_layers_flag
from advisor.launch.llamacpp import flash_off_reason
from rules.plan import Plan
from rules.spec import ModelSpec


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    ngl = gpu_layers_flag(plan)
    layers = int(ngl) if ngl != "99" else (plan.total_layers or 99)
    cache = cache_type(plan)
    modelfile = [f"FROM {gguf_file(spec, plan)}", f"PARAMETER num_ctx {plan.context}", f"PARAMETER num_gpu {layers}"]
    env = dict(ctx.env)
    why = flash_off_reason(plan, spec)
    if why is None:
        env["OLLAMA_FLASH_ATTENTION"] = "1"  # the plan's compute buffer is sized with flash attention on
    if cache != "f16":
        env["OLLAMA_KV_CACHE_TYPE"] = cache
    return {"engine": "ollama", "modelfile": "\n".join(modelfile), "env": env, "note": why,
            "options": {"num_ctx": plan.context, "num_gpu": int(ngl) if ngl != "99" else plan.total_layers}}
