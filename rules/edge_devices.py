"""Edge and NPU targets for what-if plans (rules/data/edge_devices.json, each fact with its source).

A target is an accelerator added to a machine (a Coral Edge TPU, a Hailo module, an NPU: the host keeps its RAM
and CPU), a whole board (a Raspberry Pi: its cores and RAM replace this machine's; the Coral Dev Board brings its
Edge TPU too), or a GPU of the GPU table (Jetson: unified memory, as --gpu).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from probes.schema import AcceleratorsSection, CpuSection, MemorySection, NvmlSection, OtherAccelerator, Snapshot


@lru_cache(maxsize=1)
def table() -> list[dict[str, Any]]:
    text = resources.files("rules").joinpath("data/edge_devices.json").read_text(encoding="utf-8")
    devices: list[dict[str, Any]] = json.loads(text)["devices"]
    return devices


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def find(name: str) -> dict[str, Any] | None:
    """The entry called `name` (or an alias); else the one entry whose name contains it."""
    key = _key(name)
    if not key:
        return None
    for entry in table():
        if key in {_key(entry["name"]), *(_key(a) for a in entry.get("aliases", []))}:
            return entry
    partial = [e for e in table() if key in _key(e["name"])]
    return partial[0] if len(partial) == 1 else None


def near(name: str, n: int = 4) -> list[str]:
    key = _key(name)
    words = [w for w in re.split(r"\W+", name.lower()) if len(w) > 1]
    scored = [(sum(w in e["name"].lower() for w in words), e["name"]) for e in table()]
    hits = [nm for score, nm in sorted(scored, key=lambda s: -s[0]) if score]
    return hits[:n] if hits or not key else []


def names() -> list[str]:
    return [e["name"] for e in table()]


def with_device(snapshot: Snapshot, entry: dict[str, Any]) -> Snapshot:
    """The machine as it would be with this target (see the module docstring); a GPU entry is --gpu's job."""
    update: dict[str, Any] = {}
    board = entry.get("board")
    if board:
        total = int(board["memory_bytes"])
        update["memory"] = MemorySection(status="ok", errors=[], total_bytes=total, available_bytes=total,
                                         free_bytes=total, effective_available_bytes=total)
        update["cpu"] = CpuSection(status="ok", errors=[], model=f"{entry['name']} (what-if)",
                                   architecture=board.get("arch"), physical_cores=board.get("cpu_cores"),
                                   logical_cores=board.get("cpu_cores"), usable_cores=board.get("cpu_cores"), flags=[])
        update["gpus"] = []
        update["nvml"] = NvmlSection(status="unavailable", errors=["NVML library not found (what-if board)"],
                                     device_count=0, driver_version=None, cuda_visible=[])
        devices: list[OtherAccelerator] = []
    else:
        devices = list(snapshot.accelerators.devices)
    if entry.get("accelerator"):
        devices.append(OtherAccelerator(kind=entry["accelerator"], name=f"{entry['name']} (what-if)",
                                        memory_total_bytes=entry.get("onchip_sram_bytes")))
    update["accelerators"] = AcceleratorsSection(status="ok", errors=[], devices=devices)
    return snapshot.model_copy(update=update)
