"""SGLang (`python -m sglang.launch_server`): a static pool of `--mem-fraction-static` x the GPU's total memory
holds the weights and the KV cache (its radix cache's token pool takes what the weights leave of it); the rest
of the GPU is for activations of one chunked-prefill batch and CUDA graphs (SGLang docs, "Server arguments":
"--mem-fraction-static: the fraction of the memory used for static allocation (model weights and KV cache memory
pool)"; "--chunked-prefill-size", "--context-length", "--tp", "--kv-cache-dtype"). Paged KV in pages of 1 token by
default; sliding-window layers capped; MLA's latent cached (FlashInfer / FlashMLA backends).
"""

from __future__ import annotations

import math

from rules.engines.base import Reservation, Target
from rules.engines.vllm import SERVER_PRECISIONS, ServingEngine
from rules.memory import MIB

CHUNKED_PREFILL = 8192  # SGLang's --chunked-prefill-size on large GPUs (smaller GPUs get 2048 or 4096)
MAX_RUNNING = 256  # sampling logits for this many running requests (the scheduler's --max-running-requests scale)
CUDA_GRAPHS = 1024 * MIB  # captured graphs and the non-torch allocations beside the static pool
DEFAULT_STATIC = 0.88  # the fraction SGLang picks for an 80 GB GPU at TP 1; smaller GPUs get less


class SGLang(ServingEngine):
    name = "sglang"
    python_package = "sglang"
    label = "SGLang"
    rank = 1
    min_cc = (7, 5)
    precisions = SERVER_PRECISIONS
    smaller_kv_dtypes = ("fp8",)
    checks_torch_kernels = True
    memory_flag = "--mem-fraction-static"
    runs_on_rocm = True  # SGLang's ROCm build (docs.sglang.ai: AMD GPUs)
    batched_tokens = CHUNKED_PREFILL
    max_seqs = MAX_RUNNING
    extra_runtime = CUDA_GRAPHS
    sizes_for_full_batch = False  # activations are allocated as a prefill chunk runs, outside the static pool

    def reserve(self, weights: int, kv: int, dynamic: int, total: int, free: int, budget: int, flag: float | None,
                joint: bool, target: Target | None = None) -> Reservation | None:
        """The static pool (weights + KV) is `fraction x total`; activations and runtime come on top of it."""
        static = weights + kv
        if flag is not None:
            fraction = flag
        elif joint:
            fraction = min(0.99, math.ceil(static / total * 100 + 1) / 100)
        else:
            fraction = max(0.0, min(DEFAULT_STATIC, math.floor((budget - dynamic) / total * 100) / 100))
        pool = int(fraction * total)
        reserved = pool + dynamic
        limit = free if flag is not None else budget
        return Reservation(fraction, reserved, static <= pool and reserved <= limit)
