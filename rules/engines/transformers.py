"""Hugging Face transformers (with accelerate's device_map for layer splits and CPU offload; bitsandbytes, GPTQ and
AWQ kernels for quantized weights). The only engine that trains here (full fine-tune, LoRA, QLoRA).

Memory facts: the dynamic KV cache keeps every token of every layer; Gemma 2/3's hybrid cache caps sliding-window
layers (transformers cache_utils: HybridCache); MLA models (DeepSeek) cache full K and V, not the latent. The GPU
constants are calibrated on published measurements (tests/data/measured-dev.json), the CPU ones on our own
(benchmarks/data/cpu-transformers.json); benchmarks/compare.py prints the comparison.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rules.engines.base import Engine
from rules.memory import GIB, MIB, ffn_width, kv_cache_bytes
from rules.precisions import Precision
from rules.spec import ModelSpec

CUDA_CONTEXT_TORCH = 512 * MIB  # CUDA context + cuBLAS/cuDNN handles of a torch process, per GPU
TRANSFORMERS_BASE = int(0.12 * GIB)  # allocator workspace at generation beyond weights + KV, per GPU
# On the CPU a plan is a range (the same generate() peaks differently in each fresh process: freed memory left in
# holes of glibc's heap moves with thread timing and ASLR). Calibrated by benchmarks/calibration.py on the
# calibration half of benchmarks/data/cpu-transformers.json; the tests recompute every constant from the data.
# *Typical*: the median run. The MLP factor is the physical 3 (gate, up and their product live at once at the peak,
# benchmarks/trace_cpu_heap.py --layers); base and holes are fitted (fit_cpu_typical).
TRANSFORMERS_CPU_PROCESS = 348 * MIB  # python + torch + transformers + the model's modules, besides the weights
TRANSFORMERS_CPU_ACT_BASE = 90 * MIB  # generate's fixed workspace
TRANSFORMERS_CPU_MLP = 3.0  # x prompt tokens x FFN width x element bytes: the MLP's three live intermediates
TRANSFORMERS_CPU_HOLES = 0.8  # x layers x the prompt's hidden state (capped at the mmap ceiling): heap holes
# *Worst*: typical + this share of what is not weights or KV (the process and the working memory, where the holes
# are): the largest rise of a row's worst run over its median run on the calibration half (fit_holes_allowance).
TRANSFORMERS_CPU_HOLES_ALLOWANCE = 0.44
# the widest run-to-run spread of one row's peak RSS in that dataset (largest over smallest run, less 1, rounded up to
# a whole percent): the same generate() peaks this much higher or lower in another fresh process (heap holes)
TRANSFORMERS_CPU_RUN_SPREAD = 0.28
# glibc serves blocks of at least its mmap threshold with mmap and gives them back to the kernel when freed; the
# threshold adapts to freed blocks up to 32 MiB on 64-bit (mallopt(3), M_MMAP_THRESHOLD). Smaller freed blocks
# stay resident in the heap, so many same-sized temporaries below this size raise the peak RSS; above it they don't.
GLIBC_MMAP_CEILING = 32 * MIB
QUANT_WORKSPACE_FACTOR = 1.2  # GPTQ's exllama kernels keep a dequantized scratch of about the largest matrix
AWQ_DEQUANT_TOKENS = 1024  # AutoAWQ's GEMM dequantizes to fp16 from this many tokens in a forward


def transformers_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int) -> int:
    """HF transformers' prefill peak beyond weights and KV, per device holding layers.

    Calibrated on the Qwen2.5 measurements: the peak grows with the prompt by about (4 x FFN width + hidden)
    elements per token (MLP intermediates of the widest layer), on top of a fixed allocator workspace.
    """
    per_token = (4 * ffn_width(spec) + (spec.hidden_size or 0)) * element_bytes
    logits = (spec.vocab_size or 0) * 4 * 2 * batch  # only the last position's logits are kept, in fp32
    return TRANSFORMERS_BASE + prompt_tokens * batch * per_token + logits


def transformers_cpu_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int) -> int:
    """HF transformers' *typical* generate peak on the CPU beyond weights, KV and the process (the median run's RSS).

    The MLP's three live intermediates at the prompt's length, plus per layer the hidden-state-sized temporaries that
    glibc keeps resident as holes in the heap once freed (see heap_kept). Never smaller for a longer prompt.
    """
    tokens = prompt_tokens * batch
    mlp = TRANSFORMERS_CPU_MLP * tokens * ffn_width(spec) * element_bytes
    holes = TRANSFORMERS_CPU_HOLES * (spec.layers or 0) * heap_kept(tokens * (spec.hidden_size or 0) * element_bytes)
    return math.ceil(TRANSFORMERS_CPU_ACT_BASE + mlp + holes)


def cpu_range(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int, weights: int, kv: int,
              ) -> tuple[int, int]:
    """(typical, worst) peak RSS of a transformers CPU plan, bytes: typical = weights + KV + process + working
    memory; worst = typical + the holes allowance on what is not weights or KV. Verdicts use worst."""
    beyond = TRANSFORMERS_CPU_PROCESS + transformers_cpu_activations(spec, prompt_tokens, batch, element_bytes)
    typical = weights + kv + beyond
    return typical, typical + math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * beyond)


def heap_kept(block_bytes: int) -> int:
    """The most a freed temporary of this size can leave resident in glibc's heap: all of it below the mmap
    ceiling; a bigger block is mmapped and given back, but the smaller temporaries around it still leave holes,
    so the term stays at the ceiling rather than dropping (which also keeps estimates monotone in the prompt)."""
    return min(block_bytes, GLIBC_MMAP_CEILING)


def quant_workspace(spec: ModelSpec, precision: Precision, tokens: int) -> int:
    """The quantized kernels' scratch during a forward of `tokens` tokens (all sequences together).

    GPTQ 4-bit (exllama kernels): a persistent dequantization scratch of about the largest matrix. AWQ (AutoAWQ's
    WQLinear_GEMM, which transformers runs): from 1,024 tokens on it dequantizes the weight to fp16 and multiplies
    with torch.matmul (gemm.py, FP16_MATMUL_HEURISTIC_CONDITION = x.shape[0] * x.shape[1] >= 1024), so one
    dequantized matrix is live; below that its fused GEMM keeps no scratch.
    """
    largest = (spec.hidden_size or 0) * ffn_width(spec) * 2
    if precision.name == "gptq-int4":
        return int(QUANT_WORKSPACE_FACTOR * largest)
    if precision.name == "awq-int4":
        return largest if tokens >= AWQ_DEQUANT_TOKENS else 0
    return 0


def compute_bytes(precision: Precision, on_cpu: bool) -> int:
    """Bytes per activation element: fp32 on the CPU unless the weights are bf16 (torch computes in their dtype)."""
    if precision.name == "fp32" or (on_cpu and precision.family != "gguf" and precision.name != "bf16"):
        return 4
    return 2


class Transformers(Engine):
    name = "transformers"
    label = "HF transformers"
    rank = 4
    runs_on_apple = True
    runs_on_rocm = True  # PyTorch's ROCm builds
    min_cc = (3, 7)
    precisions: ClassVar[frozenset[str]] = frozenset({"bf16", "fp16", "fp32", "int8", "awq-int4", "gptq-int4", "gptq-int8", "nf4"})
    kv_dtypes = ("fp16", "bf16", "fp32")
    layer_split = True
    offload = True
    offload_keeps_kv_on_gpu = True
    trains = True
    checks_torch_kernels = True
    python_package = "transformers"
    verify_measures = True

    def caps_sliding_window(self, spec: ModelSpec) -> bool:
        # the default dynamic cache does not cap; Gemma 2/3 use the hybrid cache, which does
        return (spec.model_type or "").startswith(("gemma2", "gemma3"))

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool) -> int:
        """On a GPU, the prefill peak; on the CPU, the *worst* working memory (typical plus the holes allowance on
        the process and working memory, which the runtime holds at its typical size)."""
        elem = compute_bytes(precision, on_cpu)
        if on_cpu:
            typical = transformers_cpu_activations(spec, context, batch, elem)
            return typical + math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * (TRANSFORMERS_CPU_PROCESS + typical))
        return transformers_activations(spec, context, batch, elem) + quant_workspace(spec, precision, context * batch)

    def typical_extra(self, spec: ModelSpec, precision: Precision, context: int, batch: int) -> int | None:
        """How much less than the verdict's (worst) total a CPU plan typically peaks at."""
        typical = transformers_cpu_activations(spec, context, batch, compute_bytes(precision, True))
        return math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * (TRANSFORMERS_CPU_PROCESS + typical))

    def phase_working(self, spec: ModelSpec, precision: Precision, prompt: int, context: int, batch: int,
                      kv_element_bytes: float, on_cpu: bool) -> dict[str, tuple[int, int, str]]:
        """Prefill: the working memory of the prompt's forward pass (as `activations`). End of decode: one layer's
        K and V at the whole context twice (DynamicCache's update concatenates the step's K/V onto the layer's
        cache with torch.cat, so the old and the new tensors are live at once; transformers cache_utils
        DynamicLayer.update), the step's fp32 logits, and the allocator's workspace. On the CPU the decode keeps
        the prefill's working memory: glibc keeps what the prefill freed resident in the heap."""
        elem = compute_bytes(precision, on_cpu)
        if on_cpu:
            typical = transformers_cpu_activations(spec, prompt, batch, elem)
            worst = typical + math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * (TRANSFORMERS_CPU_PROCESS + typical))
            kept = "the heap keeps what the prefill freed: the prefill's working memory"
            return {"prefill": (typical, worst, ""), "decode": (typical, worst, kept)}
        prefill = transformers_activations(spec, prompt, batch, elem) + quant_workspace(spec, precision, prompt * batch)
        cache_layers = len(spec.kv_layers) if spec.kv_layers is not None else (spec.layers or 1)
        one_layer = kv_cache_bytes(spec, self, context, batch, kv_element_bytes) // max(1, cache_layers)
        logits = (spec.vocab_size or 0) * 4 * batch
        decode = TRANSFORMERS_BASE + 2 * one_layer + logits + quant_workspace(spec, precision, batch)
        return {"prefill": (prefill, prefill, ""), "decode": (decode, decode, "one layer's K/V copied by the cache's "
                                                               "concatenation, the step's logits")}

    def runtime(self, on_cpu: bool) -> int:
        return TRANSFORMERS_CPU_PROCESS if on_cpu else CUDA_CONTEXT_TORCH

    def cpu_notes(self) -> tuple[str, ...]:
        return (f"peak RAM of the same run moves by up to {TRANSFORMERS_CPU_RUN_SPREAD:.0%} between processes "
                "(freed memory left in holes of glibc's heap): the plan is a range, typical (the median run) to worst "
                "(every run measured); the verdict uses worst",)
