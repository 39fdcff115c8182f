"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py). The only module importing pynvml.

Every NVML call goes through one gateway that turns an ``NVMLError`` into ``None`` plus a reason line,
so no NVML error crosses this module's boundary. The whole probe runs in a worker thread with a time
limit: a hung driver call yields an ``unavailable`` section, not a hung advisor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from probes.abilities import abilities_for
from probes.cuda_visible import resolve_cuda_visible
from probes.sanity import gpu_problems, known_unified
from probes.schema import Gpu, GpuProcess, Mig, MigInstance, NvmlSection

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0

# NVML return codes (nvml.h); the values are NVML's own, stable across releases.
_LIBRARY_NOT_FOUND = 12
_DRIVER_NOT_LOADED = 9
_NOT_SUPPORTED = 3
_NOT_FOUND = 6
_FUNCTION_NOT_FOUND = 13
_ARGUMENT_VERSION_MISMATCH = 25


@dataclass(frozen=True)
class NvmlProbe:
    """What the NVML probe read: the section (status, errors, versions) and the GPUs."""

    section: NvmlSection
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _describe(error: BaseException) -> str:
    code = getattr(error, "value", None)
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - pynvml's __str__ itself calls into the library
        message = "NVML error"
    return f"{message} (NVML error {code})" if code is not None else message


TELEMETRY = ("power draw", "power limit", "temperature", "utilization")  # optional readings: listed, not "partial"


class _Gateway:
    """Calls NVML; any exception of one call (an NVMLError, or one of the binding's own, such as a name cut
    mid-UTF-8 character by the driver) costs that value only: None and a reason line in ``errors``."""

    def __init__(self, nv: ModuleType) -> None:
        self.nv = nv
        self.last_code: int | None = None

    def call(self, errors: list[str] | None, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        self.last_code = None
        try:
            return fn(*args)
        except self.nv.NVMLError as exc:
            self.last_code = getattr(exc, "value", None)
            if errors is not None:
                errors.append(f"{what}: {_describe(exc)}")
            return None
        except Exception as exc:  # noqa: BLE001 - a fault of one call never costs the section
            self.last_code = -1
            if errors is not None:
                errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:120]}")
            return None


