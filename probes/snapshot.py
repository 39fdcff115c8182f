"""Assemble one Snapshot from every probe."""

from __future__ import annotations

import os
import platform
import socket
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from probes.accelerators import probe_accelerators
from probes.nvml import DEFAULT_TIMEOUT_S, probe_nvml
from probes.schema import Gpu, Host, MemorySection, Snapshot, Tool, TorchSection
from probes.system import probe_system
from probes.torch_probe import probe_torch


def take_snapshot(
    tool_version: str,
    *,
    with_torch: bool = True,
    nvml_timeout_s: float = DEFAULT_TIMEOUT_S,
    root: Path = Path("/"),
    environ: Mapping[str, str] | None = None,
    refresh: bool = False,
) -> Snapshot:
    """Probe this machine.

    Args:
        tool_version: The advisor version to record.
        with_torch: Also ask torch (in a child process); skipped sections say so.
        nvml_timeout_s: Time limit in seconds for the NVML probe.
        root: Filesystem root for /proc and /sys reads (tests).
        environ: Environment to read (default ``os.environ``).
        refresh: Ask torch even when its cached answers still hold.
    """
    env = dict(os.environ if environ is None else environ)
    nvml = probe_nvml(nvml_timeout_s, env)
    torch_result: list[TorchSection] = []
    worker = None
    if with_torch:
        # torch's answers are cached per (torch build, driver, GPUs): it is asked again only when one changes
        key = (env, nvml.section.driver_version, [g.uuid for g in nvml.gpus], refresh)
        worker = threading.Thread(target=lambda: torch_result.append(probe_torch(cache=key)), daemon=True)
        worker.start()
    system = probe_system(root, env)
    accelerators = probe_accelerators(root, env)
    if worker is not None:
        worker.join()
    torch = torch_result[0] if torch_result else TorchSection(
        status="unavailable", errors=["torch probe skipped (--no-torch)"]
    )
    return Snapshot(
        tool=Tool(version=tool_version),
        taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        host=Host(
            hostname=socket.gethostname(),
            os=platform.system(),
            os_release=platform.release() or None,
            python=platform.python_version(),
        ),
        gpus=[_budget_unified(g, system.memory) for g in nvml.gpus],
        nvml=nvml.section,
        memory=system.memory,
        cpu=system.cpu,
        disk=system.disk,
        torch=torch,
        accelerators=accelerators,
    )


def _budget_unified(gpu: Gpu, memory: MemorySection) -> Gpu:
    """A unified-memory GPU (GB10, Jetson) shares system RAM: its budget is what RAM has free."""
    if not gpu.unified_memory:
        return gpu
    return gpu.model_copy(update={
        "memory_total_bytes": memory.total_bytes,
        "memory_free_bytes": memory.effective_available_bytes,
        "memory_used_bytes": None,
        "memory_info_version": "system-ram",
    })
