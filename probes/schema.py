"""The snapshot: one versioned JSON document describing a machine.

Every probe returns one section of it. A section carries ``status`` (``ok`` / ``partial`` /
``unavailable``) and ``errors`` (one human line each); a value that could not be read is ``None``,
never a magic number. All memory figures are integers in bytes.

The same models validate a snapshot loaded back from a file, so a snapshot from another host is as
good as one probed here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"
"""Major.minor. A reader accepts any minor of its own major; a newer major is refused."""

Status = Literal["ok", "partial", "unavailable"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(_Model):
    status: Status = Field(description="ok: everything read; partial: some values missing; unavailable: none")
    errors: list[str] = Field(default_factory=list, description="One human line per thing not read")


class Abilities(_Model):
    """What a GPU can run natively, decided from its compute capability (never from a name)."""

    fp16: bool
    bf16: bool = Field(description="Native BF16: compute capability >= 8.0")
    fp8: bool = Field(description="FP8 E4M3 tensor cores: 8.9 or >= 9.0")
    fp4: bool = Field(description="FP4 (NVFP4/MXFP4): 10.x or 12.x")
    int8_tensor_cores: bool = Field(description="INT8 tensor cores (bitsandbytes int8 matmul): >= 7.5")


class GpuProcess(_Model):
    pid: int
    name: str | None = Field(None, description="Process name; None when NVML cannot say")
    used_memory_bytes: int | None = Field(None, description="None = unknown (WDDM, MIG, no permission)")
    kind: Literal["compute", "graphics"]


class MigInstance(_Model):
    index: int
    uuid: str | None = None
    name: str | None = None
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_used_bytes: int | None = None


class Mig(_Model):
    enabled: bool | None = Field(None, description="Current MIG mode; None when unknown or not supported")
    pending: bool | None = None
    instances: list[MigInstance] = Field(default_factory=list)


class Gpu(_Model):
    index: int = Field(description="NVML index (PCI bus order)")
    uuid: str | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_reserved_bytes: int | None = Field(None, description="Driver-reserved (memory info v2 only)")
    memory_info_version: Literal["v2", "v1", "system-ram"] | None = Field(
        None, description="Where the memory figures came from; system-ram for unified-memory GPUs"
    )
    unified_memory: bool = Field(False, description="Shares system RAM (GB10, Jetson): budget from RAM")
    compute_capability: str | None = Field(None, description='From NVML, e.g. "8.9"')
    multiprocessor_count: int | None = None
    abilities: Abilities | None = None
    mig: Mig = Field(default_factory=Mig)
    processes: list[GpuProcess] | None = Field(None, description="None when the process list is unreadable")
    power_draw_watts: float | None = None
    power_limit_watts: float | None = None
    temperature_c: int | None = None
    utilization_gpu_percent: int | None = None
    utilization_memory_percent: int | None = None
    cuda_index: int | None = Field(None, description="Index a CUDA program started here sees; None = hidden")
    errors: list[str] = Field(default_factory=list)


class CudaVisibleDevice(_Model):
    cuda_index: int
    nvml_index: int
    uuid: str | None = None
    mig_uuid: str | None = Field(None, description="Set when CUDA_VISIBLE_DEVICES named a MIG instance")


class NvmlSection(Section):
    library_version: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = Field(None, description='Highest CUDA the driver supports, e.g. "12.4"')
    device_count: int | None = None
    cuda_visible_devices: str | None = Field(None, description="CUDA_VISIBLE_DEVICES as set, None if unset")
    cuda_device_order: Literal["FASTEST_FIRST", "PCI_BUS_ID"] = "FASTEST_FIRST"
    cuda_order_exact: bool = Field(
        True, description="False when CUDA's fastest-first order among unlike GPUs had to be guessed"
    )
    cuda_visible: list[CudaVisibleDevice] = Field(
        default_factory=list, description="The GPUs a CUDA program started here would see, in its order"
    )


class Cgroup(_Model):
    version: Literal[1, 2]
    path: str
    limit_bytes: int | None = Field(None, description="None = no limit")
    usage_bytes: int | None = None
    reclaimable_bytes: int | None = Field(None, description="Inactive page cache the kernel can drop")


class MemorySection(Section):
    total_bytes: int | None = None
    available_bytes: int | None = Field(None, description="Host 'available' (not 'free'), as psutil reports")
    free_bytes: int | None = None
    swap_total_bytes: int | None = None
    swap_free_bytes: int | None = None
    cgroup: Cgroup | None = None
    effective_available_bytes: int | None = Field(
        None, description="min(host available, cgroup limit - (usage - reclaimable))"
    )


class CpuSection(Section):
    model: str | None = None
    architecture: str | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    usable_cores: int | None = Field(None, description="CPUs this process may run on (affinity)")
    cgroup_cpu_limit: float | None = Field(None, description="CPU quota in cores from cgroup cpu.max")
    flags: list[str] = Field(default_factory=list, description="Inference-relevant ISA flags only")


class DiskSection(Section):
    path: str | None = Field(None, description="Where model weights are cached (Hugging Face hub cache)")
    exists: bool | None = None
    free_bytes: int | None = None
    total_bytes: int | None = None


class TorchDevice(_Model):
    index: int
    backend: Literal["cuda", "rocm", "mps", "xpu"]
    name: str | None = None
    total_memory_bytes: int | None = None
    compute_capability: str | None = None
    abilities: Abilities | None = None
    kernels: Literal["native", "ptx-jit", "missing"] | None = Field(
        None, description="Whether the installed torch ships kernels for this device"
    )


class TorchSection(Section):
    installed: bool = False
    version: str | None = None
    cuda_version: str | None = None
    hip_version: str | None = None
    backends: list[str] = Field(default_factory=list)
    arch_list: list[str] = Field(default_factory=list)
    devices: list[TorchDevice] = Field(default_factory=list)
    mps_recommended_max_bytes: int | None = None


class OtherAccelerator(_Model):
    kind: Literal["tpu", "edge-tpu", "intel-npu", "apple-neural-engine", "amd-gpu", "gaudi", "hailo", "qualcomm-npu"]
    name: str
    path: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None


class AcceleratorsSection(Section):
    devices: list[OtherAccelerator] = Field(default_factory=list)


class Tool(_Model):
    name: str = "advisor"
    version: str


class Host(_Model):
    hostname: str
    os: str
    os_release: str | None = None
    python: str | None = None


class Snapshot(_Model):
    """A machine, as probed at one moment."""

    schema_version: str = SCHEMA_VERSION
    tool: Tool
    taken_at: str = Field(description="ISO 8601 UTC timestamp")
    host: Host
    gpus: list[Gpu] = Field(default_factory=list, description="NVIDIA GPUs in NVML order")
    nvml: NvmlSection
    memory: MemorySection
    cpu: CpuSection
    disk: DiskSection
    torch: TorchSection
    accelerators: AcceleratorsSection

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
