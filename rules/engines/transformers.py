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

from rules.engines.base import Engine, Target
from rules.memory import MIB, ffn_width, kv_cache_bytes, weight_split
from rules.precisions import Precision
from rules.spec import ModelSpec

CUDA_CONTEXT_TORCH = 512 * MIB  # CUDA context + cuBLAS/cuDNN handles of a torch process, per GPU
# GPU, by phase. Terms read off the published A100 peaks (torch.cuda.max_memory_allocated; the calibration rows in
# tests/data/measured-dev.json, the held-out rows in tests/data/measured-heldout.json):
# - per prompt token, (3F + 4H) elements live at the prefill's peak (F the MLP width, H the hidden size): the MLP's
#   gate, up and their product, with the embeddings' output, the layer's input, the residual and the normed input;
#   the held-out rows grow by 0.95 to 1.01 x that per token from 6 144 to 30 720 tokens, 0.5B to 72B;
# - a fixed part: the allocator's workspace plus one decoder layer's weights in flight while the checkpoint loads
#   (a 1-token prompt peaks 20 to 410 MiB above weights + KV, at most 0.9 of one layer's weights);
TRANSFORMERS_BASE = 56 * MIB  # allocator workspace at generation beyond weights + KV, per GPU
PREFILL_MLP = 3  # x F: gate, up and their product
PREFILL_HIDDEN = 4  # x H: embeddings' output, layer input, residual, normed input
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
# Quantized kernels (the kernel transformers runs depends on the stack and the GPU: gptqmodel since transformers v5,
# AutoGPTQ / AutoAWQ before; a plan takes the costlier of the two stacks on its GPU):
# - GPTQ 4-bit: on compute capability >= 8.0 gptqmodel runs Marlin (a workspace of a few MiB), AutoGPTQ exllama v1,
#   whose temp_dq holds the largest matrix in fp16 (exllama_set_max_input_length / autogptq_post_init); below 8.0
#   gptqmodel runs ExllamaV2, whose fixed scratch per GPU is max over layers of in x out x 2 + out x 2048 x 8 x 4
#   bytes (qlinear/exllamav2.py: temp_dq_size + temp_fwd_size(max_input_len=2048, max_batch_size=8)).
# - GPTQ 8-bit: AutoGPTQ's qlinear_cuda_old from 128 tokens in a forward builds the int16 weight, subtracts the zeros
#   and scales it to fp16, about three copies of the matrix live (kernel_switch_threshold = 128); gptqmodel below 8.0
#   runs Triton, which dequantizes the whole matrix to fp16 in every forward (quant_matmul); Marlin above.
# - AWQ (AutoAWQ's WQLinear_GEMM): from 1 024 tokens in a forward it dequantizes the weight to fp16 and multiplies
#   with torch.matmul (gemm.py, FP16_MATMUL_HEURISTIC_CONDITION = x.shape[0] * x.shape[1] >= 1024); loading a
#   checkpoint with tied embeddings holds the embedding matrix twice for a moment (the published 0.5B / 1.5B / 3B AWQ
#   rows peak at weights + the embedding to within 1 % at a 1-token prompt, where GPTQ of the same model does not).
# Eager attention. The model classes whose modeling file sets `_supports_sdpa = False` (transformers 5.24:
# models/gemma2 "sdpa does not support softcapping", gpt_oss (attention sinks), gemma4, vaultgemma, t5gemma,
# deepseek_v4, granite_swa, granitemoe_swa, mimo_v2_flash, hy_v4, inkling2, flint) run eager attention unless told
# otherwise (flash_attention_2 is never the default). eager_attention_forward materialises the scores, batch x heads
# x queries x keys, in the model's dtype, and softmax upcasts them to fp32 beside them: (element + 4) bytes each at
# the softmax, with the layer's q and the K/V repeated to every head.
EAGER_ONLY_MODEL_TYPES = frozenset({"gemma2", "gpt_oss", "gemma4", "gemma4_text", "vaultgemma", "t5gemma",
                                    "deepseek_v4", "granite_swa", "granitemoe_swa", "mimo_v2_flash", "hy_v4",
                                    "inkling2", "flint"})


