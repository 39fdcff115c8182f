"""Numbers a GPU cannot have. A driver, a damaged snapshot or a hostile file can say that free memory is twice the
total, that a GPU holds 10**30 bytes, or that a data-center GPU has a total of 0 (which would make it look like a
unified-memory device budgeted from system RAM). Such values are reported as errors and the GPU is not used for
decisions ("cannot tell"), never trusted."""

from __future__ import annotations

from probes.schema import Gpu

MAX_GPU_BYTES = 1 << 40  # 1 TiB: no single GPU or MIG instance is near it (the largest ship 288 GB)
# Unified-memory NVIDIA devices (memory info NotSupported or a total of 0): Jetson Nano 5.3, TX2 6.2, Xavier 7.2,
# Orin 8.7, Thor 11.0, GB10 (DGX Spark) 12.1 (NVIDIA's CUDA GPUs compute capability table).
UNIFIED_CAPABILITIES = {"5.3", "6.2", "7.2", "8.7", "11.0", "12.1"}
UNIFIED_NAMES = ("jetson", "orin", "xavier", "thor", "gb10", "tegra", "spark")


def known_unified(name: str | None, capability: str | None) -> bool:
    """Is this a device whose memory is the system's RAM (so a total of 0 or NotSupported is expected)?"""
    lowered = (name or "").lower()
    return capability in UNIFIED_CAPABILITIES or any(word in lowered for word in UNIFIED_NAMES)


def gpu_problems(gpu: Gpu) -> list[str]:
    """What is impossible in this GPU's memory figures (empty when they are plausible)."""
    out = []
    figures = {"total": gpu.memory_total_bytes, "free": gpu.memory_free_bytes, "used": gpu.memory_used_bytes}
    for label, value in figures.items():
        if value is not None and value < 0:
            out.append(f"{label} memory is negative ({value})")
    total, free, used = gpu.memory_total_bytes, gpu.memory_free_bytes, gpu.memory_used_bytes
    if not gpu.unified_memory and total is not None and total > MAX_GPU_BYTES:
        out.append(f"total memory of {total:,} bytes is more than any GPU has")
    if total is not None and free is not None and free > total:
        out.append(f"free memory ({free:,} bytes) is more than the total ({total:,})")
    if total is not None and used is not None and used > total:
        out.append(f"used memory ({used:,} bytes) is more than the total ({total:,})")
    if gpu.unified_memory and not known_unified(gpu.name, gpu.compute_capability):
        out.append(f"reports no memory of its own, but {gpu.name or 'this GPU'} (compute capability "
                   f"{gpu.compute_capability or '?'}) is not a unified-memory device")
    if not gpu.unified_memory and total == 0:
        out.append("reports a total of 0 bytes")
    for inst in gpu.mig.instances:
        if inst.memory_total_bytes is not None and inst.memory_free_bytes is not None and (
                inst.memory_free_bytes > inst.memory_total_bytes or inst.memory_total_bytes > MAX_GPU_BYTES
                or inst.memory_free_bytes < 0):
            out.append(f"MIG instance {inst.index}: free {inst.memory_free_bytes:,} of {inst.memory_total_bytes:,} "
                       "bytes cannot be")
    return out
