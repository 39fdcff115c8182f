"""The built-in GPU table (package data) and what-if snapshots built from it."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from probes.abilities import abilities_for, parse_capability
from probes.schema import Gpu, NvmlSection, Snapshot
from rules.names import NameIndex, load_package_list

# What-if GPUs: NVML reports a little less than the marketed size as total (driver reservations).
WHAT_IF_TOTAL_FRACTION = 0.97


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("nvidia", "").replace("geforce", "").replace("tesla", ""))


@lru_cache(maxsize=1)
def gpus() -> tuple[dict[str, Any], ...]:
    return load_package_list("rules", "data/gpus.json", "gpus")


@lru_cache(maxsize=1)
def _index() -> NameIndex:
    return NameIndex(gpus(), lambda e: [e["name"], *e.get("aliases", [])], _key)


def find_gpu(name: str) -> dict[str, Any] | None:
    return _index().get(name)


def near_gpus(name: str, n: int = 3) -> list[str]:
    return _index().near(name, n)


def parse_gpu_spec(text: str) -> tuple[str, int]:
    """ "RTX 4090", "2xH100", "2 x H100", "H100 x8", "A100 80GB ×4" -> (name, count)."""
    cleaned = " ".join(text.split())[:200]  # runs of spaces become one: every pattern below is then linear
    if m := re.match(r"^(\d{1,2}) ?[x×] ?(.+)$", cleaned, re.I):
        return m.group(2).strip(), int(m.group(1))
    if m := re.match(r"^(.+?)(?: [x×] ?|×)(\d{1,2})$", cleaned, re.I):
        return m.group(1).strip(), int(m.group(2))
    return cleaned, 1


def gpu_budget_bytes(entry: dict[str, Any]) -> int:
    """Memory a model may use on this GPU (unified-memory devices only get their usable share)."""
    fraction = entry.get("gpu_budget_fraction") or WHAT_IF_TOTAL_FRACTION
    return int(entry["memory_bytes"] * fraction)


def what_if_gpus(entry: dict[str, Any], count: int) -> list[Gpu]:
    """`count` idle GPUs of a table entry, as a probe would report them (values marked by the source)."""
    cap = parse_capability(entry.get("compute_capability"))
    total = gpu_budget_bytes(entry)
    return [
        Gpu(index=i, uuid=f"WHATIF-{_key(entry['name'])}-{i}", name=entry["name"], memory_total_bytes=total,
            memory_free_bytes=total, memory_used_bytes=0, memory_info_version=None,
            unified_memory=bool(entry.get("unified_memory")), compute_capability=entry.get("compute_capability"),
            abilities=abilities_for(cap) if cap else None, processes=[], cuda_index=i if entry["vendor"] == "nvidia" else None)
        for i in range(count)
    ]


def with_what_if_gpus(snapshot: Snapshot, entry: dict[str, Any], count: int) -> Snapshot:
    """The machine with its GPUs replaced by `count` of `entry`.

    A discrete GPU goes into this machine (its RAM and CPU stay). A unified-memory device (Jetson, DGX Spark,
    Apple silicon) is a whole machine: its memory is the RAM as well, so this host's RAM, CPU and container
    limits are not borrowed: RAM plans get the same usable share of the device's memory as the GPU.
    """
    if entry["vendor"] in ACCELERATOR_KIND:
        return _accelerator_machine(snapshot, entry, count)
    gpus_ = what_if_gpus(entry, count)
    section = NvmlSection(status="ok", errors=[], device_count=count, driver_version="what-if",
                          cuda_visible=[], cuda_device_order="PCI_BUS_ID")
    from probes.schema import CudaVisibleDevice

    if entry["vendor"] == "nvidia":
        section = section.model_copy(update={"cuda_visible": [CudaVisibleDevice(cuda_index=g.index, nvml_index=g.index, uuid=g.uuid)
                                                              for g in gpus_]})
    else:
        gpus_ = [g.model_copy(update={"cuda_index": g.index}) for g in gpus_]
    update: dict[str, Any] = {"gpus": gpus_, "nvml": section}
    if entry.get("unified_memory"):
        update.update(_unified_machine(snapshot, entry, count))
    return snapshot.model_copy(update=update)


# vendors whose GPUs the probe finds outside NVML, and the accelerator kind a probed machine lists them as
ACCELERATOR_KIND: dict[str, Literal["amd-gpu", "gaudi"]] = {"amd": "amd-gpu", "intel": "gaudi"}


def _accelerator_machine(snapshot: Snapshot, entry: dict[str, Any], count: int) -> Snapshot:
    """The machine with `count` idle AMD GPUs or Intel Gaudis of `entry` and no NVIDIA GPU: they are what the probe
    finds outside NVML (AMD GPUs in sysfs, ROCm; Gaudis by the habanalabs driver), so they go in as accelerators of
    their kind, as a probed machine has them."""
    from probes.schema import AcceleratorsSection, OtherAccelerator

    kind = ACCELERATOR_KIND[entry["vendor"]]
    total = gpu_budget_bytes(entry)
    amd = [OtherAccelerator(kind=kind, name=f"{entry['name']} (what-if)", path=None, memory_total_bytes=total,
                            memory_used_bytes=0) for _ in range(count)]
    others = [a for a in snapshot.accelerators.devices if a.kind not in ACCELERATOR_KIND.values()]
    section = NvmlSection(status="ok", errors=[], device_count=0, driver_version="what-if", cuda_visible=[],
                          cuda_device_order="PCI_BUS_ID")
    accelerators = AcceleratorsSection(status="ok", errors=[], devices=[*others, *amd])
    return snapshot.model_copy(update={"gpus": [], "nvml": section, "accelerators": accelerators})


def _unified_machine(snapshot: Snapshot, entry: dict[str, Any], count: int) -> dict[str, Any]:
    from probes.schema import CpuSection, MemorySection

    total = int(entry["memory_bytes"]) * count
    usable = gpu_budget_bytes(entry) * count
    memory = MemorySection(status="ok", errors=[], total_bytes=total, available_bytes=usable, free_bytes=usable,
                           effective_available_bytes=usable)
    arch = "arm64" if entry["vendor"] == "apple" else "aarch64"
    cpu = CpuSection(status="ok", errors=[], model=f"{entry['name']} (what-if)", architecture=arch, flags=[])
    return {"memory": memory, "cpu": cpu}
