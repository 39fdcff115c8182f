"""What verify can measure for each engine: the Python packages it needs, the plans it can build, and the job it
hands the measuring child (advisor.verify.child). Keyed by the engines' names (rules/engines); an engine missing
here is estimated only."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from rules.plan import Plan, Request
from rules.spec import ModelSpec

INSTALL = 'pip install "local-advisor[verify]"'


def installed(package: str) -> bool:
    """Whether `package` can be imported here, found without importing it (import torch alone takes ~1.4 s)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Measurer:
    builds: str  # "torch": the model built with transformers; "gguf": a synthetic GGUF loaded by llama.cpp
    packages: tuple[str, ...]
    install: str
    precisions: tuple[str, ...] | None  # None: every GGUF mix with known tensor types
    placements: tuple[str, ...]
    gpu: bool  # can measure on an NVIDIA GPU
    batch_one: bool = False

    def unmeasurable(self, plan: Plan, spec: ModelSpec) -> str | None:
        missing = [m for m in self.packages if not installed(m)]
        if missing:
            return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed ({self.install})"
        if self.precisions is not None and plan.precision not in self.precisions:
            return (f"{plan.precision} weights are not built by verify (random weights are built in "
                    f"{', '.join(self.precisions)}; a quantized layout would need its own kernels' packing)")
        if self.precisions is None:
            from rules.gguf_mix import MIXES

            if plan.precision not in MIXES:
                return f"verify has no tensor types for {plan.precision} (it builds {', '.join(MIXES)})"
        if plan.placement not in self.placements:
            return f"verify measures one device at a time; a {plan.placement} plan is estimated only"
        if plan.devices[0].startswith("gpu:rocm"):
            return "verify measures NVIDIA GPUs (CUDA) and the CPU; this plan is for an AMD GPU"
        if plan.devices[0].startswith("gpu:") and not self.gpu:
            return "verify measures this engine on the CPU only so far"
        if self.batch_one and plan.batch != 1:
            return "verify measures this engine at batch 1 only so far"
        return None


MEASURERS: dict[str, Measurer] = {
    "transformers": Measurer("torch", ("torch", "transformers"), INSTALL, ("fp32", "bf16", "fp16"),
                             ("cpu", "single-gpu", "unified"), gpu=True),
    "llama.cpp": Measurer("gguf", ("llama_cpp",), 'pip install llama-cpp-python', None, ("cpu",), gpu=False, batch_one=True),
}


def job_for(spec: ModelSpec, plan: Plan, request: Request, config: dict[str, Any], prompt: int, steps: int,
            batch: int) -> dict[str, Any]:
    """The child's job for this plan."""
    from rules.precisions import BY_NAME

    on_gpu = plan.devices[0].startswith("gpu:")
    common = {"config": config, "prompt": prompt, "decode_steps": steps, "batch": batch,
              "builds": MEASURERS[plan.engine].builds, "context": plan.context}
    if MEASURERS[plan.engine].builds == "gguf":
        return {**common, "mix": plan.precision, "kv_dtype": request.kv_dtype}
    return {**common, "dtype": BY_NAME[plan.precision].torch_dtype or "float32",
            "device": "cuda:0" if on_gpu else "cpu",
            "nvml_index": plan.gpu_indices[0] if on_gpu and plan.gpu_indices else None}
