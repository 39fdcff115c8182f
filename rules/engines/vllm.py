"""vLLM: paged KV cache in blocks of 16 tokens, CUDA graphs, chunked prefill; pre-allocates
`--gpu-memory-utilization` x the GPU's *total* memory, profiles one batch of max_num_batched_tokens, and gives
the rest of the reservation to the KV cache (vLLM docs, "Engine arguments"; vllm/worker/gpu_worker.py
determine_num_available_blocks). It refuses to start when free memory is below its reservation. It caps
sliding-window layers and caches MLA's latent.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rules.engines.base import Engine, Reservation, Target
from rules.engines.transformers import CUDA_CONTEXT_TORCH
from rules.memory import GIB, MIB, ffn_width
from rules.precisions import Precision
from rules.spec import ModelSpec

VLLM_BLOCK = 16  # tokens per KV block (paged attention)
DEFAULT_UTILIZATION = 0.9  # vLLM's default --gpu-memory-utilization

# `vllm serve`'s batch defaults by GPU (vllm/engine/arg_utils.py, EngineArgs.get_batch_defaults, OPENAI_API_SERVER):
# a GPU of at least 70 GiB whose name has no "a100" ("For GPUs like H100 and MI300x") gets max_num_batched_tokens
# 8192 and max_num_seqs 1024; any other GPU 2048 and 256. A GPU advisor does not know gets the larger pair.
BIG_GPU_BYTES = 70 * GIB
VLLM_BIG_DEFAULTS = (8192, 1024)
VLLM_DEFAULTS = (2048, 256)

# CUDA graphs (vLLM V1). Captured batch sizes (vllm/config/vllm.py, VllmConfig._set_cudagraph_sizes, v0.11.1+):
# up to M = min(2 x max_num_seqs, 512, max_num_batched_tokens): 1, 2, 4, then every 8 below 256, then every 16 up to
# M (51 sizes at M = 512). Under the default FULL_AND_PIECEWISE mode (vllm-project/vllm#25444) the sizes up to
# max_num_seqs are captured a second time as full decode graphs (gpu_model_runner.capture_model). vLLM logs
# "Graph capturing finished in N secs, took X GiB"; published runs: gemma-3-4b-it 0.65 GiB (#21489), a 27B at
# max_num_seqs 1 0.46 GiB (#57475), gemma-4-E4B at 51 + 35 graphs 0.71 GiB, Qwen3-Next-80B-A3B (MoE, hybrid) at TP 2
# with 134 graphs 2.37 GiB. Priced as a fixed pool plus a cost per graph, doubled for MoE and hybrid models, which
# covers each of those runs; since v0.21 vLLM profiles this memory inside --gpu-memory-utilization (#38284), and
# the plan keeps it inside the reservation for every version.
GRAPH_POOL = 512 * MIB
GRAPH_EACH = 8 * MIB
GRAPH_MAX_SIZE = 512


def capture_sizes(max_seqs: int, batched_tokens: int) -> list[int]:
    """The batch sizes vLLM captures piecewise graphs for (its default list)."""
    top = min(2 * max_seqs, GRAPH_MAX_SIZE, batched_tokens)
    return ([n for n in (1, 2, 4) if n <= top] + list(range(8, min(top + 1, 256), 8))
            + list(range(256, top + 1, 16)))


def cuda_graph_bytes(spec: ModelSpec | None, max_seqs: int, batched_tokens: int) -> int:
    """The memory of vLLM's captured CUDA graphs, per GPU: piecewise graphs for every captured size, full decode
    graphs for the sizes up to max_num_seqs."""
    sizes = capture_sizes(max_seqs, batched_tokens)
    graphs = len(sizes) + sum(1 for n in sizes if n <= max_seqs)
    heavy = spec is not None and (spec.is_moe or spec.state_elements > 0)
    return (GRAPH_POOL + GRAPH_EACH * graphs) * (2 if heavy else 1)


def profile_activations(spec: ModelSpec, tokens: int, tp: int, max_seqs: int) -> int:
    """The profiled peak of one batch of `tokens`, plus the sampler's logits for `max_seqs` sequences."""
    per_token = (4 * ffn_width(spec) // tp + (spec.hidden_size or 0)) * 2
    sampler = 2 * max_seqs * (spec.vocab_size or 0) * 4
    return max(tokens, 1) * per_token + sampler


def fraction_reservation(need: int, total: int, free: int, budget: int, flag: float | None, joint: bool,
                         default: float) -> Reservation:
    """An engine that takes `fraction x total` up front, within which everything must fit (vLLM)."""
    if flag is not None:
        fraction = flag
    elif joint:
        fraction = min(0.99, math.ceil(need / total * 100 + 1) / 100)
    else:
        fraction = max(0.0, min(default, math.floor(budget / total * 100) / 100))
    reserved = int(fraction * total)
    limit = free if flag is not None else budget  # the engine refuses to start below its reservation
    return Reservation(fraction, reserved, need <= reserved <= limit)


# vLLM on Intel Gaudi (vllm-gaudi docs/configuration/warm-up/warm-up.md; vllm_gaudi/v1/worker/hpu_worker.py):
# --gpu-memory-utilization "specifies the memory margin after loading the model and running a profiling pass", a
# share of the memory then free, not of the total; of that share VLLM_GRAPH_RESERVED_MEM (0.1) goes to HPU graphs
# and the rest to the KV cache.
GAUDI_GRAPH_SHARE = 0.1


def leftover_reservation(weights: int, kv: int, dynamic: int, free: int, budget: int, flag: float | None,
                         joint: bool, default: float, kv_share: float = 1.0) -> Reservation:
    """An engine whose flag is a share of the memory still free once the weights, the working memory and the runtime
    are in place (TensorRT-LLM's KV fraction, vLLM on Gaudi): it takes those plus `fraction x what is left`, of which
    `kv_share` holds the KV cache."""
    fixed = weights + dynamic
    left = free - fixed
    if left <= 0:
        return Reservation(flag if flag is not None else default, fixed, False)
    if flag is not None:
        fraction = flag
    elif joint:
        fraction = min(0.99, math.ceil(kv / kv_share / left * 100 + 1) / 100)
    else:
        room = budget - fixed
        fraction = max(0.0, min(default, math.floor(room / left * 100) / 100)) if room > 0 else 0.0
    pool = int(fraction * left)
    reserved = fixed + pool
    limit = free if flag is not None else budget
    return Reservation(fraction, reserved, kv <= pool * kv_share and reserved <= limit)


# The checkpoint formats vLLM and SGLang both load (their "Quantization" docs list the same methods for these rows).
SERVER_PRECISIONS: frozenset[str] = frozenset({"bf16", "fp16", "fp8", "int8-w8a8", "awq-int4", "gptq-int4", "gptq-int8",
                                              "nvfp4", "mxfp4"})


class ServingEngine(Engine):
    """A GPU server with a profiled batch (chunked prefill of `batched_tokens`, sampling for `max_seqs`), CUDA graphs
    and a memory flag: vLLM, SGLang and TensorRT-LLM differ in their numbers and in what the flag reserves."""

    needs_gpu = True
    tensor_parallel = True
    caches_latent = True
    kv_dtypes = ("fp16", "bf16", "fp8")
    batched_tokens: ClassVar[int] = 8192  # tokens of one scheduled batch (TensorRT-LLM's max_num_tokens default)
    max_seqs: ClassVar[int] = 256  # sequences whose logits one step samples
    extra_runtime: ClassVar[int] = 1024 * MIB  # CUDA graphs and non-torch allocations beside the reservation
    # the working memory is sized for a whole batch of `batched_tokens` whatever the context (a profile run, or
    # buffers built for max_num_tokens), not for the prompt the user sends
    sizes_for_full_batch: ClassVar[bool] = True

    def batch_defaults(self, target: Target | None) -> tuple[int, int]:
        """(tokens per scheduled batch, sequences) the engine runs with when not told."""
        return self.batched_tokens, self.max_seqs

    def sequences(self, batch: int, target: Target | None) -> int:
        """The engine's max_num_seqs: the plan's batch when it is set in the settings (a batch above 1), else its
        default."""
        return batch if batch > 1 else self.batch_defaults(target)[1]

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool, target: Target | None = None) -> int:
        batched = self.batch_defaults(target)[0]
        tokens = batched if self.sizes_for_full_batch else min(batched, context * batch)
        return profile_activations(spec, tokens, tp, self.sequences(batch, target))

    def runtime(self, on_cpu: bool, spec: ModelSpec | None = None, batch: int = 1,
                target: Target | None = None) -> int:
        return self.extra_runtime + CUDA_CONTEXT_TORCH


