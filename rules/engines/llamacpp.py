"""llama.cpp (`llama-server`) and Ollama, which runs llama.cpp underneath: GGUF block formats on CPU, CUDA, ROCm,
Metal and Vulkan; layers split over GPUs (`--split-mode layer`) or offloaded (`-ngl N`, token_embd stays in RAM);
KV types f16 / q8_0 / q4_0 (`-ctk/-ctv`, which need flash attention); a compute buffer per micro-batch
(`-ub`, 512 by default); sliding windows capped (SWA cache) and MLA's latent cached.
"""

from __future__ import annotations

from typing import ClassVar

from rules.engines.base import Engine, Target
from rules.memory import GIB, MIB, ffn_width
from rules.precisions import Precision
from rules.spec import ModelSpec

CUDA_CONTEXT_LLAMACPP = 320 * MIB  # CUDA context of llama.cpp / Ollama runners, per GPU
LLAMACPP_UBATCH = 512  # llama.cpp's default physical micro-batch (-ub)
LLAMACPP_BASE = 256 * MIB  # GPU: graph / scratch allocations besides the compute buffer (CUDA graphs, pools)
LLAMACPP_CPU_PROCESS = 128 * MIB
KV_PAD = 256  # llama.cpp pads the context to 256 cells (llama-context.cpp: GGML_PAD(n_ctx, 256))
# The KQ mask, an input of the reserved graph live through it: n_kv x n_ubatch, f16 with flash attention in current
# builds, an f32 input plus its f16 cast in the builds Ollama vendors; planned at the larger, 6 bytes per element.
MASK_BYTES_FA = 6
# Head sizes of K (= V) llama.cpp's CUDA flash-attention kernels have (ggml-cuda/fattn.cu,
# ggml_cuda_get_best_fattn_kernel); MLA's 576 / 512 is there too. With `-fa auto` (the default since
# ggml-org/llama.cpp#15434) another head size falls back to no flash attention on the GPU ("Flash Attention was auto,
# set to disabled"), and a quantized V cache then refuses to start ("quantized V cache was requested, but this
# requires Flash Attention"). The CPU backend runs every head size.
FA_HEAD_SIZES = frozenset({40, 64, 72, 80, 96, 112, 128, 256})
NO_FA_MODEL_TYPES = {"grok": "llama.cpp forces flash attention off for Grok (\"flash_attn is not compatible with Grok\")"}


