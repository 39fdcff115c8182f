"""What every engine module declares: what it runs, its gates, its memory rules, its reservation.

An engine is one module under rules/engines/ with one `Engine` subclass, registered in rules/engines/__init__.py.
Nothing outside an engine's module compares engine names: the rules ask the engine (`runs`, `gate`, `activations`,
`reserve`...), and advisor/launch/ holds each engine's settings to paste under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rules.precisions import Precision
from rules.spec import ModelSpec


@dataclass(frozen=True)
class Target:
    """The GPU a plan runs on, as far as an engine's memory rules ask about it: engines pick their defaults and
    kernels by it (vLLM's batch defaults by memory and name, GPTQ's kernel by compute capability). A rule given
    None (the CPU, or a GPU not described) takes the choice that costs the most memory."""

    name: str
    total_bytes: int
    capability: tuple[int, int] | None = None  # NVIDIA compute capability; None elsewhere
    rocm: bool = False
    hpu: bool = False  # Intel Gaudi


@dataclass(frozen=True)
class Reservation:
    """What a pre-allocating engine takes on one GPU, and whether the plan fits in it."""

    fraction: float  # the value of the engine's memory flag
    reserved_bytes: int  # what the engine takes from the GPU
    fits: bool


class Engine:
    """An inference (or training) engine. Class attributes are facts; methods are its memory rules."""

    name: ClassVar[str]
    label: ClassVar[str]  # as people write it
    rank: ClassVar[int]  # among plans of equal quality and speed: smaller first (rules/ranking.py)
    auto: ClassVar[bool] = True  # considered by --engine auto (Ollama is asked for by name only)
    needs_gpu: ClassVar[bool] = False
    runs_on_apple: ClassVar[bool] = False  # Apple GPUs (Metal / MPS)
    runs_on_rocm: ClassVar[bool] = False  # AMD GPUs (ROCm / HIP builds)
    runs_on_gaudi: ClassVar[bool] = False  # Intel Gaudi (HPU)
    loads_mxfp4_as_bf16: ClassVar[bool] = False  # an MXFP4 checkpoint is dequantized to bf16 as it loads
    min_cc: ClassVar[tuple[int, int]] = (0, 0)  # NVIDIA compute capability floor
    precisions: ClassVar[frozenset[str]] = frozenset()  # precision rows by name
    families: ClassVar[frozenset[str]] = frozenset()  # or whole families (gguf)
    kv_dtypes: ClassVar[tuple[str, ...]] = ("fp16", "bf16")  # accepted --kv-dtype values besides auto
    smaller_kv_dtypes: ClassVar[tuple[str, ...]] = ()  # what the no-fit advice may offer
    tensor_parallel: ClassVar[bool] = False
    layer_split: ClassVar[bool] = False
    offload: ClassVar[bool] = False
    trains: ClassVar[bool] = False
    checks_torch_kernels: ClassVar[bool] = False  # needs the installed torch build's kernels for the GPU
    caches_latent: ClassVar[bool] = False  # MLA models: caches the compressed latent, not full K and V
    kv_block_tokens: ClassVar[int] = 1  # KV cache allocated in blocks of this many tokens
    memory_flag: ClassVar[str | None] = None  # the flag whose value `reserve` chooses
    offload_keeps_kv_on_gpu: ClassVar[bool] = False  # accelerate's offload: KV and activations stay on the GPU

    preallocates_kv: ClassVar[bool] = False  # the whole context's KV is allocated at start (llama.cpp's n_ctx)
    tower_shares_workspace: ClassVar[bool] = True  # a vision tower's working memory reuses the text prefill's (max)
    python_package: ClassVar[str | None] = None  # the module a Python process imports to run it (None: a server)
    verify_measures: ClassVar[bool] = False  # advisor verify can build and measure its plans

    # model types this engine does not run (ModelSpec.model_type or the counted text model's), with the reason
    unsupported_model_types: ClassVar[dict[str, str]] = {}

    def unsupported_reason(self, spec: ModelSpec) -> str | None:
        why = self.unsupported_model_types.get(spec.model_type or "")
        return f"{self.label} does not run {spec.model_type} models: {why}" if why else None

    def no_flash_reason(self, spec: ModelSpec) -> str | None:
        """Why this engine runs the model on a GPU without flash attention, or None (it does, or does not say)."""
        return None

    def kv_dtype_reason(self, spec: ModelSpec, kv_dtype: str) -> str | None:
        """Why this engine cannot keep this model's KV cache in `kv_dtype` (one it otherwise takes), or None."""
        return None

    def runs(self, precision: Precision) -> bool:
        return precision.name in self.precisions or precision.family in self.families

    def caps_sliding_window(self, spec: ModelSpec) -> bool:
        """Does this engine store only `window` tokens for sliding-window layers?"""
        return True

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool, target: Target | None = None) -> int:
        """Peak working memory beyond weights and KV cache, per device holding layers, bytes."""
        raise NotImplementedError

    def runtime(self, on_cpu: bool, spec: ModelSpec | None = None, batch: int = 1,
                target: Target | None = None) -> int:
        """The process (on the CPU) or the CUDA context and libraries (per GPU), bytes; engines that capture CUDA
        graphs size them by the model and the batch."""
        raise NotImplementedError

    def extra_weights(self, spec: ModelSpec, precision: Precision, on_cpu: bool) -> int:
        """Weights this engine holds beyond what the checkpoint's format stores (e.g. a tied head it unties), bytes,
        outside the layers."""
        return 0

    def load_working(self, spec: ModelSpec, precision: Precision, on_cpu: bool) -> int:
        """What loading the checkpoint holds beyond the weights for a moment, before any KV cache exists, bytes: the
        plan's peak is never below weights + this."""
        return 0

    def typical_extra(self, spec: ModelSpec, precision: Precision, context: int, batch: int) -> int | None:
        """For a CPU plan whose peak is a range: how much the typical peak is below the verdict's total; None when
        the estimate is one number."""
        return None

    def cpu_activations(self, spec: ModelSpec, context: int) -> int:
        """Working memory on the CPU side of an offloaded plan."""
        return 0

    def reserve(self, weights: int, kv: int, dynamic: int, total: int, free: int, budget: int, flag: float | None,
                joint: bool, target: Target | None = None) -> Reservation | None:
        """Pre-allocating engines: the flag's value and what it reserves on one GPU; None for the others.

        Args:
            weights, kv, dynamic: this GPU's weights, KV of the requested sequences, and peak activations plus
                runtime, bytes.
            total, free, budget: the GPU's total, free, and free minus headroom, bytes.
            flag: the user's value of the memory flag, or None to choose one.
            joint: several models share the GPU: reserve only what this one needs.
        """
        return None

    def cpu_notes(self) -> tuple[str, ...]:
        return ()

    def default_context(self, spec: ModelSpec, gpu_total_bytes: int) -> int | None:
        """The context the engine itself picks when it is not told one (None: advisor's default applies); the
        plan is sized for what the engine will really allocate."""
        return None

    def phase_working(self, spec: ModelSpec, precision: Precision, prompt: int, context: int, batch: int,
                      kv_element_bytes: float, on_cpu: bool,
                      target: Target | None = None) -> dict[str, tuple[int, int, str]] | None:
        """The working memory beyond weights, KV and runtime of each phase ("prefill", "decode"): (typical,
        worst, a note), bytes, on one device holding the whole model; None when the engine does not model its
        phases (rules/phases.py)."""
        return None