def eager_attention(spec: ModelSpec, queries: int, keys: int, batch: int, element_bytes: int) -> int:
    """The attention block's live bytes when the scores are materialised (0 for models that run SDPA)."""
    if (spec.model_type or "") not in EAGER_ONLY_MODEL_TYPES:
        return 0
    heads, hd = spec.heads or 0, spec.head_dim or 0
    scores = batch * heads * queries * keys * (element_bytes + 4)
    return scores + batch * queries * (3 * heads * hd + 4 * (spec.hidden_size or 0)) * element_bytes


EXLLAMA_V2_ROWS = 2048 * 8  # scratch_space_fixed's defaults: max_input_len x max_batch_size
AUTOGPTQ_INT8_TOKENS = 128  # qlinear_cuda_old's kernel_switch_threshold
AUTOGPTQ_INT8_COPIES = 3
AWQ_DEQUANT_TOKENS = 1024
MARLIN_ARCH = (8, 0)


def _largest_matrix(spec: ModelSpec) -> int:
    """Elements of the largest quantized matrix: an MLP projection, hidden x MLP width."""
    return (spec.hidden_size or 0) * ffn_width(spec)


def quant_persistent(spec: ModelSpec, precision: Precision, target: Target | None) -> int:
    """A quantized kernel's scratch that stays allocated on each GPU (bytes)."""
    if precision.name != "gptq-int4":
        return 0
    dq = 2 * _largest_matrix(spec)
    cc = target.capability if target is not None else None
    if cc is None or cc < MARLIN_ARCH:
        return dq + 4 * EXLLAMA_V2_ROWS * max(ffn_width(spec), spec.hidden_size or 0) + 256
    return dq


def quant_transient(spec: ModelSpec, precision: Precision, tokens: int, target: Target | None) -> int:
    """A quantized kernel's scratch while one linear layer runs on `tokens` tokens (bytes)."""
    dq = 2 * _largest_matrix(spec)
    cc = target.capability if target is not None else None
    if precision.name == "gptq-int8":
        autogptq = AUTOGPTQ_INT8_COPIES * dq if tokens >= AUTOGPTQ_INT8_TOKENS else 0
        triton = dq if cc is None or cc < MARLIN_ARCH else 0
        return max(autogptq, triton)
    if precision.name == "awq-int4":
        return dq if tokens >= AWQ_DEQUANT_TOKENS else 0
    return 0


def quant_workspace(spec: ModelSpec, precision: Precision, tokens: int, target: Target | None = None) -> int:
    """Both kinds of quantized kernels' scratch at a forward of `tokens` tokens, on top of everything else (the
    calibration's view; the phases take the transient against the MLP's own peak)."""
    return quant_persistent(spec, precision, target) + quant_transient(spec, precision, tokens, target)


def load_transient(spec: ModelSpec, precision: Precision) -> int:
    """Bytes held beyond the weights while the checkpoint loads (the AWQ loader's second embedding when tied)."""
    if precision.name == "awq-int4" and spec.tied_embeddings:
        return (spec.vocab_size or 0) * (spec.hidden_size or 0) * 2 + TRANSFORMERS_BASE
    return 0


