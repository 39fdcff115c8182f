"""TensorRT-LLM (`trtllm-serve`): after the weights and activations are in place, the KV cache takes
`--kv_cache_free_gpu_memory_fraction` (default 0.9) of the GPU memory that is still *free* (TensorRT-LLM docs,
"How to change KV cache behavior": "free_gpu_memory_fraction ... 90% of free GPU memory for KV cache"; "Memory
usage of TensorRT-LLM"). Paged KV; sliding windows capped; MLA's latent cached.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rules.engines.base import Reservation, Target
from rules.engines.vllm import ServingEngine

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
        fixed = weights + dynamic
        left = free - fixed
        if left <= 0:
            return Reservation(flag if flag is not None else DEFAULT_FREE_FRACTION, fixed, False)
        if flag is not None:
            fraction = flag
        elif joint:
            fraction = min(0.99, math.ceil(kv / left * 100 + 1) / 100)
        else:
            room = budget - fixed
            fraction = max(0.0, min(DEFAULT_FREE_FRACTION, math.floor(room / left * 100) / 100)) if room > 0 else 0.0
        pool = int(fraction * left)
        reserved = fixed + pool
        limit = free if flag is not None else budget
        return Reservation(fraction, reserved, kv <= pool and reserved <= limit)
