"""llama.cpp (`llama-server`) and Ollama, which runs llama.cpp underneath: GGUF block formats on CPU, CUDA, ROCm,
Metal and Vulkan; layers split over GPUs (`--split-mode layer`) or offloaded (`-ngl N`, token_embd stays in RAM);
KV types f16 / q8_0 / q4_0 (`-ctk/-ctv`, which need flash attention); a compute buffer per micro-batch
(`-ub`, 512 by default); sliding windows capped (SWA cache) and MLA's latent cached.
"""

from __future__ import annotations

from typing import ClassVar

from rules.engines.base import Engine
from rules.memory import GIB, MIB, ffn_width
from rules.precisions import Precision
from rules.spec import ModelSpec

CUDA_CONTEXT_LLAMACPP = 320 * MIB  # CUDA context of llama.cpp / Ollama runners, per GPU
LLAMACPP_UBATCH = 512  # llama.cpp's default physical micro-batch (-ub)
LLAMACPP_BASE = 256 * MIB  # GPU: graph / scratch allocations besides the compute buffer (CUDA graphs, pools)
LLAMACPP_CPU_PROCESS = 128 * MIB


def compute_buffer(spec: ModelSpec, context: int, on_cpu: bool = False) -> int:
    """llama.cpp's compute buffer for one micro-batch (flash attention on: no context x context term): the
    reserved graph's largest intermediates, the logits of a full micro-batch first (ub x vocab fp32). On the CPU
    that is the whole of it: `advisor verify` read 99.38 MiB in llama.cpp's own log for SmolLM2-135M at ub 512
    (this formula: 102 MiB) and 0.04 GiB resident at the peak; the GPU adds LLAMACPP_BASE."""
    ub = min(LLAMACPP_UBATCH, max(context, 1))
    h = spec.hidden_size or 0
    return (0 if on_cpu else LLAMACPP_BASE) + ub * (4 * (spec.vocab_size or 0) + 4 * (3 * h + ffn_width(spec)))


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

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool) -> int:
        return compute_buffer(spec, context, on_cpu)

    def cpu_activations(self, spec: ModelSpec, context: int) -> int:
        return compute_buffer(spec, context, True) // 2  # the CPU side of an offloaded plan computes its layers too

    def runtime(self, on_cpu: bool) -> int:
        return LLAMACPP_CPU_PROCESS if on_cpu else CUDA_CONTEXT_LLAMACPP

    def phase_working(self, spec: ModelSpec, precision: Precision, prompt: int, context: int, batch: int,
                      kv_element_bytes: float, on_cpu: bool) -> dict[str, tuple[int, int, str]]:
        """llama.cpp reserves its compute buffer when the context is created (sized for a full micro-batch), so
        the prefill and the decode hold the same working memory."""
        buf = compute_buffer(spec, prompt, on_cpu)
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