def probe_nvml(
    timeout_s: float = DEFAULT_TIMEOUT_S, environ: Mapping[str, str] | None = None
) -> NvmlProbe:
    """Read every NVIDIA GPU NVML can see.

    Args:
        timeout_s: Wall-clock limit in seconds for the whole probe; past it the section is unavailable.
        environ: Environment to read ``CUDA_VISIBLE_DEVICES`` / ``CUDA_DEVICE_ORDER`` from (default:
            ``os.environ``).

    Returns:
        An ``NvmlProbe``. Never raises for NVML or driver faults: they become ``errors`` lines.
    """
    env = dict(os.environ if environ is None else environ)
    result: list[NvmlProbe] = []

    def work() -> None:
        try:
            result.append(_probe(env))
        except Exception as exc:  # noqa: BLE001 - a probe never lets a backend fault escape
            result.append(_unavailable(f"NVML probe failed: {type(exc).__name__}: {exc}", env))

    worker = threading.Thread(target=work, name="advisor-nvml", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not result:
        return _unavailable(f"NVML did not answer within {timeout_s:g} s (hung driver call?)", env)
    return result[0]


def _unavailable(reason: str, env: Mapping[str, str]) -> NvmlProbe:
    return NvmlProbe(
        NvmlSection(
            status="unavailable",
            errors=[reason],
            cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"),
            cuda_device_order=_order(env),
        )
    )


def _order(env: Mapping[str, str]) -> Any:
    return "PCI_BUS_ID" if env.get("CUDA_DEVICE_ORDER", "").upper() == "PCI_BUS_ID" else "FASTEST_FIRST"


def _probe(env: Mapping[str, str]) -> NvmlProbe:
    try:
        import pynvml as nv
    except ImportError:
        return _unavailable("nvidia-ml-py (the pynvml module) is not installed", env)

    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        code = getattr(exc, "value", None)
        if code == _LIBRARY_NOT_FOUND:
            reason = "NVML library not found (libnvidia-ml): no NVIDIA driver installed"
        elif code == _DRIVER_NOT_LOADED:
            reason = "NVIDIA driver not loaded (NVML: Driver Not Loaded)"
        else:
            reason = f"NVML could not start: {_describe(exc)}"
        return _unavailable(reason, env)

    try:
        return _read_all(_Gateway(nv), env)
    finally:
        try:
            nv.nvmlShutdown()
        except nv.NVMLError:
            pass


def _read_all(gw: _Gateway, env: Mapping[str, str]) -> NvmlProbe:
    nv = gw.nv
    errors: list[str] = []
    driver = gw.call(errors, "driver version", nv.nvmlSystemGetDriverVersion)
    library = gw.call(None, "NVML version", nv.nvmlSystemGetNVMLVersion)
    cuda_fn = getattr(nv, "nvmlSystemGetCudaDriverVersion_v2", nv.nvmlSystemGetCudaDriverVersion)
    cuda_int = gw.call(errors, "CUDA driver version", cuda_fn)
    count = gw.call(errors, "device count", nv.nvmlDeviceGetCount)

    gpus = [_read_gpu(gw, i) for i in range(count or 0)]
    core_missing = any(
        g.uuid is None or g.compute_capability is None or (g.memory_total_bytes is None and not g.unified_memory)
        for g in gpus
    )

    visible, exact, visible_errors = resolve_cuda_visible(
        gpus, env.get("CUDA_VISIBLE_DEVICES"), _order(env)
    )
    errors.extend(visible_errors)
    cuda_index = {v.nvml_index: v.cuda_index for v in visible}
    gpus = [g.model_copy(update={"cuda_index": cuda_index.get(g.index)}) for g in gpus]

    status = "ok"
    gpu_faults = any(not e.startswith(TELEMETRY) for g in gpus for e in g.errors)
    if count is None:
        status = "unavailable"
    elif errors or core_missing or gpu_faults:
        status = "partial"
    section = NvmlSection(
        status=status,
        errors=errors + [f"GPU {g.index}: {e}" for g in gpus for e in g.errors],
        library_version=_text(library) if library is not None else None,
        driver_version=_text(driver) if driver is not None else None,
        cuda_driver_version=f"{cuda_int // 1000}.{cuda_int % 1000 // 10}" if cuda_int else None,
        device_count=count,
        cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"),
        cuda_device_order=_order(env),
        cuda_order_exact=exact,
        cuda_visible=visible,
    )
    return NvmlProbe(section, tuple(gpus))


def _read_memory(gw: _Gateway, handle: Any, errors: list[str]) -> dict[str, Any]:
    """Memory info v2 (excludes driver-reserved memory from "used"); v1 where the driver lacks v2."""
    nv = gw.nv
    info = None
    version = None
    if hasattr(nv, "nvmlMemory_v2"):
        info = gw.call(None, "memory info v2", nv.nvmlDeviceGetMemoryInfo, handle, nv.nvmlMemory_v2)
        version = "v2" if info is not None else None
    if info is None:
        info = gw.call(None, "memory info", nv.nvmlDeviceGetMemoryInfo, handle)
        version = "v1" if info is not None else None
        if info is None and gw.last_code not in (_NOT_SUPPORTED, None):
            errors.append(f"memory info: NVML error {gw.last_code}")
            return {}
    if info is None or not getattr(info, "total", 0):
        # GB10 / Jetson answer NotSupported or a total of 0: memory is system RAM.
        return {"unified_memory": True, "memory_info_version": "system-ram"}
    return {
        "memory_total_bytes": int(info.total),
        "memory_free_bytes": int(info.free),
        "memory_used_bytes": int(info.used),
        "memory_reserved_bytes": int(info.reserved) if version == "v2" else None,
        "memory_info_version": version,
    }


def _read_gpu(gw: _Gateway, index: int) -> Gpu:
    nv = gw.nv
    errors: list[str] = []
    handle = gw.call(errors, "handle", nv.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return Gpu(index=index, errors=errors)

    values: dict[str, Any] = {"index": index}
    name = gw.call(errors, "name", nv.nvmlDeviceGetName, handle)
    values["name"] = _text(name) if name is not None else None
    uuid = gw.call(errors, "UUID", nv.nvmlDeviceGetUUID, handle)
    values["uuid"] = _text(uuid) if uuid is not None else None
    pci = gw.call(errors, "PCI info", nv.nvmlDeviceGetPciInfo, handle)
    values["pci_bus_id"] = _text(pci.busId) if pci is not None else None
    values.update(_read_memory(gw, handle, errors))

    cap = gw.call(errors, "compute capability", nv.nvmlDeviceGetCudaComputeCapability, handle)
    if cap is not None:
        major, minor = int(cap[0]), int(cap[1])
        values["compute_capability"] = f"{major}.{minor}"
        values["abilities"] = abilities_for((major, minor))

    if values.get("unified_memory") and not known_unified(values.get("name"), values.get("compute_capability")):
        # a discrete GPU answering NotSupported or a total of 0 is broken or lying: not budgeted from system RAM
        errors.append("memory info reports no memory of its own, and this is not a unified-memory device")
        values.pop("unified_memory")
        values.pop("memory_info_version", None)
    values["mig"] = _read_mig(gw, handle, errors)
    values["processes"] = _read_processes(gw, handle, errors)

    telemetry: list[str] = []  # optional readings: listed, but not a reason for "partial"
    power = gw.call(telemetry, "power draw", nv.nvmlDeviceGetPowerUsage, handle)
    values["power_draw_watts"] = power / 1000 if power is not None else None
    limit = gw.call(telemetry, "power limit", nv.nvmlDeviceGetEnforcedPowerLimit, handle)
    values["power_limit_watts"] = limit / 1000 if limit is not None else None
    values["temperature_c"] = gw.call(
        telemetry, "temperature", nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU
    )
    util = gw.call(telemetry, "utilization", nv.nvmlDeviceGetUtilizationRates, handle)
    if util is not None:
        values["utilization_gpu_percent"] = int(util.gpu)
        values["utilization_memory_percent"] = int(util.memory)
    gpu = Gpu(**values, errors=errors + telemetry)
    impossible = gpu_problems(gpu)
    if impossible:
        # figures that cannot be true are reported, not passed on
        gpu = gpu.model_copy(update={"errors": [*gpu.errors, *impossible], "memory_total_bytes": None,
                                     "memory_free_bytes": None, "memory_used_bytes": None})
    return gpu


def _read_mig(gw: _Gateway, handle: Any, errors: list[str]) -> Mig:
    nv = gw.nv
    mode = gw.call(None, "MIG mode", nv.nvmlDeviceGetMigMode, handle)
    if mode is None:
        if gw.last_code not in (_NOT_SUPPORTED, _FUNCTION_NOT_FOUND):
            errors.append(f"MIG mode: NVML error {gw.last_code}")
        return Mig()
    current, pending = bool(mode[0]), bool(mode[1])
    if not current:
        return Mig(enabled=False, pending=pending)
    instances: list[MigInstance] = []
    slots = gw.call(errors, "MIG device count", nv.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
    for slot in range(slots):
        mig = gw.call(None, "MIG device", nv.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
        if mig is None:
            if gw.last_code != _NOT_FOUND:  # NotFound = an empty slot
                errors.append(f"MIG slot {slot}: NVML error {gw.last_code}")
            continue
        uuid = gw.call(errors, f"MIG {slot} UUID", nv.nvmlDeviceGetUUID, mig)
        name = gw.call(None, f"MIG {slot} name", nv.nvmlDeviceGetName, mig)
        mem = gw.call(errors, f"MIG {slot} memory", nv.nvmlDeviceGetMemoryInfo, mig)
        instances.append(
            MigInstance(
                index=slot,
                uuid=_text(uuid) if uuid is not None else None,
                name=_text(name) if name is not None else None,
                memory_total_bytes=int(mem.total) if mem is not None else None,
                memory_free_bytes=int(mem.free) if mem is not None else None,
                memory_used_bytes=int(mem.used) if mem is not None else None,
            )
        )
    return Mig(enabled=True, pending=pending, instances=instances)


def _read_processes(gw: _Gateway, handle: Any, errors: list[str]) -> list[GpuProcess] | None:
    nv = gw.nv
    found: dict[tuple[int, str], GpuProcess] = {}
    readable = False
    for kind, fn in (
        ("compute", nv.nvmlDeviceGetComputeRunningProcesses),
        ("graphics", nv.nvmlDeviceGetGraphicsRunningProcesses),
    ):
        procs = gw.call(errors, f"{kind} processes", fn, handle)
        if procs is None:
            continue
        readable = True
        for proc in procs:
            pid = int(proc.pid)
            used = getattr(proc, "usedGpuMemory", None)
            name = gw.call(None, "process name", nv.nvmlSystemGetProcessName, pid)
            found[(pid, kind)] = GpuProcess(
                pid=pid,
                name=_text(name) if name is not None else None,
                used_memory_bytes=int(used) if used is not None else None,
                kind=kind,
            )
    return list(found.values()) if readable else None