def transformers_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int,
                             precision: Precision, target: Target | None = None) -> int:
    """HF transformers' prefill peak beyond weights and KV, per GPU holding layers: the allocator's workspace and one
    layer's weights in flight, (3F + 4H) elements per prompt token (or, while a quantized kernel dequantizes a
    matrix, the MLP input's F + 2H with that scratch), the last position's fp32 logits and the kernels' persistent
    scratch."""
    tokens = prompt_tokens * batch
    f, h = ffn_width(spec), spec.hidden_size or 0
    mlp = max(tokens * (PREFILL_MLP * f + PREFILL_HIDDEN * h) * element_bytes,
              eager_attention(spec, prompt_tokens, prompt_tokens, batch, element_bytes),
              tokens * (f + 2 * h) * element_bytes + quant_transient(spec, precision, tokens, target))
    # only the last position's logits are computed (generation/utils.py sets logits_to_keep = 1 where the model's
    # forward takes it), in fp32, twice while the processors run
    logits = (spec.vocab_size or 0) * 4 * 2 * batch
    return (TRANSFORMERS_BASE + weight_split(spec, precision).per_layer + mlp + logits
            + quant_persistent(spec, precision, target))


def transformers_cpu_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int) -> int:
    """HF transformers' *typical* generate peak on the CPU beyond weights, KV and the process (the median run's RSS).

    The MLP's three live intermediates at the prompt's length, plus per layer the hidden-state-sized temporaries that
    glibc keeps resident as holes in the heap once freed (see heap_kept). Never smaller for a longer prompt.
    """
    tokens = prompt_tokens * batch
    mlp = TRANSFORMERS_CPU_MLP * tokens * ffn_width(spec) * element_bytes
    mlp = max(mlp, eager_attention(spec, prompt_tokens, prompt_tokens, batch, element_bytes))
    holes = TRANSFORMERS_CPU_HOLES * (spec.layers or 0) * heap_kept(tokens * (spec.hidden_size or 0) * element_bytes)
    return math.ceil(TRANSFORMERS_CPU_ACT_BASE + mlp + holes)


# glibc's mmap threshold held low (MALLOC_MMAP_THRESHOLD_=65536 in the environment; glibc reads it at start,
# mallopt(3)): every block of 64 KiB or more is mmapped and unmapped when freed, and the dynamic threshold no longer
# climbs towards 32 MiB, so freed temporaries leave no holes in the heap. Measured (benchmarks/measure_cpu_malloc.py,
# benchmarks/data/cpu-malloc.json): the peak is then the live memory, weights + KV + the process + the working
# memory without the holes term, and the same in every run (SmolLM2-135M fp32 at 8,192 tokens: 1,457 MiB in each of
# 4 runs against 1,456 for the live memory, where the default setting's runs peaked at 1,762 to 1,924 MiB).
MMAP_THRESHOLD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
MMAP_MARGIN = 0.05  # of the process and working memory: what the measured peaks under the setting stay within


