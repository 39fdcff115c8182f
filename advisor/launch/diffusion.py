"""Settings to paste for diffusion plans (rules/workloads/diffusion.py): diffusers' pipeline with the plan's layout."""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context
from rules.plan import Plan
from rules.spec import ModelSpec

TORCH_DTYPES = {"fp16": "torch.float16", "bf16": "torch.bfloat16", "fp32": "torch.float32"}


def diffusers(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    repo = (spec.diffusion.repo if spec.diffusion else None) or spec.name
    h, w = plan.image_size or (1024, 1024)
    lines = ["import torch", "from diffusers import DiffusionPipeline",
             f"pipe = DiffusionPipeline.from_pretrained({repo!r}, torch_dtype={TORCH_DTYPES[plan.precision]})"]
    if plan.placement == "offload":
        lines.append("pipe.enable_model_cpu_offload()  # one component on the GPU at a time")
    elif plan.placement == "single-gpu":
        lines.append('pipe = pipe.to("cuda")')
    if plan.vae_tiling:
        lines.append("pipe.vae.enable_slicing()  # the decode runs image by image")
        lines.append("pipe.vae.enable_tiling()  # and tile by tile")
    lines.append(f"images = pipe(prompt, height={h}, width={w}, num_images_per_prompt={plan.batch}, "
                 f"num_inference_steps={plan.steps or 30}).images")
    return {"engine": "diffusers", "python": "\n".join(lines), "env": ctx.env}


LAUNCHERS = {"diffusers": diffusers}
