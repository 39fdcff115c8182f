"""Several models at once: memory adds up. Place them together, largest first, on what is left."""

from __future__ import annotations

from dataclasses import dataclass, field

from advisor.models.spec import ModelSpec
from probes.schema import Snapshot
from rules.plan import Recommendation, Request
from rules.units import gib


@dataclass(frozen=True)
class JointPlacement:
    placed: list[Recommendation] = field(default_factory=list)
    unplaced: list[tuple[str, str]] = field(default_factory=list)  # (model, why)

    @property
    def fits(self) -> bool:
        return not self.unplaced


def _subtract(snapshot: Snapshot, rec: Recommendation) -> Snapshot:
    """The snapshot with the plan's memory taken out of each device it uses."""
    plan = rec.plan
    assert plan is not None
    gpus = list(snapshot.gpus)
    memory = snapshot.memory
    for use in plan.per_device:
        taken = use.reserved_bytes if use.reserved_bytes is not None else use.memory.total_bytes
        if use.kind == "gpu":
            gpus = [g.model_copy(update={"memory_free_bytes": max(0, (g.memory_free_bytes or 0) - taken)})
                    if g.index == use.index else g for g in gpus]
        else:
            avail = memory.effective_available_bytes or memory.available_bytes or 0
            memory = memory.model_copy(update={"effective_available_bytes": max(0, avail - taken),
                                               "available_bytes": max(0, (memory.available_bytes or 0) - taken)})
    return snapshot.model_copy(update={"gpus": gpus, "memory": memory})


def place_models(specs: list[ModelSpec], snapshot: Snapshot, request: Request) -> JointPlacement:
    """Place every model; each later one sees only the memory the earlier ones left."""
    from rules.select import recommend

    result = JointPlacement()
    current = snapshot
    for spec in sorted(specs, key=lambda s: -s.params_total):
        rec = recommend(spec, current, request, joint=True, advise=False)
        if rec.fits and rec.plan is not None:
            result.placed.append(rec)
            current = _subtract(current, rec)
        else:
            left = ", ".join(f"GPU {g.index} {gib(g.memory_free_bytes)}" for g in current.gpus)
            ram = current.memory.effective_available_bytes
            result.unplaced.append((spec.name, f"{spec.name} does not fit in what the others leave "
                                               f"({left + ', ' if left else ''}RAM {gib(ram)} free)"))
    return result
