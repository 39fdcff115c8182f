"""Other accelerators found by presence, on fake /dev and /sys trees."""

from __future__ import annotations

from pathlib import Path

from probes.accelerators import probe_accelerators


def touch(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nothing_here(tmp_path):
    section = probe_accelerators(tmp_path, {}, system="Linux", machine="x86_64")
    assert section.status == "ok" and section.devices == []


def test_tpu_needs_device_and_tpu_environment(tmp_path):
    touch(tmp_path, "dev/accel0")
    touch(tmp_path, "dev/accel1")
    assert probe_accelerators(tmp_path, {}, system="Linux", machine="x86_64").devices == []
    found = probe_accelerators(tmp_path, {"TPU_ACCELERATOR_TYPE": "v5litepod-8"}, system="Linux",
                               machine="x86_64").devices
    assert [(d.kind, d.name, d.path) for d in found] == [
        ("tpu", "Google TPU (v5litepod-8)", "/dev/accel0"), ("tpu", "Google TPU (v5litepod-8)", "/dev/accel1")]


def test_coral_and_intel_npu(tmp_path):
    touch(tmp_path, "dev/apex_0")
    driver = tmp_path / "sys/bus/pci/drivers/intel_vpu"
    driver.mkdir(parents=True)
    dev = tmp_path / "sys/class/accel/accel0/device"
    dev.mkdir(parents=True)
    (dev / "driver").symlink_to(driver)
    kinds = {d.kind: d for d in probe_accelerators(tmp_path, {}, system="Linux", machine="x86_64").devices}
    assert kinds["edge-tpu"].path == "/dev/apex_0"
    assert kinds["intel-npu"].path == "/dev/accel/accel0"


def test_apple_neural_engine():
    found = probe_accelerators(Path("/nonexistent"), {}, system="Darwin", machine="arm64").devices
    assert [d.kind for d in found] == ["apple-neural-engine"]


def test_amd_gpu_from_sysfs(tmp_path):
    touch(tmp_path, "sys/class/drm/card0/device/vendor", "0x1002\n")
    touch(tmp_path, "sys/class/drm/card0/device/device", "0x74a1\n")
    touch(tmp_path, "sys/class/drm/card0/device/mem_info_vram_total", "206141652992\n")
    touch(tmp_path, "sys/class/drm/card0/device/mem_info_vram_used", "1073741824\n")
    touch(tmp_path, "sys/class/drm/card0-DP-1/status", "connected")
    touch(tmp_path, "sys/class/drm/card1/device/vendor", "0x10de\n")  # NVIDIA: NVML's job
    touch(tmp_path, "sys/class/drm/card2/device/vendor", "0x1002\n")  # VRAM unreadable
    section = probe_accelerators(tmp_path, {}, system="Linux", machine="x86_64")
    amd = [d for d in section.devices if d.kind == "amd-gpu"]
    assert [(d.name, d.memory_total_bytes, d.memory_used_bytes) for d in amd] == [
        ("AMD GPU (device 0x74a1)", 206141652992, 1073741824), ("AMD GPU (device unknown)", None, None)]
    assert section.status == "partial" and "card2" in section.errors[0]
