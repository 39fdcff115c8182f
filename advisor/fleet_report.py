"""The fleet report as data: hosts, totals, problems, skipped inputs and the hosts x models matrix.

Every renderer (rich, csv, json, markdown, html) prints this one structure; `to_dict` is the JSON form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from advisor.fleet_input import Loaded, Skipped
from probes.sanity import gpu_problems
from probes.schema import Snapshot
from rules.fleet import Cell, MatrixDecider
from rules.units import gib

REPORT_SCHEMA_VERSION = "1.0"
NO_DRIVER_MARKERS = ("library not found", "not installed")


@dataclass(frozen=True)
class HostRow:
    host: str
    source: str
    taken_at: str
    age_seconds: float | None
    gpu_count: int
    gpus: str
    vram_total_bytes: int | None
    vram_free_bytes: int | None
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    cpu: str
    cores: int | None
    driver: str | None
    cuda: str | None
    bf16: bool | None  # every GPU of the host can; None without GPUs
    fp8: bool | None
    fp4: bool | None
    status: str  # ok | partial
    cells: dict[str, Cell] = field(default_factory=dict)
    mig: str = ""  # MIG instances with their own free memory: each is the device a process gets

    def abilities(self) -> str:
        names = [n for n, v in (("BF16", self.bf16), ("FP8", self.fp8), ("FP4", self.fp4)) if v]
        return " ".join(names) if names else ("-" if self.gpu_count else "no GPU")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "cells"}
        d["cells"] = {m: c.to_dict() for m, c in self.cells.items()}
        return d


@dataclass(frozen=True)
class Problem:
    host: str
    kind: str  # partial | duplicate | stale
    detail: str


@dataclass
class Report:
    generated_at: str
    hosts: list[HostRow]
    problems: list[Problem]
    skipped: list[Skipped]
    models: list[str]
    request: dict[str, Any]

    def totals(self) -> dict[str, Any]:
        by_model: Counter[str] = Counter()
        for h in self.hosts:
            for name, n in _gpu_counts(h.gpus):
                by_model[name] += n
        return {
            "hosts": len(self.hosts),
            "hosts_with_gpus": sum(1 for h in self.hosts if h.gpu_count),
            "gpus": sum(h.gpu_count for h in self.hosts),
            "gpus_by_model": dict(by_model.most_common()),
            "vram_total_bytes": sum(h.vram_total_bytes or 0 for h in self.hosts),
            "vram_free_bytes": sum(h.vram_free_bytes or 0 for h in self.hosts),
            "ram_total_bytes": sum(h.ram_total_bytes or 0 for h in self.hosts),
        }

    def fits_count(self, model: str) -> int:
        return sum(1 for h in self.hosts if h.cells.get(model) and h.cells[model].fits)

    def fit_counts(self, model: str) -> dict[str, int]:
        """Hosts by outcome: all on GPU, GPU + CPU offload, CPU only, does not fit, cannot tell."""
        counts = dict.fromkeys(("all_gpu", "offload", "cpu", "no", "cannot_tell"), 0)
        for h in self.hosts:
            c = h.cells.get(model)
            if c is None:
                continue
            key = (c.speed_class or "").replace("-", "_") if c.fits else ("cannot_tell" if c.cannot_tell else "no")
            counts[key] += 1
        return counts

    def fit_header(self, model: str) -> str:
        """The matrix column title: GPU plans and CPU-only plans counted apart, e.g. "llama3.1:8b (12 on GPU,
        3 offload, 6 CPU only, of 21)"."""
        c = self.fit_counts(model)
        parts = [f"{c['all_gpu']} on GPU"]
        if c["offload"]:
            parts.append(f"{c['offload']} offload")
        if c["cpu"]:
            parts.append(f"{c['cpu']} CPU only")
        if c["cannot_tell"]:
            parts.append(f"{c['cannot_tell']} cannot tell")
        return f"{model} ({', '.join(parts)}, of {len(self.hosts)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION, "generated_at": self.generated_at,
            "models": self.models, "request": self.request, "totals": self.totals(),
            "fit_counts": {m: self.fit_counts(m) for m in self.models},
            "hosts": [h.to_dict() for h in self.hosts],
            "problems": [p.__dict__ for p in self.problems],
            "skipped": [s.__dict__ for s in self.skipped],
        }


def _gpu_counts(text: str) -> list[tuple[str, int]]:
    out = []
    for part in text.split(", "):
        if "× " in part:
            n, name = part.split("× ", 1)
            out.append((name, int(n)))
    return out


def parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def partial_reasons(snap: Snapshot) -> list[str]:
    """Sections that could not be fully read (a host without an NVIDIA driver is not a problem)."""
    out = []
    for name in ("nvml", "memory", "cpu", "disk", "accelerators"):
        section = getattr(snap, name)
        if section.status == "ok":
            continue
        first = section.errors[0] if section.errors else section.status
        if name == "nvml" and section.status == "unavailable" and any(m in first.lower() for m in NO_DRIVER_MARKERS):
            continue
        out.append(f"{name} {section.status}: {first}")
    for g in snap.gpus:
        for problem in gpu_problems(g):
            out.append(f"nvml: GPU {g.index} {problem}")
    nvml = snap.nvml
    if nvml.status != "unavailable" and nvml.driver_version and nvml.driver_version != "what-if" and not snap.gpus:
        out.append(f"nvml: NVIDIA driver {nvml.driver_version} is loaded but NVML lists no GPU (a GPU fell off the bus, "
                   "is hidden from this container, or the driver lost it)")
    if snap.torch.status == "partial":
        out.append(f"torch partial: {snap.torch.errors[0] if snap.torch.errors else ''}".rstrip(": "))
    return out


def host_row(item: Loaded, now: datetime) -> HostRow:
    s = item.snapshot
    counts: Counter[str] = Counter(g.name or "GPU" for g in s.gpus)
    taken = parse_time(s.taken_at)
    vram_total = [g.memory_total_bytes for g in s.gpus if not g.unified_memory]
    vram_free = [g.memory_free_bytes for g in s.gpus if not g.unified_memory]
    abilities = [g.abilities for g in s.gpus]

    def every(name: str) -> bool | None:
        if not s.gpus:
            return None
        return all(a is not None and getattr(a, name) for a in abilities)

    mem = s.memory
    avail = mem.effective_available_bytes if mem.effective_available_bytes is not None else mem.available_bytes
    return HostRow(
        host=s.host.hostname, source=item.source, taken_at=s.taken_at,
        age_seconds=(now - taken).total_seconds() if taken else None,
        gpu_count=len(s.gpus), gpus=", ".join(f"{n}× {name}" for name, n in counts.items()),
        vram_total_bytes=sum(v for v in vram_total if v is not None) if vram_total and None not in vram_total else None,
        vram_free_bytes=sum(v for v in vram_free if v is not None) if vram_free and None not in vram_free else None,
        ram_total_bytes=mem.total_bytes, ram_available_bytes=avail,
        cpu=s.cpu.model or "unknown", cores=s.cpu.logical_cores,
        driver=s.nvml.driver_version, cuda=s.nvml.cuda_driver_version,
        bf16=every("bf16"), fp8=every("fp8"), fp4=every("fp4"),
        status="partial" if partial_reasons(s) else "ok", mig=_mig_text(s),
    )


def _mig_text(s: Snapshot) -> str:
    parts = []
    for g in s.gpus:
        if g.mig.enabled:
            insts = ", ".join(f"{(m.name or '').rpartition('MIG ')[2] or f'#{m.index}'} {gib(m.memory_free_bytes)} free"
                              for m in g.mig.instances) or "no instance readable"
            parts.append(f"GPU {g.index} MIG: {insts}")
    return "; ".join(parts)


def _age_text(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3600:.1f} hours"


def build_report(loaded: list[Loaded], skipped: list[Skipped], deciders: dict[str, MatrixDecider] | None = None,
                 request: dict[str, Any] | None = None, stale_after_s: float = 86400.0, now: datetime | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Report:
    """One row per host (the newest snapshot of each hostname), problems, and the matrix when models are asked."""
    now = now or datetime.now(timezone.utc)
    by_host: dict[str, list[Loaded]] = {}
    for item in loaded:
        by_host.setdefault(item.snapshot.host.hostname, []).append(item)
    problems: list[Problem] = []
    rows: list[HostRow] = []
    deciders = deciders or {}
    for n, (host, items) in enumerate(sorted(by_host.items()), 1):
        if len(items) > 1:
            items.sort(key=lambda it: parse_time(it.snapshot.taken_at) or datetime.min.replace(tzinfo=timezone.utc))
            problems.append(Problem(host, "duplicate", f"{len(items)} snapshots ({', '.join(i.source for i in items[:3])}"
                                    f"{', …' if len(items) > 3 else ''}); the newest, from {items[-1].snapshot.taken_at}, is used"))
        item = items[-1]
        row = host_row(item, now)
        for reason in partial_reasons(item.snapshot):
            problems.append(Problem(host, "partial", reason))
        if row.age_seconds is None:
            problems.append(Problem(host, "stale", f"taken_at {item.snapshot.taken_at!r} is not a date"))
        elif row.age_seconds > stale_after_s:
            problems.append(Problem(host, "stale", f"snapshot is {_age_text(row.age_seconds)} old (taken {item.snapshot.taken_at})"))
        for model, decider in deciders.items():
            row.cells[model] = decider.decide(item.snapshot)
        rows.append(row)
        if progress is not None:
            progress(n, len(by_host))
    return Report(generated_at=now.isoformat(timespec="seconds"), hosts=rows, problems=problems, skipped=skipped,
                  models=list(deciders), request=request or {})
