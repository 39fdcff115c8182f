"""The NVML probe on simulated machines: values asserted, faults become reasons."""

from __future__ import annotations

import sys

import pytest

from probes.nvml import probe_nvml
from tests.fakes import fake_pynvml as fk
from tests.fakes.fake_pynvml import GIB, MIB


def test_fake_errors_behave_like_pynvml(install_nvml):
    nv = install_nvml(fk.FakeMachine())
    err = nv.NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
    assert type(err) is nv.NVMLError_NotSupported and err.value == 3
    assert isinstance(nv.NVMLError_GpuIsLost(), nv.NVMLError) and nv.NVMLError_GpuIsLost().value == 15
    with pytest.raises(nv.NVMLError_Uninitialized):
        nv.nvmlDeviceGetCount()


def test_library_not_found(install_nvml):
    install_nvml(fk.FakeMachine(init_error=fk.CODES["LIBRARY_NOT_FOUND"]))
    res = probe_nvml(environ={})
    assert res.section.status == "unavailable"
    assert res.gpus == ()
    assert res.section.errors == ["NVML library not found (libnvidia-ml): no NVIDIA driver installed"]


def test_driver_not_loaded(install_nvml):
    install_nvml(fk.FakeMachine(init_error=fk.CODES["DRIVER_NOT_LOADED"]))
    res = probe_nvml(environ={})
    assert res.section.status == "unavailable"
    assert "driver not loaded" in res.section.errors[0]


def test_pynvml_module_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if nvidia-ml-py were absent
    res = probe_nvml(environ={})
    assert res.section.status == "unavailable"
    assert "nvidia-ml-py" in res.section.errors[0]


def test_driver_present_but_no_gpu(install_nvml):
    nv = install_nvml(fk.FakeMachine([]))
    res = probe_nvml(environ={})
    assert res.section.status == "ok"
    assert res.section.device_count == 0 and res.gpus == ()
    assert res.section.driver_version == "550.54.15" and res.section.cuda_driver_version == "12.4"
    assert nv.init_count() == 0  # shut down again


def test_rtx_4090(install_nvml):
    install_nvml(fk.rtx_4090())
    res = probe_nvml(environ={})
    assert res.section.status == "ok", res.section.errors
    (gpu,) = res.gpus
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.uuid == "GPU-4090aaaa-0000-0000-0000-000000000001"
    assert gpu.pci_bus_id == "00000000:01:00.0"
    assert gpu.memory_info_version == "v2"
    assert gpu.memory_total_bytes == 24564 * MIB
    assert gpu.memory_reserved_bytes == 400 * MIB
    assert gpu.memory_used_bytes == 1024 * MIB  # v2: reserved is not counted as used
    assert gpu.memory_free_bytes == (24564 - 400 - 1024) * MIB
    assert gpu.compute_capability == "8.9"
    assert gpu.abilities is not None
    assert (gpu.abilities.bf16, gpu.abilities.fp8, gpu.abilities.fp4) == (True, True, False)
    assert gpu.mig.enabled is False
    assert gpu.processes is not None and gpu.processes[0].name == "Xorg"
    assert gpu.processes[0].kind == "graphics" and gpu.processes[0].used_memory_bytes == 300 * MIB
    assert (gpu.power_draw_watts, gpu.power_limit_watts, gpu.temperature_c) == (120.0, 450.0, 45)
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (3, 1)
    assert gpu.cuda_index == 0


def test_v1_fallback_counts_reserved_as_used(install_nvml):
    machine = fk.rtx_4090()
    machine.has_v2 = False
    install_nvml(machine)
    (gpu,) = probe_nvml(environ={}).gpus
    assert gpu.memory_info_version == "v1"
    assert gpu.memory_used_bytes == (1024 + 400) * MIB
    assert gpu.memory_reserved_bytes is None
    assert gpu.memory_free_bytes == (24564 - 400 - 1024) * MIB


