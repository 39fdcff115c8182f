"""Snapshots as values for rules tests: machines described in a line, built with the real schema."""

from __future__ import annotations

from probes.abilities import abilities_for, parse_capability
from probes.schema import (
    AcceleratorsSection,
    CpuSection,
    CudaVisibleDevice,
    DiskSection,
    Gpu,
    Host,
    MemorySection,
    NvmlSection,
    Snapshot,
    Tool,
    TorchSection,
)

GIB = 1024**3


def gpu(index: int, name: str, total_gib: float, cc: str | None, free_gib: float | None = None) -> Gpu:
    total = int(total_gib * GIB)
    free = int((free_gib if free_gib is not None else total_gib) * GIB)
    cap = parse_capability(cc)
    return Gpu(index=index, uuid=f"GPU-test-{index}", name=name, memory_total_bytes=total, memory_free_bytes=free,
               memory_used_bytes=total - free, compute_capability=cc, abilities=abilities_for(cap) if cap else None,
               processes=[], cuda_index=index, unified_memory=name.startswith("Apple"))


def machine(gpus: list[Gpu] | None = None, ram_gib: float = 64, ram_free_gib: float | None = None,
            flags: tuple[str, ...] = ("avx2", "avx512f"), nvml_status: str = "ok", nvml_error: str | None = None) -> Snapshot:
    gpus = gpus or []
    total = int(ram_gib * GIB)
    free = int((ram_free_gib if ram_free_gib is not None else ram_gib * 0.9) * GIB)
    return Snapshot(
        tool=Tool(version="test"), taken_at="2026-11-21T00:00:00+00:00",
        host=Host(hostname="testhost", os="Linux"),
        gpus=gpus,
        nvml=NvmlSection(status=nvml_status, errors=[nvml_error] if nvml_error else [], device_count=len(gpus),
                         cuda_visible=[CudaVisibleDevice(cuda_index=g.index, nvml_index=g.index, uuid=g.uuid) for g in gpus]),
        memory=MemorySection(status="ok", total_bytes=total, available_bytes=free, effective_available_bytes=free),
        cpu=CpuSection(status="ok", model="Test CPU", architecture="x86_64", physical_cores=8, logical_cores=16, flags=list(flags)),
        disk=DiskSection(status="ok", path="/tmp", free_bytes=100 * GIB),
        torch=TorchSection(status="unavailable", errors=["torch probe skipped (--no-torch)"]),
        accelerators=AcceleratorsSection(status="ok"),
    )


NO_GPU = machine([], nvml_status="unavailable", nvml_error="NVML library not found (libnvidia-ml): no NVIDIA driver installed")


def rtx4090(free_gib: float = 23.5, **kw: object) -> Snapshot:
    return machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9", free_gib)], **kw)  # type: ignore[arg-type]
