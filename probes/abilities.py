"""Native abilities decided from a compute capability (NVIDIA's published tables), never from a name.

Sources: NVIDIA CUDA C++ Programming Guide, compute capabilities table (BF16 from 8.0, FP8 from 8.9,
FP4 on 10.x/12.x); bitsandbytes docs (int8 matmul needs >= 7.5).
"""

from __future__ import annotations

from probes.schema import Abilities


def parse_capability(text: str | None) -> tuple[int, int] | None:
    """Parse "8.9" into (8, 9); None for anything else."""
    if not text:
        return None
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def abilities_for(capability: tuple[int, int]) -> Abilities:
    """Abilities of an NVIDIA GPU of the given compute capability."""
    major, _minor = capability
    return Abilities(
        fp16=capability >= (5, 3),
        bf16=capability >= (8, 0),
        fp8=capability == (8, 9) or capability >= (9, 0),
        fp4=major in (10, 12),
        int8_tensor_cores=capability >= (7, 5),
    )