def test_two_h100_with_another_process(install_nvml):
    install_nvml(fk.two_h100_busy())
    res = probe_nvml(environ={})
    g0, g1 = res.gpus
    assert g0.memory_free_bytes == 81559 * MIB - 512 * MIB
    assert g1.memory_free_bytes == 81559 * MIB - 512 * MIB - 30 * GIB  # per GPU, never pooled
    assert g1.processes is not None
    (proc,) = g1.processes
    assert (proc.pid, proc.name, proc.used_memory_bytes) == (4242, "python3", 30 * GIB)
    assert g0.abilities is not None and g0.abilities.fp8 and not g0.abilities.fp4
    assert [v.nvml_index for v in res.section.cuda_visible] == [0, 1]
    assert res.section.cuda_order_exact  # identical GPUs: fastest-first is PCI order


def test_t4_and_v100_abilities(install_nvml):
    install_nvml(fk.t4())
    (t4,) = probe_nvml(environ={}).gpus
    assert t4.compute_capability == "7.5"
    assert t4.abilities is not None
    assert not t4.abilities.bf16 and t4.abilities.int8_tensor_cores and t4.abilities.fp16
    install_nvml(fk.v100())
    (v100,) = probe_nvml(environ={}).gpus
    assert v100.compute_capability == "7.0" and v100.abilities is not None
    assert not v100.abilities.bf16 and not v100.abilities.int8_tensor_cores
    assert v100.mig.enabled is None  # MIG not supported: unknown, not False


def test_a100_mig(install_nvml):
    install_nvml(fk.a100_mig())
    res = probe_nvml(environ={})
    (gpu,) = res.gpus
    assert gpu.mig.enabled is True
    assert [i.index for i in gpu.mig.instances] == [0, 1]
    assert gpu.mig.instances[1].memory_total_bytes == 19968 * MIB
    assert gpu.mig.instances[1].memory_free_bytes == 19968 * MIB - 4 * GIB
    assert gpu.mig.instances[0].uuid == "MIG-11111111-2222-3333-4444-555555555555"
    assert gpu.processes is not None
    assert gpu.processes[0].used_memory_bytes is None  # "unknown", not a huge number
    assert res.section.status == "ok"


def test_gb10_unified_memory(install_nvml):
    install_nvml(fk.gb10())
    res = probe_nvml(environ={})
    (gpu,) = res.gpus
    assert gpu.unified_memory is True
    assert gpu.memory_total_bytes is None and gpu.memory_info_version == "system-ram"
    assert gpu.compute_capability == "12.1"
    assert gpu.abilities is not None and gpu.abilities.fp4
    assert res.section.status == "ok"  # NotSupported memory on unified GPUs is expected
    assert any("power draw" in e for e in gpu.errors)  # telemetry gaps listed


def test_zero_total_is_unified(install_nvml):
    machine = fk.gb10()
    machine.gpus[0].total = 128 * GIB
    machine.gpus[0].zero_total = True
    install_nvml(machine)
    (gpu,) = probe_nvml(environ={}).gpus
    assert gpu.unified_memory is True


def test_lost_gpu_keeps_the_others(install_nvml):
    install_nvml(fk.lost_gpu())
    res = probe_nvml(environ={})
    g0, g1 = res.gpus
    assert g0.memory_total_bytes == 81559 * MIB
    assert g1.name is None and g1.memory_total_bytes is None
    assert g1.errors == ["handle: GPU is lost (NVML error 15)"]
    assert res.section.status == "partial"
    assert "GPU 1: handle: GPU is lost (NVML error 15)" in res.section.errors


