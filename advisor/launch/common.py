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
    rocm = [d.removeprefix("gpu:rocm") for d in plan.devices if d.startswith("gpu:rocm")]
    if rocm:  # AMD GPUs (ROCm): HIP selects them, in the probe's order of AMD cards
        env = {"HIP_VISIBLE_DEVICES": ",".join(rocm)}
    hpu = [d.removeprefix("gpu:hpu") for d in plan.devices if d.startswith("gpu:hpu")]
    if hpu:  # Intel Gaudi: the habanalabs runtime selects modules (docs.habana.ai; the vllm-gaudi plugin's
        env = {"HABANA_VISIBLE_MODULES": ",".join(hpu)}  # device_control_env_var)
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


# `--quantization` values that vLLM and SGLang spell alike (each engine's docs; int8-w8a8 differs and is set by each)
QUANTIZATION_METHODS = {"fp8": "fp8", "awq-int4": "awq", "gptq-int4": "gptq", "gptq-int8": "gptq",
                        "nvfp4": "modelopt_fp4", "mxfp4": "mxfp4"}


@dataclass(frozen=True)
class ServerFlags:
    """How one serving engine spells the settings vLLM-like servers share."""

    quantization: dict[str, str]
    kv_fp8: tuple[str, str]  # flag, value
    memory: str
    tensor_parallel: str
    batch: str
    overrides: str  # JSON config overrides (rope scaling)


def server_args(args: list[str], plan: Plan, spec: ModelSpec, ctx: Context, flags: ServerFlags) -> list[str]:
    """`args` (the command and its model and length flags) with the plan's dtype, format, KV type, memory flag,
    tensor parallelism, batch and rope scaling, in the engine's spelling."""
    import json

    out = list(args)
    if plan.torch_dtype:
        out += ["--dtype", plan.torch_dtype]
    quant = flags.quantization.get(plan.precision)
    if quant and not (spec.quantization and plan.precision != "fp8"):  # a quantized checkpoint says its format
        out += ["--quantization", quant]
    if plan.kv_dtype == "fp8":
        out += list(flags.kv_fp8)
    if plan.gpu_memory_utilization is not None:
        out += [flags.memory, f"{plan.gpu_memory_utilization:.2f}"]
    if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
        out += [flags.tensor_parallel, str(plan.tensor_parallel_size)]
    if plan.batch > 1:
        out += [flags.batch, str(plan.batch)]
    if ctx.rope:
        out += [flags.overrides, json.dumps({"rope_scaling": ctx.rope}, separators=(",", ":"))]
    return out


# Formats a serving engine cannot make from bf16 weights on the fly: the plan needs a checkpoint in that format.
# Where it comes from: a repo named `<model>-<FORMAT>` on the Hub, or the tool that makes it.
PREQUANTIZED = {
    "awq-int4": ("AWQ", "AutoAWQ or llm-compressor (W4A16, group 128)"),
    "gptq-int4": ("GPTQ-Int4", "GPTQModel or llm-compressor (W4A16, group 128)"),
    "gptq-int8": ("GPTQ-Int8", "GPTQModel (8-bit, group 128)"),
    "int8-w8a8": ("W8A8", "llm-compressor (SmoothQuant + GPTQ, W8A8 INT8)"),
    "nvfp4": ("NVFP4", "NVIDIA TensorRT Model Optimizer (modelopt, NVFP4)"),
    "mxfp4": ("MXFP4", "a checkpoint published in MXFP4 (as gpt-oss ships)"),
}


def quantize_note(plan: Plan, spec: ModelSpec) -> str | None:
    """For a base model planned in a pre-quantized format: which checkpoint or tool provides it; for an MXFP4
    checkpoint transformers loads as bf16, why."""
    if spec.quantization is not None and spec.quantization.method == "mxfp4" and plan.precision == "bf16":
        return ("transformers dequantizes this MXFP4 checkpoint to bf16 as it loads, as planned here, unless triton >= "
                "3.4 and the kernels package are installed (pip install kernels) on a GPU of compute capability 7.5 "
                "or newer: then it keeps MXFP4 and needs less")
    if spec.quantization is not None or spec.pinned_precision is not None or plan.precision not in PREQUANTIZED:
        return None
    suffix, tool = PREQUANTIZED[plan.precision]
    base = spec.location if spec.location and "/" in spec.location else spec.name
    return (f"{plan.precision} needs a checkpoint in that format: look for {base}-{suffix} on the Hub, or make one "
            f"with {tool}; then name that repo in place of {base}")
