"""Several models at once: memory adds up. Search for a placement that keeps every model on the GPUs at the best
common quality before pushing any to the CPU; each model sees only what the ones placed before it left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from probes.schema import Snapshot
from rules.devices import DISCRETE_ACCELERATORS
from rules.plan import Recommendation, Request
from rules.precisions import ALL
from rules.ranking import FOUR_BIT_QUALITY_RANK
from rules.spec import ModelSpec
from rules.units import gib


@dataclass(frozen=True)
class JointPlacement:
    placed: list[Recommendation] = field(default_factory=list)
    unplaced: list[tuple[str, str]] = field(default_factory=list)  # (model, why)
    summary: str = ""

    @property
    def fits(self) -> bool:
        return not self.unplaced


def _subtract(snapshot: Snapshot, rec: Recommendation) -> Snapshot:
    """The snapshot with the plan's memory taken out of each device it uses (a MIG instance's own memory)."""
    plan = rec.plan
    assert plan is not None
    gpus = list(snapshot.gpus)
    memory = snapshot.memory
    accelerators = snapshot.accelerators
    for use in plan.per_device:
        taken = use.reserved_bytes if use.reserved_bytes is not None else use.memory.total_bytes
        outside = next(((kind, p) for kind, (p, _label) in DISCRETE_ACCELERATORS.items()
                        if use.device.startswith(f"gpu:{p}")), None)
        if outside is not None:  # an AMD GPU or a Gaudi: its memory is the probe's accelerator reading
            k = int(use.device.removeprefix(f"gpu:{outside[1]}"))
            amd = [a for a in accelerators.devices if a.kind == outside[0]]
            if k < len(amd):
                card = amd[k]
                used = (card.memory_used_bytes or 0) + taken
                devices = [a.model_copy(update={"memory_used_bytes": used}) if a is card else a
                           for a in accelerators.devices]
                accelerators = accelerators.model_copy(update={"devices": devices})
        elif use.kind == "gpu":
            mig = int(use.device.split("/mig:")[1]) if "/mig:" in use.device else None
            out = []
            for g in gpus:
                if g.index != use.index:
                    out.append(g)
                elif mig is None:
                    out.append(g.model_copy(update={"memory_free_bytes": max(0, (g.memory_free_bytes or 0) - taken)}))
                else:
                    insts = [m.model_copy(update={"memory_free_bytes": max(0, (m.memory_free_bytes or 0) - taken)})
                             if m.index == mig else m for m in g.mig.instances]
                    out.append(g.model_copy(update={"mig": g.mig.model_copy(update={"instances": insts})}))
            gpus = out
        else:
            avail = memory.effective_available_bytes or memory.available_bytes or 0
            memory = memory.model_copy(update={"effective_available_bytes": max(0, avail - taken),
                                               "available_bytes": max(0, (memory.available_bytes or 0) - taken)})
    return snapshot.model_copy(update={"gpus": gpus, "memory": memory, "accelerators": accelerators})


def _greedy(specs: Sequence[ModelSpec], snapshot: Snapshot, request: Request) -> JointPlacement:
    """Largest first; each later model sees only what the earlier ones left."""
    from rules.select import recommend
    from rules.workloads import decide

    result = JointPlacement()
    current = snapshot
    for spec in specs:
        if spec.kind == "text-generation":
            rec = recommend(spec, current, request, joint=True, advise=False)
        else:  # another kind: its own workload, with the options that apply to it
            other = request.model_copy(update={"context": None, "prompt": None, "kv_dtype": "auto",
                                               "quality_floor": None})
            try:
                rec = decide(spec, current, other)
            except ValueError as exc:
                result.unplaced.append((spec.name, str(exc)))
                continue
        if rec.fits and rec.plan is not None:
            result.placed.append(rec)
            current = _subtract(current, rec)
        else:
            left = ", ".join(f"GPU {g.index} {gib(g.memory_free_bytes)}" for g in current.gpus)
            ram = current.memory.effective_available_bytes
            why = rec.cannot_tell or (f"{spec.name} does not fit in what the others leave "
                                      f"({left + ', ' if left else ''}RAM {gib(ram)} free)")
            result.unplaced.append((spec.name, why))
    return result


def _quality_levels(request: Request) -> list[int]:
    """Quality ranks to try for an all-GPU placement, best first, down to 4-bit."""
    return sorted({p.quality_rank for p in ALL if p.quality_rank <= FOUR_BIT_QUALITY_RANK})


def place_models(specs: list[ModelSpec], snapshot: Snapshot, request: Request) -> JointPlacement:
    """Place every model. First: all on GPUs, at the best quality every model can share (each model at that
    quality or the nearest below it that fits, never better than the others' best); then, if no such placement
    exists, the best plan of each in turn, the CPU included. Ends with a one-line summary."""
    order = sorted(specs, key=lambda s: -s.params_total)
    has_gpus = bool(snapshot.gpus)
    if has_gpus and request.precision == "auto" and request.mode == "inference":
        for level in _quality_levels(request):
            capped = request.model_copy(update={"allow_cpu": False, "quality_floor": level})
            attempt = _greedy(order, snapshot, capped)
            if attempt.fits and all(r.plan and r.plan.speed_class == "all-gpu" for r in attempt.placed):
                return _summarised(attempt, len(specs))
    return _summarised(_greedy(order, snapshot, request), len(specs))


def _summarised(result: JointPlacement, n: int) -> JointPlacement:
    placed = [r for r in result.placed if r.plan is not None]
    where = "; ".join(f"{r.model['name']}: {r.plan.precision} / {r.plan.engine} on {', '.join(r.plan.devices)}"
                      for r in placed if r.plan is not None)
    classes = {r.plan.speed_class for r in placed if r.plan is not None}
    if not result.unplaced:
        on = "all on GPUs" if classes == {"all-gpu"} else "some on the CPU" if "cpu" in classes or "offload" in classes \
            else "placed"
        text = f"all {n} models fit together ({on}): {where}"
    else:
        names = ", ".join(m for m, _ in result.unplaced)
        text = f"{len(placed)} of {n} models fit together; not placed: {names}" + (f" ({where})" if where else "")
    return JointPlacement(result.placed, result.unplaced, text)
