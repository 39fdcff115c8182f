"""TensorRT-LLM (`trtllm-serve`): after the weights and activations are in place, the KV cache takes
`--kv_cache_free_gpu_memory_fraction` (default 0.9) of the GPU memory that is still *free* (TensorRT-LLM docs,
"How to change KV cache behavior": "free_gpu_memory_fraction ... 90% of free GPU memory for KV cache"; "Memory
usage of TensorRT-LLM"). Paged KV; sliding windows capped; MLA's latent cached.
"""

from __future__ import annotations

from typing import ClassVar

from rules.engines.base import Reservation, Target
from rules.engines.vllm import ServingEngine, leftover_reservation

DEFAULT_FREE_FRACTION = 0.9


class TensorRTLLM(ServingEngine):
    """Its activation buffers are sized at build time for max_num_tokens (8192 by default): priced like vLLM's
    profiled batch."""

    name = "tensorrt-llm"
    python_package = "tensorrt_llm"
    label = "TensorRT-LLM"
    rank = 2
    min_cc = (7, 5)
    precisions: ClassVar[frozenset[str]] = frozenset({"bf16", "fp16", "fp8", "int8-w8a8", "awq-int4", "nvfp4"})
    memory_flag = "--kv_cache_free_gpu_memory_fraction"

    def reserve(self, weights: int, kv: int, dynamic: int, total: int, free: int, budget: int, flag: float | None,
                joint: bool, target: Target | None = None) -> Reservation | None:
        """The fraction is of what is free once weights, activations and runtime are in place: the KV pool is
        fraction x (free - fixed), and the engine takes fixed + that pool."""
        return leftover_reservation(weights, kv, dynamic, free, budget, flag, joint, DEFAULT_FREE_FRACTION)