def cpu_peak_mmapped(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int, weights: int,
                     kv: int) -> int:
    """The peak RSS of a transformers CPU plan run with MMAP_THRESHOLD_ENV: no holes, one figure for every run."""
    tokens = prompt_tokens * batch
    mlp = max(TRANSFORMERS_CPU_MLP * tokens * ffn_width(spec) * element_bytes,
              eager_attention(spec, prompt_tokens, prompt_tokens, batch, element_bytes))
    live = TRANSFORMERS_CPU_PROCESS + TRANSFORMERS_CPU_ACT_BASE + mlp
    return weights + kv + math.ceil(live * (1 + MMAP_MARGIN))


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
    # fp8: transformers' fine-grained FP8 (FineGrainedFP8Config, or a checkpoint stored so, e.g. Qwen3-8B-FP8): an fp8
    # weight with an fp32 scale per 128 x 128 block, run by its w8a8 block kernel on compute capability >= 8.9 (its
    # quantizer refuses older GPUs), which is the fp8 row's gate
    precisions: ClassVar[frozenset[str]] = frozenset({"bf16", "fp16", "fp32", "fp8", "int8", "awq-int4", "gptq-int4",
                                                      "gptq-int8", "nf4"})
    kv_dtypes = ("fp16", "bf16", "fp32")
    layer_split = True
    offload = True
    offload_keeps_kv_on_gpu = True
    trains = True
    checks_torch_kernels = True
    python_package = "transformers"
    # its Mxfp4 quantizer dequantizes to bf16 unless triton >= 3.4 and the `kernels` package are installed
    # (quantizers/quantizer_mxfp4.py, validate_environment), which a plan cannot see
    loads_mxfp4_as_bf16 = True
    verify_measures = True

    def caps_sliding_window(self, spec: ModelSpec) -> bool:
        # the default dynamic cache does not cap; Gemma 2/3 use the hybrid cache, which does
        return (spec.model_type or "").startswith(("gemma2", "gemma3"))

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool, target: Target | None = None) -> int:
        """On a GPU, the prefill peak; on the CPU, the *worst* working memory (typical plus the holes allowance on
        the process and working memory, which the runtime holds at its typical size)."""
        elem = compute_bytes(precision, on_cpu)
        if on_cpu:
            typical = transformers_cpu_activations(spec, context, batch, elem)
            return typical + math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * (TRANSFORMERS_CPU_PROCESS + typical))
        return transformers_activations(spec, context, batch, elem, precision, target)

    def typical_extra(self, spec: ModelSpec, precision: Precision, context: int, batch: int) -> int | None:
        """How much less than the verdict's (worst) total a CPU plan typically peaks at."""
        typical = transformers_cpu_activations(spec, context, batch, compute_bytes(precision, True))
        return math.ceil(TRANSFORMERS_CPU_HOLES_ALLOWANCE * (TRANSFORMERS_CPU_PROCESS + typical))

    def phase_working(self, spec: ModelSpec, precision: Precision, prompt: int, context: int, batch: int,
                      kv_element_bytes: float, on_cpu: bool,
                      target: Target | None = None) -> dict[str, tuple[int, int, str]]:
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
        prefill = transformers_activations(spec, prompt, batch, elem, precision, target)
        cache_layers = len(spec.kv_layers) if spec.kv_layers is not None else (spec.layers or 1)
        one_layer = kv_cache_bytes(spec, self, context, batch, kv_element_bytes) // max(1, cache_layers)
        logits = (spec.vocab_size or 0) * 4 * batch
        step = max(2 * one_layer, eager_attention(spec, 1, context, batch, elem))
        decode = (TRANSFORMERS_BASE + weight_split(spec, precision).per_layer + step + logits
                  + quant_workspace(spec, precision, batch, target))
        return {"prefill": (prefill, prefill, ""), "decode": (decode, decode, "one layer's K/V copied by the cache's "
                                                               "concatenation, the step's logits")}

    def runtime(self, on_cpu: bool, spec: ModelSpec | None = None, batch: int = 1,
                target: Target | None = None) -> int:
        return TRANSFORMERS_CPU_PROCESS if on_cpu else CUDA_CONTEXT_TORCH

    def load_working(self, spec: ModelSpec, precision: Precision, on_cpu: bool) -> int:
        return 0 if on_cpu else load_transient(spec, precision)

    def extra_weights(self, spec: ModelSpec, precision: Precision, on_cpu: bool) -> int:
        """Fine-grained FP8 with tied embeddings: the published Qwen3-0.6B / 1.7B / 4B FP8 rows (H20, transformers
        4.51) sit 0.18 / 0.43 / 0.60 GiB above their FP8 weights at every prompt length, where the untied 8B and
        larger do not: within one more 16-bit copy of the embedding (0.29 / 0.58 / 0.72 GiB), a head kept apart."""
        if precision.name == "fp8" and spec.tied_embeddings and not on_cpu:
            return (spec.vocab_size or 0) * (spec.hidden_size or 0) * 2
        return 0

    def cpu_notes(self) -> tuple[str, ...]:
        return (f"peak RAM of the same run moves by up to {TRANSFORMERS_CPU_RUN_SPREAD:.0%} between processes "
                "(freed memory left in holes of glibc's heap): the plan is a range, typical (the median run) to worst "
                "(every run measured); the verdict uses worst",)
