"""HF transformers: `from_pretrained` with the plan's dtype, quantization config and device map (accelerate's
`device_map="auto"` with `max_memory` per device for a layer split or CPU offload)."""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context, quantize_note
from rules.engines.transformers import MMAP_THRESHOLD_ENV, compute_bytes, cpu_peak_mmapped
from rules.plan import Plan
from rules.precisions import BY_NAME
from rules.spec import ModelSpec

GIB = 1024**3


def settings(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    dtype = plan.torch_dtype or "bfloat16"
    imports = ["AutoModelForCausalLM"]
    kwargs = [f"torch_dtype=torch.{dtype}"]
    if ctx.rope:
        kwargs.append(f"rope_scaling={ctx.rope!r}")
    if plan.precision == "nf4":
        imports.append("BitsAndBytesConfig")
        kwargs.append("quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", "
                      "bnb_4bit_compute_dtype=torch.bfloat16)")
    elif plan.precision == "fp8" and spec.quantization is None:  # a checkpoint stored in fp8 loads as it is
        imports.append("FineGrainedFP8Config")
        kwargs.append("quantization_config=FineGrainedFP8Config()")
    elif plan.precision == "int8":
        imports.append("BitsAndBytesConfig")
        kwargs.append("quantization_config=BitsAndBytesConfig(load_in_8bit=True)")
    if plan.placement == "cpu":
        device_map = '"cpu"'
    elif plan.placement in ("single-gpu", "unified"):
        device_map = '{"": 0}'
    else:
        device_map = '"auto"'
    kwargs.append(f"device_map={device_map}")
    if device_map == '"auto"':
        budget: dict[str | int, str] = {}
        for i, use in enumerate(plan.per_device):
            key: str | int = "cpu" if use.kind == "cpu" else i
            budget[key] = f"{max(1, int((use.budget_bytes or use.memory.total_bytes) / GIB))}GiB"
        kwargs.append(f"max_memory={budget!r}")
    lines = ["import torch", f"from transformers import {', '.join(imports)}",
             f"model = AutoModelForCausalLM.from_pretrained({ctx.ref!r}, " + ", ".join(kwargs) + ")"]
    if plan.mode in ("lora", "qlora"):
        lines.append("# then: peft.get_peft_model(model, LoraConfig(r=16, target_modules=[\"q_proj\", \"k_proj\", \"v_proj\", "
                     "\"o_proj\"]))")
    if plan.mode != "inference":
        lines.append("model.gradient_checkpointing_enable()")
    env, note = dict(ctx.env), quantize_note(plan, spec)
    if plan.placement == "cpu" and plan.mode == "inference":
        env.update(MMAP_THRESHOLD_ENV)
        steady = heap_note(plan, spec)
        note = f"{note}; {steady}" if note else steady
    return {"engine": "transformers", "python": "\n".join(lines), "env": env, "torch_dtype": dtype,
            "device_map": device_map, "note": note}


def heap_note(plan: Plan, spec: ModelSpec) -> str:
    """What the mmap-threshold setting in the env does to this CPU plan's peak."""
    m = plan.memory
    prompt = plan.prompt or plan.context or 0
    elem = compute_bytes(BY_NAME[plan.precision], True) if plan.precision in BY_NAME else 4
    steady = cpu_peak_mmapped(spec, prompt, plan.batch, elem, m.weights_bytes, m.kv_cache_bytes)
    return (f"with {' '.join(f'{k}={v}' for k, v in MMAP_THRESHOLD_ENV.items())} (in env) glibc leaves no holes in "
            f"its heap: this run then peaks at about {steady / GIB:.2f} GiB every time, instead of up to "
            f"{m.total_bytes / GIB:.2f} GiB (the verdict keeps the larger)")
