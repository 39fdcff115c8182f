"""The one order of plans, used by every list: `fit`'s plan and runners-up, `check`, the fleet matrix and the
joint placement of several models.

1. A plan that runs entirely on GPUs at 4-bit quality or better comes before any plan that offloads to the CPU or
   runs on it: offload is several times slower (every token streams the CPU layers), a price a person would not
   pay for a small gain in quality. Below 4-bit quality, quality goes first again.
2. Then quality (bf16/fp16 > fp8 > int8 > 4-bit > lower), then speed (one GPU or tensor-parallel > layer split >
   offload > CPU), then the format the hardware runs natively (preference), then the engine (each engine's
   `rank`), then fewer GPUs, then headroom.
"""

from __future__ import annotations

from typing import Literal

from rules import engines
from rules.plan import Plan

SpeedClass = Literal["all-gpu", "offload", "cpu"]

SPEED_RANK = {"single-gpu": 0, "tensor-parallel": 0, "unified": 0, "fsdp": 0, "layer-split": 1, "offload": 2, "cpu": 3}
SPEED_CLASS: dict[str, SpeedClass] = {"single-gpu": "all-gpu", "tensor-parallel": "all-gpu", "unified": "all-gpu",
                                      "fsdp": "all-gpu", "layer-split": "all-gpu", "offload": "offload", "cpu": "cpu"}
SPEED_CLASS_TEXT = {"all-gpu": "all on GPU", "offload": "GPU + CPU offload, several times slower",
                    "cpu": "CPU only, slowest", "accelerator": "on the accelerator, fed by its host"}
# Quality ranks (rules/precisions.py) at 4-bit or better: nf4, mxfp4, Q4_0, Q4_K_S, IQ4_XS are 5.
FOUR_BIT_QUALITY_RANK = 5


def speed_class(placement: str) -> SpeedClass:
    return SPEED_CLASS[placement]


def order_key(quality_rank: int, placement: str, preference: int, engine: str,
              gpus: int = 1) -> tuple[int, int, int, int, int, int]:
    """The rank of a plan before headroom; smaller is better. Among otherwise equal plans, fewer GPUs first: an
    8 B model on one H100 beats the same model tensor-parallel over two (no interconnect traffic, a GPU left free)."""
    all_gpu_good = SPEED_CLASS[placement] == "all-gpu" and quality_rank <= FOUR_BIT_QUALITY_RANK
    rank = engines.REGISTRY[engine].rank if engine in engines.REGISTRY else 9
    return (0 if all_gpu_good else 1, quality_rank, SPEED_RANK[placement], preference, rank, gpus)


def rank_key(quality_rank: int, placement: str, preference: int, engine: str, headroom_fraction: float,
             gpus: int = 1) -> tuple[float, ...]:
    """The full rank: `order_key`, then more headroom first."""
    return (*order_key(quality_rank, placement, preference, engine, gpus), -round(headroom_fraction, 4))


def plan_rank(plan: Plan, preference: int) -> tuple[float, ...]:
    """`rank_key` of a plan."""
    gpus = sum(1 for u in plan.per_device if u.kind == "gpu")
    return rank_key(plan.quality_rank, plan.placement, preference, plan.engine, plan.headroom_fraction, gpus)
