"""Accelerators other than NVIDIA GPUs, detected by presence (device nodes, sysfs, environment).

The vision workload plans for the NPUs and Edge TPUs found here (rules/workloads/vision.py); AMD GPUs are planned
for as GPUs (rules/devices.py: ROCm).
"""

from __future__ import annotations

import importlib.util
import platform
from collections.abc import Mapping
from pathlib import Path

from probes.schema import AcceleratorsSection, OtherAccelerator

_TPU_ENV = ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID", "TPU_SKIP_MDS_QUERY", "TPU_CHIPS_PER_HOST_BOUNDS")
_AMD_VENDOR = "0x1002"
# Coral USB Accelerator: 1a6e:089a before libedgetpu loads its firmware, 18d1:9302 after (libedgetpu's udev rules)
_CORAL_USB = {("1a6e", "089a"), ("18d1", "9302")}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def probe_accelerators(
    root: Path = Path("/"), environ: Mapping[str, str] | None = None, system: str | None = None,
    machine: str | None = None,
) -> AcceleratorsSection:
    """Find TPUs, Coral Edge TPUs, Intel NPUs, Intel Gaudi, the Apple Neural Engine and AMD GPUs.

    Args:
        root: Filesystem root for /dev and /sys (tests use a temporary tree).
        environ: Environment (TPU variables); default ``os.environ``.
        system: ``platform.system()`` override for tests.
        machine: ``platform.machine()`` override for tests.
    """
    import os

    env = os.environ if environ is None else environ
    system = system or platform.system()
    machine = machine or platform.machine()
    found: list[OtherAccelerator] = []
    errors: list[str] = []

    npu_nodes: set[str] = set()
    accel_class = root / "sys" / "class" / "accel"
    if accel_class.is_dir():
        for node in sorted(accel_class.iterdir()):
            try:
                driver = (node / "device" / "driver").resolve().name
            except OSError:
                driver = ""
            if driver == "intel_vpu":
                npu_nodes.add(node.name)
                found.append(OtherAccelerator(kind="intel-npu", name="Intel NPU", path=f"/dev/accel/{node.name}"))
            elif driver == "habanalabs":  # Intel Gaudi: its memory is hl-smi's to read, not sysfs'
                npu_nodes.add(node.name)
                found.append(OtherAccelerator(kind="gaudi", name="Intel Gaudi", path=f"/dev/accel/{node.name}"))
                errors.append(f"Intel Gaudi {node.name}: its memory is not read (advisor reads no hl-smi)")

    dev = root / "dev"
    tpu_hint = any(env.get(k) for k in _TPU_ENV) or importlib.util.find_spec("libtpu") is not None
    if tpu_hint and dev.is_dir():
        for node in sorted(dev.glob("accel*")):
            if node.is_dir() or node.name in npu_nodes:
                continue
            kind = env.get("TPU_ACCELERATOR_TYPE") or "TPU"
            found.append(OtherAccelerator(kind="tpu", name=f"Google TPU ({kind})", path=f"/dev/{node.name}"))
    if dev.is_dir():
        for node in sorted(dev.glob("apex_*")):
            found.append(OtherAccelerator(kind="edge-tpu", name="Coral Edge TPU (PCIe)", path=f"/dev/{node.name}"))
        for node in sorted(dev.glob("hailo[0-9]*")):  # HailoRT's PCIe driver (hailo_pci) creates /dev/hailoN
            found.append(OtherAccelerator(kind="hailo", name="Hailo (PCIe)", path=f"/dev/{node.name}"))
    usb = root / "sys" / "bus" / "usb" / "devices"
    if usb.is_dir():
        for node in sorted(usb.iterdir()):
            ids = (_read(node / "idVendor"), _read(node / "idProduct"))
            if ids in _CORAL_USB:
                found.append(OtherAccelerator(kind="edge-tpu", name="Coral Edge TPU (USB)",
                                              path=f"/sys/bus/usb/devices/{node.name}"))

    if system == "Darwin" and machine == "arm64":
        found.append(OtherAccelerator(kind="apple-neural-engine", name="Apple Neural Engine"))

    drm = root / "sys" / "class" / "drm"
    if drm.is_dir():
        for card in sorted(drm.glob("card[0-9]*")):
            if "-" in card.name or _read(card / "device" / "vendor") != _AMD_VENDOR:
                continue
            total = _read(card / "device" / "mem_info_vram_total")
            used = _read(card / "device" / "mem_info_vram_used")
            product = _read(card / "device" / "product_name")
            device_id = _read(card / "device" / "device") or "unknown"
            if total is None:
                errors.append(f"AMD GPU {card.name}: VRAM size unreadable (mem_info_vram_total)")
            found.append(OtherAccelerator(
                kind="amd-gpu",
                name=product or f"AMD GPU (device {device_id})",
                path=f"/sys/class/drm/{card.name}",
                memory_total_bytes=int(total) if total and total.isdigit() else None,
                memory_used_bytes=int(used) if used and used.isdigit() else None,
            ))
    return AcceleratorsSection(status="partial" if errors else "ok", errors=errors, devices=found)
