"""The decision shared by the workloads whose model runs whole on one device (speech, embedding): every runtime of
the kind x every GPU and the CPU x every precision the runtime runs there, each priced by the workload's memory
function, gated, ranked (GPU before CPU, quality, the device's preferred precision, the runtime's rank), with the
largest batch that fits and every rejection's reason."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probes.schema import Snapshot
from rules.kinds import model_summary, shortfall_rejection
from rules.plan import Change, DeviceUse, Memory, Plan, Recommendation, Rejected, Request
from rules.runtimes import CPU, CUDA_CONTEXT, GPU, GPU_ACTIVATION_FACTOR, KindRuntime
from rules.spec import ModelSpec
from rules.units import gib
from rules.workloads.vision import Target, _targets

MemoryFn = Callable[[ModelSpec, KindRuntime, str, str, Request], Memory]
Siblings = Callable[[ModelSpec], Sequence[ModelSpec]]
TORCH_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


@dataclass(frozen=True)
class Kind:
    """What a one-device workload brings: its runtimes, precisions with their quality, its memory function."""

    workload: str
    runtimes: dict[str, KindRuntime]
    aliases: dict[str, str]
    quality: dict[str, tuple[int, str]]  # precision -> (quality rank, what it means)
    memory: MemoryFn
    unit: str  # what --batch counts, for the reasons ("window(s)", "sequence(s)")

    def runtime_name(self, engine: str) -> str:
        return self.aliases.get(engine, engine)


@dataclass(frozen=True)
class CpuRange:
    """A workload's calibrated CPU constants: typical = factor x live + base over the typical process; worst adds
    holes_factor x live + holes_base over the worst process."""

    factor: float
    base: int
    holes_factor: float
    holes_base: int
    process_typical: int
    process: int


def range_memory(weights: int, live: float, target_kind: str, cpu: CpuRange) -> Memory:
    """Weights + working memory + runtime: on a GPU the live tensors x the allocator factor + the CUDA context; on
    the CPU the calibrated range."""
    if target_kind == GPU:
        acts = math.ceil(live * GPU_ACTIVATION_FACTOR)
        return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=CUDA_CONTEXT,
                      total_bytes=weights + acts + CUDA_CONTEXT)
    typical_acts = math.ceil(live * cpu.factor) + cpu.base
    acts = typical_acts + math.ceil(live * cpu.holes_factor) + cpu.holes_base
    return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=cpu.process,
                  total_bytes=weights + acts + cpu.process,
                  typical_total_bytes=weights + typical_acts + cpu.process_typical)


def decide(kind: Kind, spec: ModelSpec, snapshot: Snapshot, request: Request,
           plan_fields: Callable[[Request], dict[str, object]], notes: list[str],
           siblings: Siblings | None = None) -> Recommendation:
    model = model_summary(spec)
    targets, unreadable = _targets(snapshot, request)
    targets = [t for t in targets if t.kind in (GPU, CPU)]
    engine = kind.runtime_name(request.engine)
    names = [engine] if engine != "auto" else list(kind.runtimes)
    plans: list[Plan] = []
    rejected: list[Rejected] = []
    for target in targets:
        for name in names:
            runtime = kind.runtimes[name]
            for precision in ([request.precision] if request.precision != "auto" else list(kind.quality)):
                why = _gate(runtime, target, precision)
                if why:
                    if (request.precision != "auto" or request.engine != "auto") and all(
                            r.reason != why for r in rejected):
                        rejected.append(Rejected(precision=precision, engine=name, placement=target.key, reason=why))
                    continue
                plans.append(_plan(kind, spec, runtime, target, precision, request, plan_fields(request)))
    fitting = sorted((p for p in plans if p.fits), key=lambda p: (
        p.speed_rank // 10, p.quality_rank, p.speed_rank % 10, kind.runtimes[p.engine].rank))
    rejected += [shortfall_rejection(p, f"batch {request.batch} ({kind.unit})") for p in plans if not p.fits]
    best: list[Plan] = []
    seen: set[tuple[str, str, str]] = set()
    for p in fitting:
        if (p.precision, p.engine, p.speed_class) not in seen:
            seen.add((p.precision, p.engine, p.speed_class))
            best.append(p)
    cannot = "; ".join(unreadable) if unreadable and not best else None
    if not spec.exact and not request.allow_approximate:
        cannot = f"{spec.name}'s parameter count is approximate"
    missing = None
    changes: list[Change] = []
    if not best and plans:
        missing = min(p.per_device[0].memory.total_bytes - (p.per_device[0].budget_bytes or 0) for p in plans)
        roomiest = max(plans, key=lambda p: (p.max_batch or 0, -p.speed_rank))
        if roomiest.max_batch:
            changes.append(Change(kind="batch", description=(
                f"--batch {roomiest.max_batch} ({kind.unit}): {roomiest.precision} / {roomiest.engine} on "
                f"{roomiest.per_device[0].name}")))
    if not targets:
        rejected.append(Rejected(precision="any", engine="any", reason="no device here to run on (no GPU readable, "
                                 "and the CPU is excluded)"))
    smaller: list[str] = []
    if not best and siblings is not None:
        for other in sorted(siblings(spec), key=lambda s: -s.params_total):  # the largest that fits first
            if other.params_total >= spec.params_total or other.kind != spec.kind or other.name == spec.name:
                continue
            found = decide(kind, other, snapshot, request, plan_fields, [], None)
            if found.fits and found.plan is not None:
                smaller.append(other.name)
                if len(smaller) == 1:
                    changes.append(Change(kind="smaller-model", plan=found.plan, description=(
                        f"{other.name} ({other.params_total / 1e6:,.0f} M parameters): {found.plan.precision} / "
                        f"{found.plan.engine} on {found.plan.per_device[0].name} needs "
                        f"{gib(found.plan.memory.total_bytes)}")))
    return Recommendation(model=model, request=request, fits=bool(best) and cannot is None,
                          plan=best[0] if best else None, alternatives=best[1:5], rejected=rejected,
                          missing_bytes=missing, changes=changes, smaller_models=smaller, cannot_tell=cannot,
                          notes=notes)


def _gate(runtime: KindRuntime, target: Target, precision: str) -> str | None:
    if precision not in runtime.precisions.get(target.kind, ()):
        return f"{runtime.label} on {target.label} runs {', '.join(runtime.precisions.get(target.kind, ()))}"
    if target.kind == GPU and runtime.nvidia_only and not target.nvidia:
        return f"{runtime.label} needs an NVIDIA GPU (CUDA) ({target.label})"
    if target.kind == GPU and precision == "bf16" and not target.memory.native_bf16:
        return f"bf16 needs compute capability ≥ 8.0 ({target.label})"
    return None


def _plan(kind: Kind, spec: ModelSpec, runtime: KindRuntime, target: Target, precision: str, request: Request,
          fields: dict[str, object]) -> Plan:
    mem = kind.memory(spec, runtime, target.kind, precision, request)
    dev = target.memory
    fits = mem.total_bytes <= dev.budget
    on_gpu = target.kind == GPU
    one = kind.memory(spec, runtime, target.kind, precision, request.model_copy(update={"batch": 1}))
    two = kind.memory(spec, runtime, target.kind, precision, request.model_copy(update={"batch": 2}))
    per = max(1, two.total_bytes - one.total_bytes)
    most = 0 if dev.budget < one.total_bytes else min(65536, 1 + (dev.budget - one.total_bytes) // per)
    prefer = ("fp16", "bf16", "int8", "fp32") if on_gpu else ("int8", "fp32", "fp16", "bf16")
    use = DeviceUse(device=target.key, name=target.label, kind="gpu" if on_gpu else "cpu", index=dev.index,
                    memory=mem, free_bytes=dev.free, budget_bytes=dev.budget, fits=fits)
    return Plan(model=spec.name, precision=precision, engine=runtime.name,
                placement="single-gpu" if on_gpu else "cpu", devices=[target.key],
                gpu_indices=[dev.index] if on_gpu and dev.index is not None else [],
                cuda_visible_devices=(dev.mig_uuid or str(dev.index)) if on_gpu and dev.index is not None
                and not dev.apple else None,
                cuda_device_order="PCI_BUS_ID" if on_gpu and not dev.apple else None,
                mode=request.mode, workload=kind.workload, batch=request.batch, kv_dtype="n/a",
                memory=mem, per_device=[use], fits=fits, max_batch=most, quality_rank=kind.quality[precision][0],
                speed_rank=(0 if on_gpu else 20) + prefer.index(precision),
                speed_class="all-gpu" if on_gpu else "cpu",
                headroom_fraction=max(0.0, 1 - mem.total_bytes / dev.budget) if dev.budget else 0.0,
                quality=kind.quality[precision][1], method="detailed", estimated=True,
                torch_dtype=TORCH_DTYPES.get(precision) if runtime.torch else None,
                **fields)
