"""What every launcher needs: the model reference to name, the environment that selects the plan's GPUs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.plan import Plan
from rules.spec import ModelSpec


@dataclass(frozen=True)
class Context:
    ref: str  # what to pass as the model: a path, a repo id
    env: dict[str, str] = field(default_factory=dict)
    rope: dict[str, Any] | None = None  # rope scaling for a context past the trained maximum


def model_ref(spec: ModelSpec) -> str:
    if spec.source in ("directory", "hf-cache", "safetensors", "gguf") and spec.location:
        return spec.location if spec.source != "hf-cache" else spec.name
    if spec.source == "catalog" and spec.location and "/" in spec.location:
        return spec.location
    return spec.name


def context_for(plan: Plan, spec: ModelSpec) -> Context:
    env: dict[str, str] = {}
    if plan.cuda_visible_devices:
        # exported together they select the plan's physical GPUs whatever the caller's environment had set
        env = {"CUDA_DEVICE_ORDER": plan.cuda_device_order or "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": plan.cuda_visible_devices}
    return Context(model_ref(spec), env, plan.rope_scaling)


def gguf_file(spec: ModelSpec, plan: Plan) -> str:
    if spec.source == "gguf" and spec.location:
        return spec.location
    base = spec.name.split("/")[-1]
    return f"{base}.{plan.precision}.gguf"


def gpu_layers_flag(plan: Plan) -> str:
    """llama.cpp's -ngl value: 99 (all) when every layer is on the GPU, 0 on the CPU."""
    if plan.placement == "cpu":
        return "0"
    layers = plan.gpu_layers if plan.gpu_layers is not None else 0
    return "99" if plan.total_layers and layers >= plan.total_layers else str(layers)


def cache_type(plan: Plan) -> str:
    return plan.kv_dtype if plan.kv_dtype in ("q8_0", "q4_0") else "f16"
