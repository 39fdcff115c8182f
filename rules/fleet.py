"""The best plan of one model on many hosts, fast: the decision of `select.recommend`, shared between hosts.

A fleet repeats itself: hosts of one kind have the same GPUs, and idle GPUs of one model report the same free
memory. Plans depend on the GPUs (their budgets decide layer splits, offload depth and vLLM's reservation)
but the CPU's budget only decides whether a plan's CPU part fits. So every candidate is evaluated once per
distinct set of GPUs, with an unbounded CPU; each host then checks the CPU parts against its own RAM. The
answer is the plan `select.recommend` would put first (a test holds them equal), without the context search,
runners-up and advice that a matrix cell does not show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from probes.schema import Snapshot
from rules import engines
from rules.devices import Device, Devices, usable_devices
from rules.memory import weight_split
from rules.plan import Request
from rules.precisions import Precision
from rules.ranking import FOUR_BIT_QUALITY_RANK, order_key, speed_class
from rules.select import approximate_reason, candidate_precisions, drafts, precision_preference, validate
from rules.spec import ModelSpec
from rules.units import gib

UNBOUNDED = 1 << 62


@dataclass(frozen=True)
class Cell:
    """One model on one host."""

    fits: bool
    precision: str | None = None
    engine: str | None = None
    placement: str | None = None
    devices: tuple[str, ...] = ()
    memory_bytes: int | None = None
    reason: str = ""  # why not (or why advisor cannot tell)
    cannot_tell: bool = False
    measured_bytes: int | None = None  # a peak recorded on this host for this plan (advisor verify --record)

    @property
    def speed_class(self) -> str | None:
        """all-gpu, offload or cpu (None when it does not fit)."""
        return speed_class(self.placement) if self.fits and self.placement else None

    def text(self) -> str:
        if self.fits:
            return f"{self.precision} · {self.engine} · {self.placement}" + (" (measured)" if self.measured_bytes else "")
        return ("cannot tell: " if self.cannot_tell else "no: ") + self.reason

    def to_dict(self) -> dict[str, Any]:
        return {"fits": self.fits, "precision": self.precision, "engine": self.engine, "placement": self.placement,
                "devices": list(self.devices), "memory_bytes": self.memory_bytes, "reason": self.reason or None,
                "cannot_tell": self.cannot_tell, "speed_class": self.speed_class, "measured_bytes": self.measured_bytes}


@dataclass(frozen=True)
class _Candidate:
    precision: str
    engine: str
    placement: str
    devices: tuple[str, ...]
    memory_bytes: int
    order: tuple[int, int, int, int, int, int]  # rules.ranking.order_key: the rank before headroom
    gpu_fits: bool
    gpu_room: float  # least relative room on its GPUs (1.0 when it uses none)
    gpu_shortfall: int  # bytes missing on its tightest GPU (<= 0 when they fit)
    cpu_need: int | None  # bytes on the CPU, None when it uses no RAM
    worst_label: str
    worst_need: int
    worst_budget: int
    measured_bytes: int | None = None


def _device_key(d: Device) -> tuple[Any, ...]:
    g = d.gpu
    a = g.abilities if g else None
    abilities = (a.fp16, a.bf16, a.fp8, a.fp4, a.int8_tensor_cores) if a else None
    return (d.key, d.name, d.total, d.free, d.budget, d.unified, d.apple, g.compute_capability if g else None,
            abilities, g.cuda_index if g else None, tuple(m.uuid for m in g.mig.instances) if g else ())


def _fingerprint(devs: Devices, snapshot: Snapshot) -> tuple[Any, ...]:
    torch = snapshot.torch
    missing = tuple(sorted(d.compute_capability or "" for d in torch.devices if d.kernels == "missing"))
    cpu = (devs.cpu.name, devs.cpu.cpu_flags) if devs.cpu else None
    return (tuple(_device_key(d) for d in devs.gpus), cpu, devs.nvml_problem, torch.installed, torch.version, missing)


def _candidates(spec: ModelSpec, snapshot: Snapshot, request: Request, devs: Devices,
                only: list[Precision]) -> list[_Candidate]:
    """Every placeable plan of these precisions, drafted with an unbounded CPU, in select's rank order."""
    cpu = replace(devs.cpu, free=UNBOUNDED, budget=UNBOUNDED) if devs.cpu else None
    devs = replace(devs, cpu=cpu)
    if cpu is None:
        # GPU-only: a precision whose weights alone exceed every GPU's budget together cannot fit; skip drafting it
        together = sum(d.budget for d in devs.gpus)
        only = [p for p in only if weight_split(spec, p).total <= together]
        if not only:
            return []
    by_key = {d.key: d for d in (*devs.gpus, *([cpu] if cpu else []))}
    out = []
    for job, draft, _sub in drafts(spec, snapshot, request, devs, only, [], one_single_per_kind=True):
        gpus = [u for u in draft.uses if u.kind == "gpu"]
        cpus = [u for u in draft.uses if u.kind == "cpu"]
        room = min(((1 - u.memory.total_bytes / u.budget_bytes) if u.budget_bytes else -1.0 for u in gpus), default=1.0)
        worst = max(gpus, key=lambda u: u.memory.total_bytes - (u.budget_bytes or 0), default=None)
        first = by_key.get(draft.uses[0].device)
        pref = precision_preference(job.precision, spec, first) if first else 0
        out.append(_Candidate(
            precision=job.precision.name, engine=job.engine, placement=draft.placement,
            devices=tuple(u.device for u in draft.uses), memory_bytes=sum(u.memory.total_bytes for u in draft.uses),
            order=order_key(job.precision.quality_rank, draft.placement, pref, job.engine, len(gpus)),
            gpu_fits=all(u.fits for u in gpus), gpu_room=room,
            gpu_shortfall=(worst.memory.total_bytes - (worst.budget_bytes or 0)) if worst else -UNBOUNDED,
            cpu_need=sum(u.memory.total_bytes for u in cpus) if cpus else None,
            worst_label=f"GPU {worst.device[4:]} ({worst.name})" if worst else "CPU RAM",
            worst_need=worst.memory.total_bytes if worst else 0,
            worst_budget=(worst.budget_bytes or 0) if worst else 0, measured_bytes=draft.measured_bytes,
        ))
    out.sort(key=lambda c: c.order)  # stable: ties keep select's order
    return out


