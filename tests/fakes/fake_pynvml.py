"""A stand-in for the `pynvml` module of nvidia-ml-py, driven by a machine description.

It behaves like the real binding where our code can tell: the same function names and signatures,
NVML's numeric return codes, an ``NVMLError`` whose constructor maps a code to its per-code subclass
(``NVMLError_NotSupported``...), calls before ``nvmlInit`` failing with Uninitialized, memory info v1
counting driver-reserved memory as used while v2 reports it apart, processes whose memory NVML cannot
attribute coming back as ``usedGpuMemory = None``, empty MIG slots answering NotFound.
"""

from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

MIB = 1024**2
GIB = 1024**3

CODES = {
    "UNINITIALIZED": 1, "INVALID_ARGUMENT": 2, "NOT_SUPPORTED": 3, "NO_PERMISSION": 4,
    "ALREADY_INITIALIZED": 5, "NOT_FOUND": 6, "INSUFFICIENT_SIZE": 7, "INSUFFICIENT_POWER": 8,
    "DRIVER_NOT_LOADED": 9, "TIMEOUT": 10, "IRQ_ISSUE": 11, "LIBRARY_NOT_FOUND": 12,
    "FUNCTION_NOT_FOUND": 13, "CORRUPTED_INFOROM": 14, "GPU_IS_LOST": 15, "RESET_REQUIRED": 16,
    "OPERATING_SYSTEM": 17, "LIB_RM_VERSION_MISMATCH": 18, "IN_USE": 19, "MEMORY": 20, "NO_DATA": 21,
    "ARGUMENT_VERSION_MISMATCH": 25, "UNKNOWN": 999,
}
MESSAGES = {
    1: "Uninitialized", 2: "Invalid Argument", 3: "Not Supported", 4: "Insufficient Permissions",
    6: "Not Found", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found",
    13: "Function Not Found", 15: "GPU is lost", 999: "Unknown Error",
}


@dataclass
class FakeProcess:
    pid: int
    name: str | None  # None: nvmlSystemGetProcessName answers NotFound (another PID namespace)
    used_bytes: int | None  # None: NVML cannot attribute it (WDDM, MIG)
    kind: str = "compute"


@dataclass
class FakeMig:
    slot: int
    uuid: str
    name: str
    total: int
    used: int = 0


@dataclass
class FakeGpu:
    name: str
    uuid: str
    bus_id: str
    total: int | None  # None: memory info NotSupported (unified memory)
    capability: tuple[int, int]
    reserved: int = 0
    used: int = 0  # bytes held by processes / allocations, not counting reserved
    processes: list[FakeProcess] = field(default_factory=list)
    mig_mode: tuple[int, int] | None = (0, 0)  # None: MIG NotSupported
    mig: list[FakeMig] = field(default_factory=list)
    mig_slots: int = 7
    power_mw: int | None = 120_000
    power_limit_mw: int | None = 450_000
    temperature: int | None = 45
    utilization: tuple[int, int] | None = (3, 1)
    lost: bool = False
    fail: dict[str, int] = field(default_factory=dict)  # function name -> NVML code to raise
    zero_total: bool = False


@dataclass
class FakeMachine:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: int | None = None
    driver: str = "550.54.15"
    cuda: int = 12040
    has_v2: bool = True
    hang_s: float = 0.0  # nvmlInit sleeps this long (a hung driver)
    fail: dict[str, int] = field(default_factory=dict)  # system-level function -> code


