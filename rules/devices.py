"""The devices a plan may use, each with its budget: free memory minus headroom, never pooled."""

from __future__ import annotations

from dataclasses import dataclass

from probes.abilities import parse_capability
from probes.sanity import gpu_problems
from probes.schema import Gpu, Snapshot
from rules.plan import Request

GIB = 1024**3
# accelerators the probe finds outside NVML that plans use like GPUs:
# the device key's prefix, and the memory as its vendor calls it
DISCRETE_ACCELERATORS = {"amd-gpu": ("rocm", "VRAM"), "gaudi": ("hpu", "memory")}
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
    mig_uuid: str | None = None  # set for a MIG instance: the only way CUDA selects it
    rocm: bool = False  # an AMD GPU (ROCm / HIP), seen by the probe in sysfs, not by NVML
    hpu: bool = False  # an Intel Gaudi (HPU), a what-if or a habanalabs device

    @property
    def capability(self) -> tuple[int, int] | None:
        return parse_capability(self.gpu.compute_capability) if self.gpu else None

    @property
    def is_mig(self) -> bool:
        return "/mig:" in self.key

    @property
    def native_bf16(self) -> bool:
        """BF16 in hardware: compute capability >= 8.0 on NVIDIA; Apple GPUs run it through MPS."""
        if self.kind == "cpu":
            return any(f in self.cpu_flags for f in ("avx512_bf16", "amx_bf16", "bf16"))
        if self.apple or self.rocm or self.hpu:  # MPS; AMD GPUs of the ROCm era (CDNA2+, RDNA3); Gaudi
            return True
        abilities = self.gpu.abilities if self.gpu else None
        return bool(abilities and abilities.bf16)

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
    unreadable: tuple[str, ...] = ()  # GPUs (or MIG instances) that exist but whose memory could not be read
    cpu_only_allowed: bool = True  # False when the user named GPUs: no plan may run on the CPU alone


def no_driver(snapshot: Snapshot) -> bool:
    """NVML is unavailable because there is no NVIDIA driver (so there is no NVIDIA GPU to use)."""
    nvml = snapshot.nvml
    if nvml.status != "unavailable":
        return False
    reason = (nvml.errors[0] if nvml.errors else "").lower()
    return any(m in reason for m in NO_DRIVER_MARKERS)


def requested_gpu_problem(snapshot: Snapshot, request: Request) -> str | None:
    """Why `--gpus` names GPUs that are not on this machine (a usage error), or None.

    GPUs NVML lists but could not read are not this error: they exist, and the decision becomes "cannot tell".
    """
    if request.devices is None:
        return None
    if snapshot.nvml.status == "unavailable" and not snapshot.gpus:
        if not no_driver(snapshot):
            return None  # NVML failed: GPUs may be there; the decision says it cannot tell
        why = snapshot.nvml.errors[0] if snapshot.nvml.errors else "NVML unavailable"
        return f"--gpus {','.join(map(str, request.devices))}: this machine has no NVIDIA GPU to use ({why})"
    present = {g.index for g in snapshot.gpus}
    missing = sorted(set(request.devices) - present)
    if not missing:
        return None
    there = ", ".join(f"{g.index} ({g.name or 'unreadable'})" for g in snapshot.gpus) or "none"
    plural = "s" if len(missing) > 1 else ""
    return (f"--gpus: no GPU{plural} {', '.join(map(str, missing))} on this machine "
            f"(NVML indices here: {there})")


def _visible_instances(snapshot: Snapshot, gpu: Gpu) -> set[str] | None:
    """MIG UUIDs that CUDA_VISIBLE_DEVICES selects on this GPU; None when it names the GPU whole or is unset."""
    named = {v.mig_uuid for v in snapshot.nvml.cuda_visible if v.nvml_index == gpu.index and v.mig_uuid}
    return named or None


