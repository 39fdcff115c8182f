"""The devices a plan may use, each with its budget: free memory minus headroom, never pooled."""

from __future__ import annotations

from dataclasses import dataclass

from probes.abilities import parse_capability
from probes.schema import Gpu, Snapshot
from rules.plan import Request

GIB = 1024**3
NO_DRIVER_MARKERS = ("library not found", "not installed")


@dataclass(frozen=True)
class Device:
    key: str  # "gpu:0", "gpu:0/mig:1", "cpu"
    name: str
    kind: str  # gpu | cpu
    index: int | None
    total: int
    free: int
    budget: int
    gpu: Gpu | None = None
    apple: bool = False
    unified: bool = False
    cpu_flags: tuple[str, ...] = ()

    @property
    def capability(self) -> tuple[int, int] | None:
        return parse_capability(self.gpu.compute_capability) if self.gpu else None

    def label(self) -> str:
        return "CPU RAM" if self.kind == "cpu" else f"GPU {self.key[4:]} ({self.name})"


def headroom(total: int, request: Request) -> int:
    """Kept free on a device: the request's, or the larger of 10 % of the device and 1 GiB."""
    if request.headroom_bytes is not None:
        return request.headroom_bytes
    return max(total // 10, GIB)


@dataclass(frozen=True)
class Devices:
    gpus: tuple[Device, ...]
    cpu: Device | None
    notes: tuple[str, ...]
    nvml_problem: str | None  # NVML could not be read (and a GPU may be there)


def usable_devices(snapshot: Snapshot, request: Request) -> Devices:
    """GPUs a CUDA program here would see (restricted to request.devices), MIG instances, and the CPU."""
    notes: list[str] = []
    gpus: list[Device] = []
    nvml = snapshot.nvml
    problem = None
    if nvml.status == "unavailable":
        reason = nvml.errors[0] if nvml.errors else "NVML could not be read"
        if not any(m in reason.lower() for m in NO_DRIVER_MARKERS):
            problem = reason
    wanted = set(request.devices) if request.devices is not None else None
    for gpu in snapshot.gpus:
        if wanted is not None and gpu.index not in wanted:
            continue
        if gpu.cuda_index is None and wanted is None:
            notes.append(f"GPU {gpu.index} ({gpu.name}) is hidden by CUDA_VISIBLE_DEVICES")
            continue
        apple = (gpu.name or "").startswith("Apple")
        if gpu.mig.enabled:
            for inst in gpu.mig.instances:
                if inst.memory_total_bytes is None or inst.memory_free_bytes is None:
                    continue
                room = headroom(inst.memory_total_bytes, request)
                gpus.append(Device(f"gpu:{gpu.index}/mig:{inst.index}", inst.name or f"{gpu.name} MIG {inst.index}",
                                   "gpu", gpu.index, inst.memory_total_bytes, inst.memory_free_bytes,
                                   max(0, inst.memory_free_bytes - room), gpu))
            notes.append(f"GPU {gpu.index} is in MIG mode: plans use its MIG instances, one at a time")
            continue
        if gpu.memory_total_bytes is None or gpu.memory_free_bytes is None:
            notes.append(f"GPU {gpu.index}: memory could not be read; not used")
            continue
        room = headroom(gpu.memory_total_bytes, request)
        gpus.append(Device(f"gpu:{gpu.index}", gpu.name or f"GPU {gpu.index}", "gpu", gpu.index, gpu.memory_total_bytes,
                           gpu.memory_free_bytes, max(0, gpu.memory_free_bytes - room), gpu, apple=apple,
                           unified=gpu.unified_memory or apple))
    if wanted is not None:
        missing = sorted(wanted - {g.index for g in snapshot.gpus})
        if missing:
            notes.append(f"requested GPU(s) {', '.join(map(str, missing))} not found on this machine")
    cpu = None
    mem = snapshot.memory
    available = mem.effective_available_bytes if mem.effective_available_bytes is not None else mem.available_bytes
    if request.allow_cpu and mem.total_bytes and available is not None:
        total = mem.cgroup.limit_bytes if mem.cgroup and mem.cgroup.limit_bytes else mem.total_bytes
        room = headroom(total, request)
        cpu = Device("cpu", snapshot.cpu.model or "CPU", "cpu", None, total, available, max(0, available - room),
                     cpu_flags=tuple(snapshot.cpu.flags))
    return Devices(tuple(gpus), cpu, tuple(notes), problem)
