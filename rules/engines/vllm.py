"""vLLM: paged KV cache in blocks of 16 tokens, CUDA graphs, chunked prefill; pre-allocates
`--gpu-memory-utilization` x the GPU's *total* memory, profiles one batch of max_num_batched_tokens, and gives
the rest of the reservation to the KV cache (vLLM docs, "Engine arguments"; vllm/worker/gpu_worker.py
determine_num_available_blocks). It refuses to start when free memory is below its reservation. It caps
sliding-window layers and caches MLA's latent.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rules.engines.base import Engine, Reservation
from rules.engines.transformers import CUDA_CONTEXT_TORCH
from rules.memory import MIB, ffn_width
from rules.precisions import Precision
from rules.spec import ModelSpec

VLLM_EXTRA = 1024 * MIB  # CUDA graphs and non-torch allocations vLLM reports besides its budget
VLLM_BATCHED_TOKENS = 8192  # vLLM's default max_num_batched_tokens (chunked prefill)
VLLM_MAX_SEQS = 256  # vLLM's default max_num_seqs: the profile run samples this many sequences
VLLM_BLOCK = 16  # tokens per KV block (paged attention)
DEFAULT_UTILIZATION = 0.9  # vLLM's default --gpu-memory-utilization


def profile_activations(spec: ModelSpec, context: int, batch: int, tp: int, batched_tokens: int, max_seqs: int) -> int:
    """The profiled peak of one batch of `batched_tokens`, plus the sampler's logits for `max_seqs` sequences."""
    tokens = min(batched_tokens, max(context * batch, 1))
    per_token = (4 * ffn_width(spec) // tp + (spec.hidden_size or 0)) * 2
    sampler = 2 * max_seqs * (spec.vocab_size or 0) * 4
    return tokens * per_token + sampler


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
    batched_tokens: ClassVar[int] = VLLM_BATCHED_TOKENS
    max_seqs: ClassVar[int] = VLLM_MAX_SEQS
    extra_runtime: ClassVar[int] = VLLM_EXTRA

    def activations(self, spec: ModelSpec, precision: Precision, context: int, batch: int, tp: int,
                    on_cpu: bool) -> int:
        return profile_activations(spec, context, batch, tp, self.batched_tokens, self.max_seqs)

    def runtime(self, on_cpu: bool) -> int:
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
    unsupported_model_types: ClassVar[dict[str, str]] = {"mllama": MLLAMA_GONE}
    memory_flag = "--gpu-memory-utilization"

    def reserve(self, weights: int, kv: int, dynamic: int, total: int, free: int, budget: int, flag: float | None,
                joint: bool) -> Reservation | None:
        return fraction_reservation(weights + kv + dynamic, total, free, budget, flag, joint, DEFAULT_UTILIZATION)
