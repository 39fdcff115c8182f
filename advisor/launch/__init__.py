"""Settings to paste for a plan: one module per engine, registered here under the engine's name (the same names as
rules/engines/). Each module's `settings(plan, spec, ctx)` returns {"engine", "command" or "python" or
"modelfile", "env", ...}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from advisor.launch import diffusion, embedding, llamacpp, ollama, sglang, speech, tensorrt_llm, transformers, vision, vllm
from advisor.launch.common import Context, context_for
from rules.plan import Plan
from rules.spec import ModelSpec

LAUNCHERS: dict[str, Callable[[Plan, ModelSpec, Context], dict[str, Any]]] = {
    "vllm": vllm.settings,
    "sglang": sglang.settings,
    "tensorrt-llm": tensorrt_llm.settings,
    "transformers": transformers.settings,
    "llama.cpp": llamacpp.settings,
    "ollama": ollama.settings,
    **vision.LAUNCHERS,  # the vision runtimes of rules/runtimes.py
}


def settings_for(plan: Plan, spec: ModelSpec) -> dict[str, Any]:
    """What to type to run this plan (its engine's launcher; speech plans have their own)."""
    table = {"speech": speech.LAUNCHERS, "embedding": embedding.LAUNCHERS,
             "diffusion": diffusion.LAUNCHERS}.get(plan.workload, LAUNCHERS)
    return table[plan.engine](plan, spec, context_for(plan, spec))