@pytest.mark.parametrize(
    ("fn", "code", "check"),
    [
        ("nvmlDeviceGetComputeRunningProcesses", "NO_PERMISSION", lambda g: g.processes is not None),
        ("nvmlDeviceGetCudaComputeCapability", "UNKNOWN", lambda g: g.compute_capability is None),
        ("nvmlDeviceGetPowerUsage", "NOT_SUPPORTED", lambda g: g.power_draw_watts is None),
        ("nvmlDeviceGetUUID", "NO_PERMISSION", lambda g: g.uuid is None),
        ("nvmlDeviceGetMemoryInfo", "UNKNOWN", lambda g: g.memory_total_bytes is None and not g.unified_memory),
    ],
)
def test_single_call_failures(install_nvml, fn, code, check):
    machine = fk.rtx_4090()
    machine.gpus[0].fail[fn] = fk.CODES[code]
    install_nvml(machine)
    res = probe_nvml(environ={})
    (gpu,) = res.gpus
    assert check(gpu)
    assert any(str(fk.CODES[code]) in e for e in gpu.errors), gpu.errors
    assert gpu.name == "NVIDIA GeForce RTX 4090"  # the rest still read


def test_processes_unreadable_is_unknown(install_nvml):
    machine = fk.rtx_4090()
    machine.gpus[0].fail["nvmlDeviceGetComputeRunningProcesses"] = fk.CODES["NO_PERMISSION"]
    machine.gpus[0].fail["nvmlDeviceGetGraphicsRunningProcesses"] = fk.CODES["NO_PERMISSION"]
    install_nvml(machine)
    (gpu,) = probe_nvml(environ={}).gpus
    assert gpu.processes is None


def test_hung_driver_is_time_bounded(install_nvml):
    install_nvml(fk.FakeMachine(hang_s=5.0))
    res = probe_nvml(timeout_s=0.2, environ={})
    assert res.section.status == "unavailable"
    assert res.section.errors == ["NVML did not answer within 0.2 s (hung driver call?)"]


def test_device_count_failure(install_nvml):
    machine = fk.rtx_4090()
    machine.fail["nvmlDeviceGetCount"] = fk.CODES["UNKNOWN"]
    install_nvml(machine)
    res = probe_nvml(environ={})
    assert res.section.status == "unavailable"
    assert res.section.errors == ["device count: Unknown Error (NVML error 999)"]


def test_a_name_cut_mid_utf8_costs_that_gpu_its_name_only(install_nvml):
    # the driver hands back a name cut inside a multi-byte character: the binding's decode fails with a
    # UnicodeDecodeError, which is not an NVMLError; it must cost that value, not the section or the other GPUs
    nv = install_nvml(fk.two_h100_busy())
    real_name = nv.nvmlDeviceGetName

    def cut_name(handle):
        if real_name(handle) and handle.gpu.uuid.startswith("GPU-h1000001"):
            raise UnicodeDecodeError("utf-8", b"NVIDIA H100 \xe2\x80", 12, 14, "unexpected end of data")
        return real_name(handle)

    nv.nvmlDeviceGetName = cut_name
    res = probe_nvml(environ={})
    assert len(res.gpus) == 2 and res.gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert res.gpus[1].name is None and res.gpus[1].memory_total_bytes == 81559 * MIB
    assert res.section.status == "partial"
    assert any("UnicodeDecodeError" in e for e in res.section.errors)


def test_a_mig_slot_error_makes_the_section_partial(install_nvml):
    machine = fk.a100_mig()
    machine.gpus[0].fail["nvmlDeviceGetMigDeviceHandleByIndex"] = fk.CODES["UNKNOWN"]
    install_nvml(machine)
    res = probe_nvml(environ={})
    assert res.section.status == "partial"
    assert any("MIG slot" in e for e in res.section.errors)


def test_a_discrete_gpu_reporting_no_memory_is_not_unified(install_nvml):
    machine = fk.two_h100_busy()
    machine.gpus[0].zero_total = True
    install_nvml(machine)
    res = probe_nvml(environ={})
    g0 = res.gpus[0]
    assert g0.unified_memory is False and g0.memory_total_bytes is None
    assert res.section.status == "partial" and any("not a unified-memory device" in e for e in g0.errors)
