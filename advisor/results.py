"""The documents `fit` and `check` print: one versioned JSON shape, an env form for shells, exit codes."""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import EXIT_CANNOT_TELL, EXIT_NO_FIT, EXIT_OK
from advisor.models.spec import ModelSpec
from probes.schema import Snapshot
from rules.plan import Outcome, Plan, Recommendation, Request

RESULT_SCHEMA_VERSION = "1.0"


class ModelSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    source: str
    params_total: int
    params_active: int
    exact: bool
    max_context: int | None = None
    estimated: list[str] = Field(default_factory=list)


class HardwareSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    hostname: str
    what_if: bool
    gpus: list[dict[str, Any]]
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    line: str


class _Header(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: str = RESULT_SCHEMA_VERSION
    model: ModelSummary
    hardware: HardwareSummary
    request: Request


class FitResult(Outcome, _Header):
    """What `advisor fit` / `advisor check` / `advisor.recommend()` return (documented in the README):
    the header (schema version, model, hardware, request), then the decision, then settings to paste."""

    model_config = ConfigDict(frozen=True)

    settings: dict[str, Any] | None = None
    method: str = "detailed"

    @property
    def exit_code(self) -> int:
        """0 fits · 1 does not fit · 3 cannot tell."""
        if self.cannot_tell and not self.fits:
            return EXIT_CANNOT_TELL
        return EXIT_OK if self.fits else EXIT_NO_FIT

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def reason(self) -> str:
        """One line saying why: what fits where, or what is missing."""
        from rules.units import gib

        if self.fits and self.plan is not None:
            p = self.plan
            where = ", ".join(self._device_names(p))
            return (f"{self.model.name} fits: {p.precision} with {p.engine} ({p.placement}) on {where}, "
                    f"needs {gib(p.memory.total_bytes)}, largest context {p.max_context or p.context:,} tokens")
        if self.cannot_tell and not self.fits:
            return f"cannot tell whether {self.model.name} fits: {self.cannot_tell}"
        missing = f" ({gib(self.missing_bytes)} short)" if self.missing_bytes else ""
        best = next((c.description for c in self.changes), None)
        hint = f"; try {best}" if best else ""
        asked = [f"{k} {v}" for k, v in (("precision", self.request.precision), ("engine", self.request.engine))
                 if v != "auto"]
        how = f" at {', '.join(asked)}" if asked else ""
        return f"{self.model.name} does not fit{how} on {self.hardware.line}{missing}{hint}"

    @staticmethod
    def _device_names(plan: Plan) -> list[str]:
        return ["CPU" if u.kind == "cpu" else f"GPU {u.device[4:]} ({u.name})" for u in plan.per_device]

    def env(self) -> str:
        """Shell assignments, every value quoted, for eval "$(advisor check ... --format env)"."""
        p = self.plan
        values: dict[str, Any] = {
            "ADVISOR_FITS": 1 if self.fits else 0,
            "ADVISOR_EXIT_CODE": self.exit_code,
            "ADVISOR_MODEL": self.model.name,
            "ADVISOR_PRECISION": p.precision if p else "",
            "ADVISOR_TORCH_DTYPE": (p.torch_dtype or "") if p else "",
            "ADVISOR_ENGINE": p.engine if p else "",
            "ADVISOR_PLACEMENT": p.placement if p else "",
            "ADVISOR_CONTEXT": p.context if p else self.request.context or "",
            "ADVISOR_MAX_CONTEXT": (p.max_context or "") if p else "",
            "ADVISOR_CUDA_VISIBLE_DEVICES": (p.cuda_visible_devices or "") if p else "",
            "ADVISOR_TENSOR_PARALLEL_SIZE": (p.tensor_parallel_size or "") if p else "",
            "ADVISOR_GPU_MEMORY_UTILIZATION": f"{p.gpu_memory_utilization:.2f}" if p and p.gpu_memory_utilization else "",
            "ADVISOR_GPU_LAYERS": (p.gpu_layers if p.gpu_layers is not None else "") if p else "",
            "ADVISOR_KV_CACHE_DTYPE": p.kv_dtype if p else "",
            "ADVISOR_TOTAL_BYTES": p.memory.total_bytes if p else "",
            "ADVISOR_COMMAND": (self.settings or {}).get("command", "") if self.settings else "",
            "ADVISOR_REASON": self.reason(),
        }
        return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items())


def hardware_summary(snapshot: Snapshot) -> HardwareSummary:
    from rules.units import gib

    what_if = any((g.uuid or "").startswith("WHATIF-") for g in snapshot.gpus)
    gpus = [{"index": g.index, "name": g.name, "memory_total_bytes": g.memory_total_bytes,
             "memory_free_bytes": g.memory_free_bytes, "compute_capability": g.compute_capability} for g in snapshot.gpus]
    counts: dict[str, int] = {}
    for g in snapshot.gpus:
        counts[g.name or "GPU"] = counts.get(g.name or "GPU", 0) + 1
    gpu_text = ", ".join(f"{n}× {name}" for name, n in counts.items()) or "no GPU"
    if snapshot.gpus:
        free = " / ".join(gib(g.memory_free_bytes) for g in snapshot.gpus)
        gpu_text += f" ({free} free)"
    mem = snapshot.memory
    avail = mem.effective_available_bytes if mem.effective_available_bytes is not None else mem.available_bytes
    line = f"{snapshot.host.hostname}{' (what-if)' if what_if else ''}: {gpu_text}, RAM {gib(avail)} available"
    return HardwareSummary(hostname=snapshot.host.hostname, what_if=what_if, gpus=gpus, ram_total_bytes=mem.total_bytes,
                           ram_available_bytes=avail, line=line)


def build_result(spec: ModelSpec, snapshot: Snapshot, rec: Recommendation, method: str = "detailed") -> FitResult:
    from advisor.settings import settings_for

    fits, notes = rec.fits, list(rec.notes)
    if method == "rule-of-thumb" and rec.rule_of_thumb_bytes is not None:
        from rules.devices import usable_devices
        from rules.units import gib

        devs = usable_devices(snapshot, rec.request)
        budgets = [d.budget for d in devs.gpus] or ([devs.cpu.budget] if devs.cpu else [])
        best = max(budgets, default=0)
        fits = rec.rule_of_thumb_bytes <= best
        notes.append(f"decided by the rule of thumb: {gib(rec.rule_of_thumb_bytes)} against {gib(best)} usable on the "
                     f"largest device (the detailed estimate says {'fits' if rec.fits else 'does not fit'})")
    decision = {name: getattr(rec, name) for name in Outcome.model_fields}
    decision.update(fits=fits, notes=notes)
    return FitResult(
        model=ModelSummary(name=spec.name, source=spec.source, params_total=spec.params_total,
                           params_active=spec.params_active, exact=spec.exact, max_context=spec.max_context,
                           estimated=spec.estimated),
        hardware=hardware_summary(snapshot), request=rec.request,
        settings=settings_for(rec.plan, spec) if rec.plan else None, method=method, **decision,
    )
