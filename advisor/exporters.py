"""A snapshot in the formats fleets already collect: Prometheus text (node_exporter's textfile collector) and
Kubernetes node labels in the style of NVIDIA GPU Feature Discovery.

Prometheus: base units (bytes, seconds), `_bytes` / `_info` suffixes; the text format itself is written by the
well-kept `prometheus_client` (one HELP and TYPE per family, label values escaped). Node labels: keys
`<prefix>/<name>`, values of at most 63 characters from [A-Za-z0-9._-], starting and ending alphanumeric, as
Kubernetes requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from probes.schema import Abilities, Snapshot

LABEL_PREFIX = "advisor.local"
MIB = 1024**2


# --- Prometheus ----------------------------------------------------------------------------------------------

class _Families:
    """Gauge families for prometheus_client (the library writes the text format: escaping, HELP and TYPE lines).

    A sample whose label has no value (None) gets the empty string, which Prometheus treats as the label being
    absent; a sample whose value is None is left out.
    """

    def __init__(self) -> None:
        self.order: list[str] = []
        self.meta: dict[str, str] = {}
        self.rows: dict[str, list[tuple[dict[str, str | None], float]]] = {}

    def add(self, name: str, help_text: str, labels: dict[str, str | None], value: float | int | None) -> None:
        if value is None:
            return
        if name not in self.meta:
            self.order.append(name)
            self.meta[name] = help_text
            self.rows[name] = []
        self.rows[name].append((labels, float(value)))

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for name in self.order:
            keys = list(dict.fromkeys(k for labels, _ in self.rows[name] for k in labels))
            family = GaugeMetricFamily(name, self.meta[name], labels=keys)
            for labels, value in self.rows[name]:
                family.add_metric([labels.get(k) or "" for k in keys], value)
            yield family

    def registry(self) -> Any:
        from prometheus_client import CollectorRegistry

        reg = CollectorRegistry(auto_describe=False)
        reg.register(self)
        return reg

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry()).decode("utf-8")


def to_prometheus(snap: Snapshot) -> str:
    """Gauges for GPU memory (total / free / used), RAM, CPU, probe health; `_info` series carry names."""
    return prometheus_families(snap).text()


def write_prometheus(snap: Snapshot, path: str) -> None:
    """The textfile node_exporter reads, written by prometheus_client's write_to_textfile (atomically: a temporary
    file in the same directory, then renamed), after the same refusals as every advisor write."""
    from prometheus_client import write_to_textfile

    from advisor.snapshots import _refuse_target

    _refuse_target(Path(path))
    write_to_textfile(path, prometheus_families(snap).registry())


def prometheus_families(snap: Snapshot) -> _Families:
    from advisor.fleet_report import parse_time
    from probes.abilities import parse_capability

    f = _Families()
    host = snap.host.hostname
    f.add("advisor_host_info", "The probed host (value 1).",
          {"host": host, "os": snap.host.os, "advisor_version": snap.tool.version,
           "driver_version": snap.nvml.driver_version, "cuda_driver_version": snap.nvml.cuda_driver_version}, 1)
    taken = parse_time(snap.taken_at)
    f.add("advisor_snapshot_timestamp_seconds", "When the snapshot was taken, Unix time.", {}, taken.timestamp() if taken else None)
    for name in ("nvml", "memory", "cpu", "disk", "torch", "accelerators"):
        section = getattr(snap, name)
        f.add("advisor_probe_section_ok", "1 when the probe section was fully read, 0 when partial or unavailable.",
              {"section": name, "status": section.status}, 1 if section.status == "ok" else 0)
    f.add("advisor_gpus", "NVIDIA GPUs NVML reports.", {}, len(snap.gpus))
    for g in snap.gpus:
        cap = parse_capability(g.compute_capability)
        ids = {"gpu": str(g.index), "uuid": g.uuid}
        f.add("advisor_gpu_info", "An NVIDIA GPU (value 1): name, UUID, compute capability, native precisions.",
              {**ids, "name": g.name, "compute_capability": g.compute_capability, "pci_bus_id": g.pci_bus_id,
               "bf16": _bool(g.abilities, "bf16"), "fp8": _bool(g.abilities, "fp8"), "fp4": _bool(g.abilities, "fp4")}, 1)
        f.add("advisor_gpu_memory_total_bytes", "GPU memory in all, bytes.", ids, g.memory_total_bytes)
        f.add("advisor_gpu_memory_free_bytes", "GPU memory free, bytes.", ids, g.memory_free_bytes)
        f.add("advisor_gpu_memory_used_bytes", "GPU memory used, bytes.", ids, g.memory_used_bytes)
        f.add("advisor_gpu_compute_capability", "Compute capability as major + minor / 10.", ids,
              cap[0] + cap[1] / 10 if cap else None)
        f.add("advisor_gpu_unified_memory", "1 when the GPU shares system RAM.", ids, int(g.unified_memory))
        f.add("advisor_gpu_mig_enabled", "1 when MIG mode is on.", ids, None if g.mig.enabled is None else int(g.mig.enabled))
    m = snap.memory
    f.add("advisor_memory_total_bytes", "System RAM in all, bytes.", {}, m.total_bytes)
    f.add("advisor_memory_available_bytes", "System RAM available (not free), bytes.", {}, m.available_bytes)
    f.add("advisor_memory_effective_available_bytes", "RAM a process may still use, cgroup limit included, bytes.", {},
          m.effective_available_bytes)
    f.add("advisor_memory_cgroup_limit_bytes", "Memory limit of the cgroup, bytes.", {},
          m.cgroup.limit_bytes if m.cgroup else None)
    f.add("advisor_cpu_logical_cores", "Logical CPU cores.", {}, snap.cpu.logical_cores)
    f.add("advisor_cpu_usable_cores", "CPU cores this process may run on.", {}, snap.cpu.usable_cores)
    f.add("advisor_disk_free_bytes", "Free space where model weights are cached, bytes.", {"path": snap.disk.path},
          snap.disk.free_bytes)
    return f


def _bool(ab: Abilities | None, name: str) -> str | None:
    return None if ab is None else ("true" if getattr(ab, name) else "false")


# --- Kubernetes node labels ---------------------------------------------------------------------------------

_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def label_value(text: str) -> str:
    """Any text as a valid label value: spaces and other characters become '-', at most 63 characters."""
    v = _VALUE_BAD.sub("-", text.strip())[:63]
    return v.strip("-_.") or "unknown"


def best_precision(abilities: list[Abilities]) -> str:
    """The smallest float format every GPU computes natively (what to prefer when memory is short)."""
    if not abilities:
        return "none"
    for name in ("fp4", "fp8", "bf16", "fp16"):
        if all(getattr(a, name) for a in abilities):
            return name
    return "fp32"


def to_k8s_labels(snap: Snapshot, prefix: str = LABEL_PREFIX) -> list[tuple[str, str]]:
    """Node labels (key, value), GFD-style names under advisor's own prefix."""
    from probes.abilities import parse_capability

    labels: list[tuple[str, str]] = []

    def add(name: str, value: str | int | bool) -> None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        labels.append((f"{prefix}/{name}", label_value(text)))

    gpus = [g for g in snap.gpus if not g.unified_memory] or list(snap.gpus)
    add("gpu.present", bool(snap.gpus))
    add("gpu.count", len(snap.gpus))
    if snap.nvml.driver_version:
        major, _, rest = snap.nvml.driver_version.partition(".")
        add("cuda.driver.major", major)
        add("cuda.driver.minor", rest.split(".")[0] if rest else "0")
    if snap.nvml.cuda_driver_version:
        major, _, minor = snap.nvml.cuda_driver_version.partition(".")
        add("cuda.runtime.major", major)
        add("cuda.runtime.minor", minor or "0")
    if gpus:
        first = gpus[0]
        names = {g.name for g in gpus}
        add("gpu.product", (first.name or "unknown") if len(names) == 1 else "mixed")
        if first.memory_total_bytes is not None:
            add("gpu.memory", min(g.memory_total_bytes or 0 for g in gpus) // MIB)  # MiB, as GFD
        cap = parse_capability(first.compute_capability)
        if cap:
            add("gpu.compute.major", cap[0])
            add("gpu.compute.minor", cap[1])
        abilities = [g.abilities for g in gpus if g.abilities is not None]
        if len(abilities) == len(gpus):
            for name in ("bf16", "fp8", "fp4"):
                add(f"gpu.{name}", all(getattr(a, name) for a in abilities))
            add("best-precision", best_precision(abilities))
        add("gpu.mig.enabled", any(g.mig.enabled for g in gpus))
    else:
        add("best-precision", "cpu-bf16" if any(f in snap.cpu.flags for f in ("avx512_bf16", "amx_bf16")) else "cpu")
    if snap.memory.total_bytes:
        add("memory.gib", snap.memory.total_bytes // 1024**3)
    return labels


def labels_text(labels: list[tuple[str, str]]) -> str:
    """One key=value per line (kubectl label node NODE $(cat file) takes them as they are)."""
    return "".join(f"{k}={v}\n" for k, v in labels)