def build(machine: FakeMachine) -> types.ModuleType:
    """A fresh module object that answers like pynvml on `machine`."""
    mod = types.ModuleType("pynvml")
    state = {"init": 0}
    lock = threading.Lock()

    class NVMLError(Exception):
        _by_code: dict[int, type] = {}

        def __new__(cls, value: int) -> NVMLError:
            if cls is NVMLError:
                cls = NVMLError._by_code.get(value, cls)
            obj = Exception.__new__(cls)
            obj.value = value
            return obj

        def __init__(self, value: int) -> None:
            super().__init__(value)

        def __str__(self) -> str:
            return MESSAGES.get(self.value, f"NVML Error with code {self.value}")

    mod.NVMLError = NVMLError
    for name, code in CODES.items():
        setattr(mod, f"NVML_ERROR_{name}", code)
        cls_name = "NVMLError_" + "".join(part.capitalize() for part in name.split("_"))

        def make_new(code: int = code) -> Any:
            def __new__(cls: type, *args: Any) -> Any:
                return NVMLError.__new__(cls, code)

            return __new__

        sub = type(cls_name, (NVMLError,), {"__new__": make_new(), "__init__": lambda self, *a: None})
        NVMLError._by_code[code] = sub
        setattr(mod, cls_name, sub)
    mod.NVML_TEMPERATURE_GPU = 0
    if machine.has_v2:
        mod.nvmlMemory_v2 = 0x02000028

    def check(fn: str, gpu: FakeGpu | None = None) -> None:
        if state["init"] <= 0:
            raise NVMLError(CODES["UNINITIALIZED"])
        if gpu is not None:
            if gpu.lost:
                raise NVMLError(CODES["GPU_IS_LOST"])
            if fn in gpu.fail:
                raise NVMLError(gpu.fail[fn])
        elif fn in machine.fail:
            raise NVMLError(machine.fail[fn])

    class Handle:
        def __init__(self, gpu: FakeGpu, mig: FakeMig | None = None) -> None:
            self.gpu, self.mig = gpu, mig

    def nvmlInit() -> None:
        if machine.hang_s:
            time.sleep(machine.hang_s)
        if machine.init_error is not None:
            raise NVMLError(machine.init_error)
        with lock:
            state["init"] += 1

    def nvmlShutdown() -> None:
        check("nvmlShutdown")
        with lock:
            state["init"] -= 1

    def nvmlSystemGetDriverVersion() -> str:
        check("nvmlSystemGetDriverVersion")
        return machine.driver

    def nvmlSystemGetNVMLVersion() -> str:
        check("nvmlSystemGetNVMLVersion")
        return "12." + machine.driver

    def nvmlSystemGetCudaDriverVersion() -> int:
        check("nvmlSystemGetCudaDriverVersion")
        return machine.cuda

    def nvmlSystemGetCudaDriverVersion_v2() -> int:
        check("nvmlSystemGetCudaDriverVersion_v2")
        return machine.cuda

    def nvmlDeviceGetCount() -> int:
        check("nvmlDeviceGetCount")
        return len(machine.gpus)

    def nvmlDeviceGetHandleByIndex(index: int) -> Handle:
        check("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(machine.gpus):
            raise NVMLError(CODES["INVALID_ARGUMENT"])
        gpu = machine.gpus[index]
        if gpu.lost:
            raise NVMLError(CODES["GPU_IS_LOST"])
        return Handle(gpu)

    def nvmlDeviceGetName(h: Handle) -> str:
        check("nvmlDeviceGetName", h.gpu)
        return h.mig.name if h.mig else h.gpu.name

    def nvmlDeviceGetUUID(h: Handle) -> str:
        check("nvmlDeviceGetUUID", h.gpu)
        return h.mig.uuid if h.mig else h.gpu.uuid

    def nvmlDeviceGetPciInfo(h: Handle) -> Any:
        check("nvmlDeviceGetPciInfo", h.gpu)
        return types.SimpleNamespace(busId=h.gpu.bus_id.encode(), busIdLegacy=h.gpu.bus_id.encode())

    def nvmlDeviceGetMemoryInfo(h: Handle, version: int | None = None) -> Any:
        check("nvmlDeviceGetMemoryInfo", h.gpu)
        if version and "nvmlDeviceGetMemoryInfo_v2" in h.gpu.fail:
            raise NVMLError(h.gpu.fail["nvmlDeviceGetMemoryInfo_v2"])
        if version and not machine.has_v2:
            raise NVMLError(CODES["FUNCTION_NOT_FOUND"])
        if h.mig is not None:
            return types.SimpleNamespace(total=h.mig.total, free=h.mig.total - h.mig.used, used=h.mig.used)
        gpu = h.gpu
        if gpu.total is None:
            raise NVMLError(CODES["NOT_SUPPORTED"])
        if gpu.zero_total:
            return types.SimpleNamespace(total=0, free=0, used=0, reserved=0, version=version)
        free = gpu.total - gpu.reserved - gpu.used
        if version:
            return types.SimpleNamespace(version=version, total=gpu.total, reserved=gpu.reserved, free=free,
                                         used=gpu.used)
        return types.SimpleNamespace(total=gpu.total, free=free, used=gpu.used + gpu.reserved)

    def nvmlDeviceGetCudaComputeCapability(h: Handle) -> tuple[int, int]:
        check("nvmlDeviceGetCudaComputeCapability", h.gpu)
        return h.gpu.capability

    def nvmlDeviceGetMigMode(h: Handle) -> list[int]:
        check("nvmlDeviceGetMigMode", h.gpu)
        if h.gpu.mig_mode is None:
            raise NVMLError(CODES["NOT_SUPPORTED"])
        return list(h.gpu.mig_mode)

    def nvmlDeviceGetMaxMigDeviceCount(h: Handle) -> int:
        check("nvmlDeviceGetMaxMigDeviceCount", h.gpu)
        return h.gpu.mig_slots

    def nvmlDeviceGetMigDeviceHandleByIndex(h: Handle, index: int) -> Handle:
        check("nvmlDeviceGetMigDeviceHandleByIndex", h.gpu)
        for m in h.gpu.mig:
            if m.slot == index:
                return Handle(h.gpu, m)
        raise NVMLError(CODES["NOT_FOUND"])

    def _procs(h: Handle, kind: str, fn: str) -> list[Any]:
        check(fn, h.gpu)
        return [types.SimpleNamespace(pid=p.pid, usedGpuMemory=p.used_bytes, gpuInstanceId=0xFFFFFFFF,
                                      computeInstanceId=0xFFFFFFFF)
                for p in h.gpu.processes if p.kind == kind]

    def nvmlDeviceGetComputeRunningProcesses(h: Handle) -> list[Any]:
        return _procs(h, "compute", "nvmlDeviceGetComputeRunningProcesses")

    def nvmlDeviceGetGraphicsRunningProcesses(h: Handle) -> list[Any]:
        return _procs(h, "graphics", "nvmlDeviceGetGraphicsRunningProcesses")

    def nvmlSystemGetProcessName(pid: int) -> str:
        check("nvmlSystemGetProcessName")
        for gpu in machine.gpus:
            for p in gpu.processes:
                if p.pid == pid:
                    if p.name is None:
                        raise NVMLError(CODES["NOT_FOUND"])
                    return p.name
        raise NVMLError(CODES["NOT_FOUND"])

    def _optional(h: Handle, fn: str, value: Any) -> Any:
        check(fn, h.gpu)
        if value is None:
            raise NVMLError(CODES["NOT_SUPPORTED"])
        return value

    def nvmlDeviceGetPowerUsage(h: Handle) -> int:
        return _optional(h, "nvmlDeviceGetPowerUsage", h.gpu.power_mw)

    def nvmlDeviceGetEnforcedPowerLimit(h: Handle) -> int:
        return _optional(h, "nvmlDeviceGetEnforcedPowerLimit", h.gpu.power_limit_mw)

    def nvmlDeviceGetTemperature(h: Handle, sensor: int) -> int:
        return _optional(h, "nvmlDeviceGetTemperature", h.gpu.temperature)

    def nvmlDeviceGetUtilizationRates(h: Handle) -> Any:
        util = _optional(h, "nvmlDeviceGetUtilizationRates", h.gpu.utilization)
        return types.SimpleNamespace(gpu=util[0], memory=util[1])

    for fn in list(locals().values()):
        if callable(fn) and getattr(fn, "__name__", "").startswith("nvml"):
            setattr(mod, fn.__name__, fn)
    mod.init_count = lambda: state["init"]
    return mod


# --- the simulated machines -------------------------------------------------------------------------

def rtx_4090() -> FakeMachine:
    # 24564 MiB as NVML reports an RTX 4090; 8.9 = Ada.
    return FakeMachine([FakeGpu("NVIDIA GeForce RTX 4090", "GPU-4090aaaa-0000-0000-0000-000000000001",
                                "00000000:01:00.0", 24564 * MIB, (8, 9), reserved=400 * MIB, used=1024 * MIB,
                                processes=[FakeProcess(1234, "Xorg", 300 * MIB, "graphics")])])


def two_h100_busy() -> FakeMachine:
    # 81559 MiB = H100 80GB HBM3 as NVML reports it. Another process holds 30 GiB on GPU 1.
    def h100(n: int, used: int, procs: list[FakeProcess]) -> FakeGpu:
        return FakeGpu("NVIDIA H100 80GB HBM3", f"GPU-h100000{n}-aaaa-bbbb-cccc-dddddddddddd",
                       f"00000000:{0x18 + n:02X}:00.0", 81559 * MIB, (9, 0), reserved=512 * MIB, used=used,
                       processes=procs, power_limit_mw=700_000)
    return FakeMachine([
        h100(0, 0, []),
        h100(1, 30 * GIB, [FakeProcess(4242, "python3", 30 * GIB)]),
    ])


def t4() -> FakeMachine:
    return FakeMachine([FakeGpu("Tesla T4", "GPU-t4000000-0000-0000-0000-000000000000", "00000000:00:1E.0",
                                15360 * MIB, (7, 5), reserved=250 * MIB, power_limit_mw=70_000)])


def v100() -> FakeMachine:
    return FakeMachine([FakeGpu("Tesla V100-SXM2-16GB", "GPU-v1000000-0000-0000-0000-000000000000",
                                "00000000:00:1E.0", 16384 * MIB, (7, 0), reserved=300 * MIB, mig_mode=None)])


def a100_mig() -> FakeMachine:
    # A100 40GB in MIG mode with two 3g.20gb instances; other slots empty (NotFound).
    gpu = FakeGpu("NVIDIA A100-SXM4-40GB", "GPU-a1000000-0000-0000-0000-000000000000", "00000000:07:00.0",
                  40960 * MIB, (8, 0), reserved=600 * MIB, mig_mode=(1, 1),
                  mig=[FakeMig(0, "MIG-11111111-2222-3333-4444-555555555555", "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
                               19968 * MIB, 13 * MIB),
                       FakeMig(1, "MIG-66666666-7777-8888-9999-000000000000", "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
                               19968 * MIB, 4 * GIB)],
                  processes=[FakeProcess(777, "trainer", None)])
    return FakeMachine([gpu])


def gb10() -> FakeMachine:
    # DGX Spark's GB10: memory info answers NotSupported; compute capability 12.1.
    return FakeMachine([FakeGpu("NVIDIA GB10", "GPU-gb100000-0000-0000-0000-000000000000", "0000000F:01:00.0",
                                None, (12, 1), mig_mode=None, power_mw=None, utilization=None)])


def lost_gpu() -> FakeMachine:
    machine = two_h100_busy()
    machine.gpus[1].lost = True
    return machine