def _best(cands: list[_Candidate], cpu_budget: int) -> _Candidate | None:
    """The candidate select.recommend ranks first among those that fit with this CPU budget."""
    best, best_rank = None, None
    for c in cands:
        if best_rank is not None and c.order != best_rank[:6]:
            break  # sorted by order: nothing later can rank higher
        if not c.gpu_fits or (c.cpu_need is not None and c.cpu_need > cpu_budget):
            continue
        room = c.gpu_room
        if c.cpu_need is not None:
            room = min(room, (1 - c.cpu_need / cpu_budget) if cpu_budget else -1.0)
        rank = (*c.order, -round(room, 4))
        if best_rank is None or rank < best_rank:
            best, best_rank = c, rank
    return best


class MatrixDecider:
    """Decide one model (with one request) on host after host, sharing work between hosts with the same GPUs."""

    def __init__(self, spec: ModelSpec, request: Request) -> None:
        problems = validate(request)
        if problems:
            raise ValueError("; ".join(problems))
        self.spec = spec
        self.request = request
        precisions, _rejected = candidate_precisions(spec, request)
        ranks = sorted({p.quality_rank for p in precisions})
        self._groups = [[p for p in precisions if p.quality_rank == r] for r in ranks]
        self._cache: dict[tuple[Any, ...], tuple[list[list[_Candidate] | None], list[list[_Candidate] | None]]] = {}
        self.evaluations = 0

    def decide(self, snapshot: Snapshot) -> Cell:
        if self.spec.kind != "text-generation":
            return self._other_kind(snapshot)
        devs = usable_devices(snapshot, self.request)
        key = _fingerprint(devs, snapshot)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = ([None] * len(self._groups), [None] * len(self._groups))
        gpu_groups, groups = cached
        cpu_budget = devs.cpu.budget if devs.cpu else 0
        best = None
        # rules.ranking: an all-GPU plan at 4-bit or better beats any other; among those quality ranks first. So
        # first the GPU-only plans of the groups down to 4-bit (cheaper: no CPU or offload plans drafted), and the
        # first group with one that fits holds the answer.
        if devs.gpus:
            gpu_only_devs = replace(devs, cpu=None)
            for i, precisions in enumerate(self._groups):
                if precisions[0].quality_rank > FOUR_BIT_QUALITY_RANK:
                    break
                found = _best(self._drafts(gpu_groups, i, snapshot, gpu_only_devs), cpu_budget)
                if found is not None and found.order[0] == 0:
                    best = found
                    break
        # otherwise quality ranks first among every plan: the first group with any plan that fits holds it
        for i in range(len(self._groups)):
            if best is not None:
                break
            best = _best(self._drafts(groups, i, snapshot, devs), cpu_budget)
        gpu_only = self.request.engine != "auto" and engines.get(self.request.engine).needs_gpu
        if devs.nvml_problem and (best is None or gpu_only or self.request.devices is not None):
            return Cell(False, reason=f"the GPUs could not be read: {devs.nvml_problem}", cannot_tell=True)
        if devs.unreadable and best is None:
            return Cell(False, reason=f"{'; '.join(devs.unreadable)}, and nothing fits without it",
                        cannot_tell=True)
        if best is not None and not self.spec.exact and not self.request.allow_approximate:
            return Cell(False, reason=approximate_reason(self.spec), cannot_tell=True)
        if best is not None:
            return Cell(True, best.precision, best.engine, best.placement, best.devices, best.memory_bytes,
                        measured_bytes=best.measured_bytes)
        if not devs.gpus and devs.cpu is None:
            return Cell(False, reason="no usable device: neither GPU memory nor RAM could be read", cannot_tell=True)
        return Cell(False, reason=self._why_not([c for g in groups for c in g or ()], cpu_budget, devs))

    def _other_kind(self, snapshot: Snapshot) -> Cell:
        """A model that is not a token LLM: its own workload's decision (rules/workloads), as one cell."""
        from rules.workloads import decide

        try:
            rec = decide(self.spec, snapshot, self.request)
        except ValueError as exc:  # an option that does not apply to this kind (e.g. a token context)
            return Cell(False, reason=str(exc))
        if rec.cannot_tell:
            return Cell(False, reason=rec.cannot_tell, cannot_tell=True)
        plan = rec.plan
        if rec.fits and plan is not None:
            return Cell(True, plan.precision, plan.engine, plan.placement, tuple(plan.devices), plan.memory.total_bytes)
        why = rec.rejected[0].reason if rec.rejected else "no plan runs on this host"
        if rec.missing_bytes:
            why = f"{gib(rec.missing_bytes)} short on the tightest device"
        return Cell(False, reason=why)

    def _drafts(self, cache: list[list[_Candidate] | None], i: int, snapshot: Snapshot,
                devs: Devices) -> list[_Candidate]:
        """The candidate plans of precision group i on these devices, drafted once per GPU fingerprint."""
        cands = cache[i]
        if cands is None:
            cands = cache[i] = _candidates(self.spec, snapshot, self.request, devs, self._groups[i])
            self.evaluations += 1
        return cands

    def _why_not(self, cands: list[_Candidate], cpu_budget: int, devs: Devices) -> str:
        if not cands:
            why = "no precision / engine of this model runs on this host's devices"
            return f"{why} ({'; '.join(devs.notes)})" if devs.notes else why

        def shortfall(c: _Candidate) -> int:
            cpu_short = (c.cpu_need - cpu_budget) if c.cpu_need is not None else -UNBOUNDED
            return max(c.gpu_shortfall, cpu_short)

        c = min(cands, key=shortfall)
        cpu_short = (c.cpu_need - cpu_budget) if c.cpu_need is not None else -UNBOUNDED
        if cpu_short >= c.gpu_shortfall and c.cpu_need is not None:
            need, budget, where = c.cpu_need, cpu_budget, "CPU RAM"
        else:
            need, budget, where = c.worst_need, c.worst_budget, c.worst_label
        return f"closest: {c.precision} / {c.engine} ({c.placement}) needs {gib(need)} on {where}, {gib(budget)} usable"
