"""What the rules return: the request, plans with their memory per device, rejections and advice."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["inference", "finetune", "lora", "qlora"]
Placement = Literal["single-gpu", "tensor-parallel", "layer-split", "fsdp", "offload", "cpu", "unified", "accelerator"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Measured(_Frozen):
    """A peak measured on this machine by `advisor verify --record`, for one configuration on one device: fit and
    check never estimate that configuration below it."""

    precision: str
    engine: str
    device: str = Field(description='The device key it was measured on ("cpu", "gpu:0")')
    context: int
    prompt: int
    batch: int
    kv_dtype: str
    peak_bytes: int = Field(description="The highest run's peak")
    median_bytes: int = Field(description="The median run's peak")
    runs: int
    measured_at: str


class Request(_Frozen):
    """What the user asks for. None / "auto" mean: let the rules choose."""

    mode: Mode = "inference"
    context: int | None = Field(None, description="Tokens per sequence (prompt + generation); None: min(model max, 8192)")
    prompt: int | None = Field(None, description="Tokens of the longest prompt (the prefill); None: the whole context. "
                               "The KV cache follows the context, the prefill's working memory the prompt")
    batch: int = 1
    engine: str = "auto"
    precision: str = "auto"
    kv_dtype: str = "auto"
    headroom_bytes: int | None = Field(None, description="Kept free per device; None: max(10 % of total, 1 GiB)")
    devices: tuple[int, ...] | None = Field(None, description="NVML indices of the GPUs that may be used")
    method: Literal["detailed", "rule-of-thumb"] = "detailed"
    gpu_memory_utilization: float | None = None
    lora_rank: int = 16
    gradient_checkpointing: bool = True
    allow_cpu: bool = True
    placement: Literal["auto", "single-gpu", "tensor-parallel", "layer-split", "offload", "cpu"] = Field(
        "auto", description="The layout the user will run; auto: the best one")
    allow_approximate: bool = Field(False, description="Accept a verdict built on an approximate model (a size read "
                                    "from a name): otherwise it is 'cannot tell'")
    quality_floor: int | None = Field(None, description="Only precisions of this quality rank or below (the joint "
                                      "placement's search for a common quality)")
    extend_context: bool = Field(False, description="Allow a context beyond the model's trained maximum (rope scaling)")
    image_size: tuple[int, int] | None = Field(None, description="Vision models: (height, width) in pixels; None: "
                                               "the model's own size")
    beams: int | None = Field(None, description="Speech models: beam-search beams (None: 1)")
    new_tokens: int | None = Field(None, description="Speech models: tokens decoded per 30 s window (None: the most "
                                   "the model decodes)")
    audio_seconds: int | None = Field(None, description="Speech models: the audio's length (None: one 30 s window)")
    steps: int | None = Field(None, description="Diffusion models: denoising steps (time only; None: 30)")
    images: int | None = Field(None, description="Multimodal LLMs: images per sequence (None: 1 for a model with a "
                               "vision tower); each takes tokens of the context and the tower's working memory")
    measured: tuple[Measured, ...] = Field((), exclude=True, description="Peaks recorded on this machine by advisor "
                                           "verify --record (the caller looks them up; plans note when one applies)")


class Memory(_Frozen):
    weights_bytes: int
    kv_cache_bytes: int
    activations_bytes: int
    runtime_bytes: int
    total_bytes: int = Field(description="What the verdict uses (on the CPU: the worst of the range)")
    typical_total_bytes: int | None = Field(None, description="CPU plans whose peak is a range: the typical (median "
                                            "run) peak; total_bytes is the worst")
    prefill_bytes: int | None = Field(None, description="The prefill's peak (the prompt's KV and working memory), when "
                                      "the prompt is shorter than the context; total_bytes is the larger phase")
    decode_bytes: int | None = Field(None, description="The end of decoding's peak (the whole cache and one step), "
                                     "with prefill_bytes")


class DeviceUse(_Frozen):
    device: str = Field(description='"gpu:<nvml index>" or "cpu"')
    name: str
    kind: Literal["gpu", "cpu", "accelerator"]
    index: int | None = None
    memory: Memory
    free_bytes: int | None
    budget_bytes: int | None = Field(description="Free minus headroom")
    reserved_bytes: int | None = Field(None, description="What a pre-allocating engine takes (vLLM)")
    fits: bool


class Plan(_Frozen):
    model: str
    precision: str
    engine: str
    placement: Placement
    devices: list[str]
    gpu_indices: list[int] = Field(default_factory=list, description="NVML indices")
    cuda_visible_devices: str | None = Field(None, description="What to export as CUDA_VISIBLE_DEVICES (with "
                                             "cuda_device_order): NVML indices, or a MIG instance's UUID")
    cuda_device_order: str | None = Field(None, description="What to export as CUDA_DEVICE_ORDER: PCI_BUS_ID makes "
                                          "CUDA's indices NVML's, whatever the caller's environment says")
    mode: Mode
    workload: str = Field("text-generation", description="The kind of model the plan is for (rules/kinds.py)")
    context: int | None = Field(description="Tokens per sequence (None for models that take no tokens)")
    image_size: tuple[int, int] | None = Field(None, description="Vision plans: (height, width) in pixels")
    max_batch: int | None = Field(None, description="Vision and speech plans: the largest batch (images, 30 s "
                                  "windows) that fits")
    beams: int | None = Field(None, description="Speech plans: beam-search beams")
    new_tokens: int | None = Field(None, description="Speech plans: tokens decoded per window")
    steps: int | None = Field(None, description="Diffusion plans: denoising steps")
    vae_tiling: bool | None = Field(None, description="Diffusion plans: the VAE decodes in tiles")
    prompt: int | None = Field(None, description="The longest prompt the plan was sized for (None: the context)")
    images: int | None = Field(None, description="Multimodal plans: images per sequence planned")
    image_tokens: int | None = Field(None, description="Multimodal plans: tokens one image takes in the context")
    batch: int
    kv_dtype: str
    memory: Memory
    per_device: list[DeviceUse]
    fits: bool
    max_context: int | None = None
    quality_rank: int
    speed_rank: int
    speed_class: Literal["all-gpu", "offload", "cpu", "accelerator"] = Field(
        "all-gpu", description="all on GPU, GPU + CPU offload, CPU only, or an accelerator (NPU, Edge TPU) fed by "
        "its host: the expected speed class")
    headroom_fraction: float = Field(description="Smallest share of a device's budget left unused")
    gpu_layers: int | None = None
    total_layers: int | None = None
    tensor_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    torch_dtype: str | None = None
    quality: str = ""
    method: str = ""
    estimated: bool = True
    approximate: bool = Field(False, description="Built on a model known only approximately")
    rope_scaling: dict[str, Any] | None = Field(None, description="Set when the context extends the trained one")
    measured_bytes: int | None = Field(None, description="A peak recorded on this machine for this configuration "
                                       "(advisor verify --record); memory.total_bytes is never below it")
    notes: list[str] = Field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.precision, self.engine, self.placement)


class Rejected(_Frozen):
    precision: str
    engine: str
    placement: str | None = None
    reason: str


class Change(_Frozen):
    """One change that would make the model fit."""

    kind: Literal["context", "kv-dtype", "precision", "offload", "engine", "mode", "smaller-model", "bigger-gpu",
                  "extend-context", "batch", "image-size"]
    description: str
    plan: Plan | None = None


class Outcome(_Frozen):
    """The decision for one model: the plan, the others, and when nothing fits, what would."""

    fits: bool
    plan: Plan | None
    alternatives: list[Plan] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)
    missing_bytes: int | None = None
    changes: list[Change] = Field(default_factory=list)
    smaller_models: list[str] = Field(default_factory=list)
    bigger_gpus: list[str] = Field(default_factory=list)
    rule_of_thumb_bytes: int | None = None
    cannot_tell: str | None = Field(None, description="Why the hardware could not be read well enough to decide")
    notes: list[str] = Field(default_factory=list)


class Recommendation(Outcome):
    model: dict[str, Any]
    request: Request