def usable_devices(snapshot: Snapshot, request: Request) -> Devices:
    """GPUs a CUDA program here would see (restricted to request.devices), MIG instances, and the CPU.

    A MIG instance is a device of its own: a CUDA process uses one instance, so no plan spans two (see
    `spannable`). GPUs that exist but could not be read are listed in `unreadable`: a decision that needs
    them cannot be made.
    """
    notes: list[str] = []
    unreadable: list[str] = []
    gpus: list[Device] = []
    nvml = snapshot.nvml
    problem = None
    if nvml.status == "unavailable" and not no_driver(snapshot):
        problem = nvml.errors[0] if nvml.errors else "NVML could not be read"
    wanted = set(request.devices) if request.devices is not None else None
    for gpu in snapshot.gpus:
        if wanted is not None and gpu.index not in wanted:
            continue
        if gpu.cuda_index is None and wanted is None:
            notes.append(f"GPU {gpu.index} ({gpu.name}) is hidden by CUDA_VISIBLE_DEVICES")
            continue
        apple = (gpu.name or "").startswith("Apple")
        impossible = gpu_problems(gpu) if not apple else []
        if impossible:
            unreadable.append(f"GPU {gpu.index}{f' ({gpu.name})' if gpu.name else ''} could not be trusted "
                              f"({'; '.join(impossible)})")
            continue
        if gpu.mig.enabled:
            only = _visible_instances(snapshot, gpu) if wanted is None else None
            for inst in gpu.mig.instances:
                if only is not None and inst.uuid not in only:
                    continue
                label = f"GPU {gpu.index} MIG instance {inst.index}"
                if inst.memory_total_bytes is None or inst.memory_free_bytes is None or not inst.uuid:
                    unreadable.append(f"{label} could not be read (its {'memory' if inst.uuid else 'UUID'})")
                    continue
                room = headroom(inst.memory_total_bytes, request)
                gpus.append(Device(f"gpu:{gpu.index}/mig:{inst.index}", inst.name or f"{gpu.name} MIG {inst.index}",
                                   "gpu", gpu.index, inst.memory_total_bytes, inst.memory_free_bytes,
                                   max(0, inst.memory_free_bytes - room), gpu, mig_uuid=inst.uuid))
            if not gpu.mig.instances:
                unreadable.append(f"GPU {gpu.index} ({gpu.name}) is in MIG mode, but no MIG instance could be read")
            notes.append(f"GPU {gpu.index} is in MIG mode: each MIG instance is one device; a process uses one")
            continue
        if gpu.memory_total_bytes is None or gpu.memory_free_bytes is None:
            why = gpu.errors[0] if gpu.errors else "memory could not be read"
            unreadable.append(f"GPU {gpu.index}{f' ({gpu.name})' if gpu.name else ''} could not be read ({why})")
            continue
        room = headroom(gpu.memory_total_bytes, request)
        gpus.append(Device(f"gpu:{gpu.index}", gpu.name or f"GPU {gpu.index}", "gpu", gpu.index, gpu.memory_total_bytes,
                           gpu.memory_free_bytes, max(0, gpu.memory_free_bytes - room), gpu, apple=apple,
                           unified=gpu.unified_memory or apple))
    if wanted is None:  # --gpus names NVML indices: AMD GPUs and Gaudis are used only when no NVIDIA GPU is named
        for kind, (prefix, noun) in DISCRETE_ACCELERATORS.items():
            for i, acc in enumerate(a for a in snapshot.accelerators.devices if a.kind == kind):
                if acc.memory_total_bytes is None:
                    unreadable.append(f"{acc.name} could not be read (its {noun} size)")
                    continue
                total = acc.memory_total_bytes
                free = max(0, total - (acc.memory_used_bytes or 0))
                room = headroom(total, request)
                gpus.append(Device(f"gpu:{prefix}{i}", acc.name, "gpu", None, total, free, max(0, free - room),
                                   rocm=kind == "amd-gpu", hpu=kind == "gaudi"))
    cpu = None
    mem = snapshot.memory
    available = mem.effective_available_bytes if mem.effective_available_bytes is not None else mem.available_bytes
    if request.allow_cpu and mem.total_bytes and available is not None:
        total = mem.cgroup.limit_bytes if mem.cgroup and mem.cgroup.limit_bytes else mem.total_bytes
        room = headroom(total, request)
        cpu = Device("cpu", snapshot.cpu.model or "CPU", "cpu", None, total, available, max(0, available - room),
                     cpu_flags=tuple(snapshot.cpu.flags))
    if request.devices is not None:
        notes.append(f"--gpus {','.join(map(str, request.devices))}: plans use these GPUs (never the CPU alone)")
    return Devices(tuple(gpus), cpu, tuple(notes), problem, tuple(unreadable), request.devices is None)


def spannable(gpus: tuple[Device, ...]) -> tuple[Device, ...]:
    """GPUs one process may use together: discrete, whole GPUs (a MIG instance is used alone)."""
    return tuple(g for g in gpus if not g.unified and not g.is_mig)
