"""Realistic fleets of snapshots, as JSON documents: for report tests and benchmarks/bench_report.py.

Host kinds are real machine types (GPU names, memory, compute capability and drivers as NVML reports them).
Idle GPUs show the same free memory per kind, as real idle GPUs do; a share of GPU hosts run a job holding one
of a few common model sizes; RAM available varies continuously; a few probes are partial.
"""

from __future__ import annotations

import random
from typing import Any

from probes.abilities import abilities_for, parse_capability

GIB = 1024**3
MIB = 1024**2

# (kind, GPU name, count, NVML total MiB, cc, RAM GiB, weight in the fleet)
KINDS = [
    ("dgx-h100", "NVIDIA H100 80GB HBM3", 8, 81559, "9.0", 2048, 10),
    ("hgx-a100", "NVIDIA A100-SXM4-40GB", 4, 40960, "8.0", 1024, 10),
    ("inf-l4", "NVIDIA L4", 1, 23034, "8.9", 128, 20),
    ("inf-t4", "Tesla T4", 1, 15360, "7.5", 64, 15),
    ("ws-4090", "NVIDIA GeForce RTX 4090", 1, 24564, "8.9", 64, 15),
    ("ws-3090x2", "NVIDIA GeForce RTX 3090", 2, 24576, "8.6", 128, 8),
    ("hgx-b200", "NVIDIA B200", 8, 183359, "10.0", 2048, 4),
    ("cpu", None, 0, 0, None, 256, 18),
]
DRIVERS = [("550.54.15", "12.4"), ("560.35.03", "12.6"), ("570.86.10", "12.8")]
JOBS_GIB = [8.5, 17.0, 38.0, 70.0]  # memory held by a running job: common model sizes
IDLE_USED_MIB = 530  # what an idle GPU shows as used (driver, ECC, display)


def _gpu(index: int, host: str, name: str, total_mib: int, cc: str, used_mib: int, unreadable: bool) -> dict[str, Any]:
    total = total_mib * MIB
    used = min(total, used_mib * MIB)
    cap = parse_capability(cc)
    return {
        "index": index, "uuid": f"GPU-{host}-{index:02d}", "name": name, "pci_bus_id": f"00000000:{index + 16:02X}:00.0",
        "memory_total_bytes": None if unreadable else total, "memory_free_bytes": None if unreadable else total - used,
        "memory_used_bytes": None if unreadable else used, "memory_info_version": None if unreadable else "v2",
        "compute_capability": cc, "abilities": abilities_for(cap).model_dump() if cap else None,
        "processes": [], "cuda_index": index,
        "errors": ["memory info: NVML error Unknown"] if unreadable else [],
    }


def host(i: int, rng: random.Random, taken_at: str = "2026-11-21T08:00:00+00:00") -> dict[str, Any]:
    """One host's snapshot as a JSON-ready dict."""
    kind, gpu_name, count, total_mib, cc, ram_gib, _w = rng.choices(KINDS, weights=[k[6] for k in KINDS])[0]
    name = f"{kind}-{i:05d}"
    busy = count > 0 and rng.random() < 0.25
    partial = count > 0 and rng.random() < 0.03
    gpus = []
    for j in range(count):
        used = IDLE_USED_MIB
        if busy and rng.random() < 0.7:
            used += int(min(rng.choice(JOBS_GIB) * 1024, total_mib * 0.95))
        gpus.append(_gpu(j, name, gpu_name or "", total_mib, cc or "", used, unreadable=partial and j == 0))
    driver, cuda = rng.choice(DRIVERS)
    ram = ram_gib * GIB
    available = int(ram * rng.uniform(0.3, 0.95))
    nvml: dict[str, Any] = {"status": "partial" if partial else "ok",
                            "errors": ["GPU 0: memory info: NVML error Unknown"] if partial else []}
    if count:
        nvml.update(driver_version=driver, cuda_driver_version=cuda, library_version="12." + driver, device_count=count,
                    cuda_visible=[{"cuda_index": j, "nvml_index": j, "uuid": g["uuid"]} for j, g in enumerate(gpus)])
    else:
        nvml = {"status": "unavailable", "errors": ["NVML library not found (libnvidia-ml): no NVIDIA driver installed"]}
    return {
        "schema_version": "1.0", "tool": {"name": "advisor", "version": "0.1.0"}, "taken_at": taken_at,
        "host": {"hostname": name, "os": "Linux", "os_release": "6.8.0", "python": "3.11.7"},
        "gpus": gpus, "nvml": nvml,
        "memory": {"status": "ok", "total_bytes": ram, "available_bytes": available, "free_bytes": available // 2,
                   "swap_total_bytes": 0, "swap_free_bytes": 0, "effective_available_bytes": available},
        "cpu": {"status": "ok", "model": "AMD EPYC 9454 48-Core Processor" if count >= 4 else "Intel(R) Xeon(R) Gold 6338",
                "architecture": "x86_64", "physical_cores": 48, "logical_cores": 96, "usable_cores": 96,
                "flags": ["avx2", "avx512f", "avx512_bf16"]},
        "disk": {"status": "ok", "path": "/root/.cache/huggingface/hub", "exists": True, "free_bytes": 500 * GIB,
                 "total_bytes": 1000 * GIB},
        "torch": {"status": "unavailable", "errors": ["torch probe skipped (--no-torch)"]},
        "accelerators": {"status": "ok"},
    }


def fleet(n: int, seed: int = 0, taken_at: str = "2026-11-21T08:00:00+00:00") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [host(i, rng, taken_at) for i in range(n)]