MLLAMA_GONE = ("Llama 3.2 Vision (MllamaForConditionalGeneration) ran only on vLLM's V0 engine (\"not supported by "
               "the V1 Engine. Falling back to V0\", v0.9), and V0 was removed (vllm-project/vllm#25033, 2025-09)")


class VLLM(ServingEngine):
    name = "vllm"
    python_package = "vllm"
    label = "vLLM"
    rank = 0
    min_cc = (7, 0)
    precisions = SERVER_PRECISIONS
    smaller_kv_dtypes = ("fp8",)
    checks_torch_kernels = True
    kv_block_tokens = VLLM_BLOCK
    runs_on_rocm = True  # vLLM's ROCm build (docs.vllm.ai: "GPU: AMD ROCm")
    runs_on_gaudi = True  # with the vllm-gaudi plugin (github.com/vllm-project/vllm-gaudi)
    unsupported_model_types: ClassVar[dict[str, str]] = {"mllama": MLLAMA_GONE}
    memory_flag = "--gpu-memory-utilization"

    def batch_defaults(self, target: Target | None) -> tuple[int, int]:
        if target is not None and target.hpu:
            # the Gaudi platform reports a total of 0 to get_batch_defaults (vllm_gaudi/platform.py
            # get_device_total_memory, "This is a workaround!"), so vLLM takes its small-device defaults
            return VLLM_DEFAULTS
        if target is None or (target.total_bytes >= BIG_GPU_BYTES and "a100" not in target.name.lower()):
            return VLLM_BIG_DEFAULTS
        return VLLM_DEFAULTS

    def runtime(self, on_cpu: bool, spec: ModelSpec | None = None, batch: int = 1,
                target: Target | None = None) -> int:
        """The CUDA context and the captured CUDA graphs (by the batch sizes vLLM captures for this plan)."""
        if target is not None and target.hpu:
            return CUDA_CONTEXT_TORCH  # HPU graphs come out of the KV share of the reservation (see reserve)
        batched = self.batch_defaults(target)[0]
        return CUDA_CONTEXT_TORCH + cuda_graph_bytes(spec, self.sequences(batch, target), batched)

    def reserve(self, weights: int, kv: int, dynamic: int, total: int, free: int, budget: int, flag: float | None,
                joint: bool, target: Target | None = None) -> Reservation | None:
        if target is not None and target.hpu:
            return leftover_reservation(weights, kv, dynamic, free, budget, flag, joint, DEFAULT_UTILIZATION,
                                        1 - GAUDI_GRAPH_SHARE)
        return fraction_reservation(weights + kv + dynamic, total, free, budget, flag, joint, DEFAULT_UTILIZATION)