def compute_buffer(spec: ModelSpec, context: int, on_cpu: bool = False, flash: bool = True,
                   cells: int | None = None) -> int:
    """llama.cpp's compute buffer for one micro-batch of `context` tokens over a cache of `cells` (the context
    times the sequences; the context when not given): the reserved graph's largest intermediates.

    Flash attention on: the logits of a full micro-batch first (ub x vocab fp32), the layer's intermediates, and the
    KQ mask. On the CPU that is the whole of it: `advisor verify` read 99.38 MiB in llama.cpp's own log for
    SmolLM2-135M at ub 512 (this formula: 108 MiB); the GPU adds LLAMACPP_BASE.
    Flash attention off: the attention scores are materialised, an f32 KQ of n_kv x ub x heads (softmax runs in
    place) with the f32 mask, n_kv the padded cache (src/llama-graph.cpp build_attn_mha): 4 x ub x (n_kv x (heads + 1)
    + 4 x hidden) bytes, or the flash-attention figure when that is larger. A published CUDA0 compute buffer of a
    32-head 4096-wide model at ub 512 with flash_attn = 0 reads 164.00 MiB at n_ctx 2048 and 2144.00 MiB at 32768
    (fedora-copr/logdetective#106); this gives 164.0 and 2144.0."""
    ub = min(LLAMACPP_UBATCH, max(context, 1))
    h = spec.hidden_size or 0
    n_kv = -(-max(cells or context, 1) // KV_PAD) * KV_PAD
    with_fa = ub * (4 * (spec.vocab_size or 0) + 4 * (3 * h + ffn_width(spec))) + MASK_BYTES_FA * n_kv * ub
    buffer = with_fa if flash else max(with_fa, 4 * ub * (n_kv * ((spec.heads or 0) + 1) + 4 * h))
    return (0 if on_cpu else LLAMACPP_BASE) + buffer


class LlamaCpp(Engine):
    name = "llama.cpp"
    python_package: ClassVar[str | None] = "llama_cpp"  # llama-cpp-python
    label = "llama.cpp"
    rank = 3  # after vLLM, SGLang and TensorRT-LLM on equal terms; before transformers
    runs_on_apple = True
    runs_on_rocm = True  # llama.cpp's HIP backend (GGML_HIP), which Ollama ships for AMD GPUs too
    min_cc = (5, 0)
    families: ClassVar[frozenset[str]] = frozenset({"gguf"})
    # convert_hf_to_gguf.py registers no MllamaForConditionalGeneration; Ollama runs Llama 3.2 Vision in its own
    # engine (ollama.com/library/llama3.2-vision), so Ollama below clears this
    unsupported_model_types: ClassVar[dict[str, str]] = {
        "mllama": "llama.cpp has no Llama 3.2 Vision (cross-attention) support; Ollama runs it in its own engine"}
    kv_dtypes = ("fp16", "f16", "q8_0", "q4_0")
    smaller_kv_dtypes = ("q8_0",)
    layer_split = True
    offload = True
    caches_latent = True
    # the mmproj's CLIP graph has its own compute buffer beside the text model's (tools/mtmd clip.cpp)
    tower_shares_workspace = False
    verify_measures = True  # advisor verify: a synthetic GGUF through llama-cpp-python
    preallocates_kv = True  # the KV cache of n_ctx cells is allocated (and cleared) with the context

    def flash_attention(self, spec: ModelSpec, on_cpu: bool) -> bool:
        """Does this plan run with flash attention (what `-fa auto` resolves to, and what the settings say)?"""
        return on_cpu or self.no_flash_reason(spec) is None

    def no_flash_reason(self, spec: ModelSpec) -> str | None:
        """Why the GPU runs this model without flash attention, or None when it runs with it."""
        forced = NO_FA_MODEL_TYPES.get((spec.model_type or "").split("-")[0])
        if forced:
            return forced
        attends = spec.kv_layers is None or bool(spec.kv_layers)  # a pure state-space model has no attention
        if attends and spec.mla is None and (spec.head_dim or 0) not in FA_HEAD_SIZES:
            return (f"{self.label}'s GPU flash-attention kernels have no head size {spec.head_dim} (they have "
                    f"{', '.join(map(str, sorted(FA_HEAD_SIZES)))}): the attention scores are materialised")
        return None

    def kv_dtype_reason(self, spec: ModelSpec, kv_dtype: str) -> str | None:
        if kv_dtype in ("q8_0", "q4_0"):
            why = self.no_flash_reason(spec)
            if why:
                return f"a {kv_dtype} KV cache needs flash attention on the GPU, and {why[0].lower()}{why[1:]}"
        return None

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool, target: Target | None = None) -> int:
        return compute_buffer(spec, context, on_cpu, self.flash_attention(spec, on_cpu), context * batch)

    def cpu_activations(self, spec: ModelSpec, context: int) -> int:
        return compute_buffer(spec, context, True) // 2  # the CPU side of an offloaded plan computes its layers too

    def runtime(self, on_cpu: bool, spec: ModelSpec | None = None, batch: int = 1,
                target: Target | None = None) -> int:
        return LLAMACPP_CPU_PROCESS if on_cpu else CUDA_CONTEXT_LLAMACPP

    def phase_working(self, spec: ModelSpec, precision: Precision, prompt: int, context: int, batch: int,
                      kv_element_bytes: float, on_cpu: bool,
                      target: Target | None = None) -> dict[str, tuple[int, int, str]]:
        """llama.cpp reserves its compute buffer when the context is created (sized for a full micro-batch), so
        the prefill and the decode hold the same working memory."""
        buf = compute_buffer(spec, prompt, on_cpu, self.flash_attention(spec, on_cpu), context * batch)
        return {"prefill": (buf, buf, "the compute buffer for one micro-batch"),
                "decode": (buf, buf, "the same buffer, reserved at the context's creation")}


class Ollama(LlamaCpp):
    """The same runtime as llama.cpp, asked for by name only (`--engine ollama`)."""

    name = "ollama"
    python_package = None  # a server, not a Python module
    verify_measures = False

    def default_context(self, spec: ModelSpec, gpu_total_bytes: int) -> int | None:
        """Ollama's own default num_ctx by the machine's VRAM (docs/context-length.mdx: under 24 GiB 4k, 24 to 48
        GiB 32k, 48 GiB or more 256k), never past the model's trained length."""
        tier = 4096 if gpu_total_bytes < 24 * GIB else 32768 if gpu_total_bytes < 48 * GIB else 262144
        return min(tier, spec.max_context or tier)
    label = "Ollama"
    rank = 5
    auto = False
    unsupported_model_types: ClassVar[dict[str, str]] = {}

    def no_flash_reason(self, spec: ModelSpec) -> str | None:
        """Ollama turns flash attention off, whatever OLLAMA_FLASH_ATTENTION says, for Gemma 2, Grok and embedding
        models (fs/ggml/ggml.go SupportsFlashAttention), and where llama.cpp's kernels lack the head size."""
        if (spec.model_type or "").startswith("gemma2") or spec.kind == "embedding":
            return f"Ollama runs {spec.model_type or 'embedding'} models without flash attention"
        return super().no_flash_reason(spec)
