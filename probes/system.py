"""RAM, CPU and disk: psutil, /proc and cgroup files. The only module importing psutil."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from probes.cgroup import CgroupReading, headroom_bytes, read_cgroup
from probes.schema import CpuSection, DiskSection, MemorySection

# ISA flags that matter for CPU inference (llama.cpp, oneDNN, PyTorch CPU kernels).
X86_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16",
             "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")
# /proc/cpuinfo "Features" names on ARM; "asimd" is NEON.
ARM_FLAGS = {"asimd": "neon", "neon": "neon", "sve": "sve", "sve2": "sve2", "asimddp": "dotprod",
             "i8mm": "i8mm", "bf16": "bf16", "fphp": "fp16", "asimdhp": "fp16"}


@dataclass(frozen=True)
class SystemProbe:
    memory: MemorySection
    cpu: CpuSection
    disk: DiskSection


def probe_system(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> SystemProbe:
    """Read RAM (with cgroup limits), CPU and the model-cache disk.

    Args:
        root: Filesystem root for /proc and /sys (tests point it at fake files).
        environ: Environment for the Hugging Face cache location (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    cgroup = read_cgroup(root)
    return SystemProbe(_memory(cgroup), _cpu(root, cgroup), probe_disk(env))


def _memory(cgroup: CgroupReading) -> MemorySection:
    errors = list(cgroup.errors)
    try:
        import psutil

        vm = psutil.virtual_memory()
        total, available, free = int(vm.total), int(vm.available), int(vm.free)
    except Exception as exc:  # noqa: BLE001 - psutil raises OS-specific errors
        return MemorySection(status="unavailable", errors=[*errors, f"RAM: psutil failed: {exc}"])
    swap_total = swap_free = None
    try:
        sw = psutil.swap_memory()
        swap_total, swap_free = int(sw.total), int(sw.free)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"swap: psutil failed: {exc}")
    effective = available
    if cgroup.memory is not None:
        room = headroom_bytes(cgroup.memory)
        if room is not None:
            effective = min(available, room)
    return MemorySection(
        status="partial" if errors else "ok",
        errors=errors,
        total_bytes=total,
        available_bytes=available,
        free_bytes=free,
        swap_total_bytes=swap_total,
        swap_free_bytes=swap_free,
        cgroup=cgroup.memory,
        effective_available_bytes=effective,
    )


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """Model name and inference-relevant ISA flags from /proc/cpuinfo text (x86 or ARM)."""
    model = None
    raw: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            raw.update(value.split())
    flags = [f for f in X86_FLAGS if f in raw]
    flags += sorted({name for feature, name in ARM_FLAGS.items() if feature in raw})
    return model, flags


def _cpu(root: Path, cgroup: CgroupReading) -> CpuSection:
    errors: list[str] = []
    arch = platform.machine() or None
    model: str | None = None
    flags: list[str] = []
    try:
        model, flags = parse_cpuinfo((root / "proc" / "cpuinfo").read_text(errors="replace"))
    except OSError:
        if platform.system() == "Linux":
            errors.append("CPU model and flags: /proc/cpuinfo unreadable")
    if platform.system() == "Darwin" and arch == "arm64":
        flags = flags or ["neon"]  # every Apple silicon core has NEON
    model = model or platform.processor() or None
    try:
        import psutil

        logical = psutil.cpu_count(logical=True)
        physical = psutil.cpu_count(logical=False)
    except Exception as exc:  # noqa: BLE001
        logical = physical = None
        errors.append(f"core count: psutil failed: {exc}")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return CpuSection(
        status="partial" if errors else "ok",
        errors=errors,
        model=model,
        architecture=arch,
        physical_cores=physical,
        logical_cores=logical,
        usable_cores=usable,
        cgroup_cpu_limit=cgroup.cpu_limit_cores,
        flags=flags,
    )


def hf_cache_dir(env: Mapping[str, str]) -> Path:
    """Where huggingface_hub keeps downloaded weights: HF_HUB_CACHE, HF_HOME/hub, or ~/.cache."""
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def probe_disk(env: Mapping[str, str]) -> DiskSection:
    """Free space where model weights are cached (measured on the nearest existing parent)."""
    path = hf_cache_dir(env)
    probe_at = path
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    try:
        usage = shutil.disk_usage(probe_at)
    except OSError as exc:
        return DiskSection(status="unavailable", errors=[f"disk: cannot stat {probe_at}: {exc}"], path=str(path))
    return DiskSection(
        status="ok", path=str(path), exists=path.exists(), free_bytes=usage.free, total_bytes=usage.total
    )
