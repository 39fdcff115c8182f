"""CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER translated to NVML devices."""

from __future__ import annotations

from probes.cuda_visible import resolve_cuda_visible
from probes.nvml import probe_nvml
from probes.schema import Gpu, Mig, MigInstance

GIB = 1024**3


def gpu(index: int, name: str, cc: str, total: int, uuid: str | None = None, migs: tuple[str, ...] = ()) -> Gpu:
    return Gpu(index=index, name=name, compute_capability=cc, memory_total_bytes=total,
               uuid=uuid or f"GPU-{index}{index}{index}-uuid",
               mig=Mig(enabled=bool(migs), instances=[MigInstance(index=i, uuid=m) for i, m in enumerate(migs)]))


# NVML (PCI) order: a slower T4 first, a faster L4 second.
MIXED = [gpu(0, "Tesla T4", "7.5", 15 * GIB), gpu(1, "NVIDIA L4", "8.9", 22 * GIB)]


def nvml_indices(devices):
    return [d.nvml_index for d in devices]


def test_unset_fastest_first_puts_the_faster_gpu_first_and_says_it_guessed():
    devices, exact, errors = resolve_cuda_visible(MIXED, None, "FASTEST_FIRST")
    assert nvml_indices(devices) == [1, 0]
    assert [d.cuda_index for d in devices] == [0, 1]
    assert exact is False and errors == []


def test_pci_bus_id_order_is_nvml_order():
    devices, exact, _ = resolve_cuda_visible(MIXED, None, "PCI_BUS_ID")
    assert nvml_indices(devices) == [0, 1] and exact


def test_indices_follow_cuda_order():
    devices, _, _ = resolve_cuda_visible(MIXED, "1", "PCI_BUS_ID")
    assert nvml_indices(devices) == [1]
    devices, _, _ = resolve_cuda_visible(MIXED, "1", "FASTEST_FIRST")
    assert nvml_indices(devices) == [0]  # CUDA index 1 under fastest-first is the T4


def test_uuid_prefix_and_reordering():
    devices, exact, errors = resolve_cuda_visible(MIXED, "GPU-111,GPU-000", "FASTEST_FIRST")
    assert nvml_indices(devices) == [1, 0] and exact and errors == []


def test_mig_uuid():
    gpus = [gpu(0, "A100", "8.0", 40 * GIB, migs=("MIG-aaaa-1", "MIG-bbbb-2"))]
    devices, _, errors = resolve_cuda_visible(gpus, "MIG-bbbb", "FASTEST_FIRST")
    assert errors == []
    assert devices[0].nvml_index == 0 and devices[0].mig_uuid == "MIG-bbbb-2"


def test_invalid_entry_stops_the_list_like_cuda():
    devices, _, errors = resolve_cuda_visible(MIXED, "0,7,1", "PCI_BUS_ID")
    assert nvml_indices(devices) == [0]
    assert errors == ["CUDA_VISIBLE_DEVICES entry '7': there is no device 7 (this machine has 2); "
                      "CUDA ignores it and what follows (7, 1)"]


def test_minus_one_hides_everything():
    devices, _, errors = resolve_cuda_visible(MIXED, "-1", "PCI_BUS_ID")
    assert devices == [] and len(errors) == 1


def test_empty_hides_everything_without_complaint():
    devices, _, errors = resolve_cuda_visible(MIXED, "", "PCI_BUS_ID")
    assert devices == [] and errors == []


def test_duplicates_and_ambiguous_prefixes():
    devices, _, errors = resolve_cuda_visible(MIXED, "0,0", "PCI_BUS_ID")
    assert nvml_indices(devices) == [0] and "repeats" in errors[0]
    devices, _, errors = resolve_cuda_visible(MIXED, "GPU-", "PCI_BUS_ID")
    assert devices == [] and "ambiguous" in errors[0]


def test_probe_marks_hidden_gpus(install_nvml):
    from tests.fakes import fake_pynvml as fk

    install_nvml(fk.two_h100_busy())
    res = probe_nvml(environ={"CUDA_VISIBLE_DEVICES": "GPU-h1000001", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    g0, g1 = res.gpus
    assert g0.cuda_index is None and g1.cuda_index == 0
    assert res.section.cuda_visible_devices == "GPU-h1000001"
    assert res.section.cuda_device_order == "PCI_BUS_ID"
