"""The documents `fit` and `check` print: one versioned JSON shape, an env form for shells, exit codes."""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import EXIT_CANNOT_TELL, EXIT_NO_FIT, EXIT_OK
from advisor.models.spec import ModelSpec
from probes.schema import Snapshot
from rules.plan import Outcome, Plan, Recommendation, Request

RESULT_SCHEMA_VERSION = "1.1"


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
        """0 fits · 1 does not fit · 3 cannot tell (the hardware could not be read, or the model is approximate)."""
        if self.cannot_tell:
            return EXIT_CANNOT_TELL
        return EXIT_OK if self.fits else EXIT_NO_FIT

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def reason(self) -> str:
        """One line with the verdict and why: what fits where, what is missing, or why advisor cannot tell."""
        from rules.ranking import SPEED_CLASS_TEXT
        from rules.units import gib

        p = self.plan
        if self.cannot_tell:
            estimate = ""
            if p is not None:
                estimate = (f"; the estimate: {p.precision} with {p.engine} ({p.placement}) on "
                            f"{', '.join(self._device_names(p))} needs {gib(p.memory.total_bytes)}")
            return f"cannot tell whether {self.model.name} fits: {self.cannot_tell}{estimate}"
        if self.fits and p is not None:
            where = ", ".join(self._device_names(p))
            approx = " (APPROXIMATE: the model's size is an estimate)" if p.approximate else ""
            return (f"{self.model.name} fits{approx}: {p.precision} with {p.engine} ({p.placement}; "
                    f"{SPEED_CLASS_TEXT[p.speed_class]}) on {where}, needs {needs_text(p.memory)}, "
                    f"{capacity_text(p)}")
        asked = [f"{k} {v}" for k, v in (("precision", self.request.precision), ("engine", self.request.engine))
                 if v != "auto"]
        how = f" at {', '.join(asked)}" if asked else ""
        if self.missing_bytes:
            why = f": {gib(self.missing_bytes)} short on the tightest device"
        elif self.rejected:
            why = f": {self.rejected[0].reason}"
        else:
            why = ""
        best = next((c.description for c in self.changes), None)
        hint = f"; try {best}" if best else ""
        return f"{self.model.name} does not fit{how} on {self.hardware.line}{why}{hint}"

    @staticmethod
    def _device_names(plan: Plan) -> list[str]:
        return ["CPU" if u.kind == "cpu" else (u.name if u.kind == "accelerator" else f"GPU {u.device[4:]} ({u.name})")
                for u in plan.per_device]

    def env(self) -> str:
        """Shell assignments, every value quoted, then `(exit N)`: `eval "$(advisor check ... --format env)"`
        sets the variables and returns the check's exit code."""
        p = self.plan
        usable = p is not None and self.fits
        values: dict[str, Any] = {
            "ADVISOR_FITS": 1 if self.fits else 0,
            "ADVISOR_EXIT_CODE": self.exit_code,
            "ADVISOR_MODEL": self.model.name,
            "ADVISOR_APPROXIMATE": 0 if self.model.exact else 1,
            "ADVISOR_PRECISION": p.precision if usable and p else "",
            "ADVISOR_TORCH_DTYPE": (p.torch_dtype or "") if usable and p else "",
            "ADVISOR_ENGINE": p.engine if usable and p else "",
            "ADVISOR_PLACEMENT": p.placement if usable and p else "",
            "ADVISOR_SPEED_CLASS": p.speed_class if usable and p else "",
            "ADVISOR_CONTEXT": (p.context or "") if p else self.request.context or "",
            "ADVISOR_MAX_CONTEXT": (p.max_context or "") if usable and p else "",
            "ADVISOR_BATCH": p.batch if p else self.request.batch,
            "ADVISOR_IMAGE_SIZE": f"{p.image_size[1]}x{p.image_size[0]}" if p and p.image_size else "",
            "ADVISOR_MAX_BATCH": (p.max_batch or "") if usable and p else "",
            "ADVISOR_CUDA_VISIBLE_DEVICES": (p.cuda_visible_devices or "") if usable and p else "",
            "ADVISOR_CUDA_DEVICE_ORDER": (p.cuda_device_order or "") if usable and p else "",
            "ADVISOR_TENSOR_PARALLEL_SIZE": (p.tensor_parallel_size or "") if usable and p else "",
            "ADVISOR_GPU_MEMORY_UTILIZATION": f"{p.gpu_memory_utilization:.2f}" if usable and p and p.gpu_memory_utilization
            else "",
            "ADVISOR_GPU_LAYERS": (p.gpu_layers if p.gpu_layers is not None else "") if usable and p else "",
            "ADVISOR_KV_CACHE_DTYPE": p.kv_dtype if usable and p and p.workload == "text-generation" else "",
            "ADVISOR_TOTAL_BYTES": p.memory.total_bytes if p else "",
            "ADVISOR_COMMAND": (self.settings or {}).get("command", "") if usable and self.settings else "",
            "ADVISOR_NOTE": ((self.settings or {}).get("note") or "") if usable else "",
            "ADVISOR_REASON": self.reason(),
        }
        return env_lines(values, self.exit_code)


def capacity_text(plan: Plan) -> str:
    """What the plan leaves room for: the largest context (token LLMs) or batch (vision models)."""
    if plan.workload == "diffusion" and plan.image_size:
        h, w = plan.image_size
        return f"largest batch {plan.max_batch or plan.batch:,} images at {w}x{h}"
    if plan.workload == "vision" and plan.image_size:
        h, w = plan.image_size
        if plan.placement == "accelerator" and plan.max_batch == 1:
            return f"one image per invocation at {w}x{h}"
        return f"largest batch {plan.max_batch or plan.batch:,} at {w}x{h}"
    if plan.workload == "speech":
        return f"largest batch {plan.max_batch or plan.batch:,} windows of 30 s"
    if plan.workload == "embedding":
        return f"largest batch {plan.max_batch or plan.batch:,} inputs of {plan.context or 0:,} tokens"
    return f"largest context {plan.max_context or plan.context or 0:,} tokens"


def request_text(request: Any, plan: Plan | None) -> str:
    """The request as people read it: "inference, context 8,192 tokens, batch 1" or "inference, image 640x640..."."""
    size = request.image_size or (plan.image_size if plan else None)
    if plan is not None and plan.workload == "diffusion" and plan.image_size:
        tiling = ", VAE slicing and tiling" if plan.vae_tiling else ""
        return (f"{request.mode}, {plan.image_size[1]}x{plan.image_size[0]} images, batch {request.batch}, "
                f"{plan.steps} steps{tiling}")
    if plan is not None and plan.workload == "embedding":
        return f"{request.mode}, {plan.context or 0:,} tokens per input, batch {request.batch}"
    if plan is not None and plan.workload == "speech":
        audio = request.audio_seconds or 30
        return (f"{request.mode}, {audio:,} s of audio in 30 s windows, batch {request.batch} windows, "
                f"{plan.beams or 1} beam(s), {plan.new_tokens} new tokens per window")
    if size:
        return f"{request.mode}, image {size[1]}x{size[0]}, batch {request.batch}"
    if request.context is not None:
        return f"{request.mode}, context {request.context:,} tokens, batch {request.batch}"
    return f"{request.mode}, batch {request.batch}"


def needs_text(memory: Any) -> str:
    """ "18.6 GiB", or for a CPU plan whose peak is a range "2.8-3.5 GiB (typical-worst)"."""
    from rules.units import gib

    if memory.typical_total_bytes is None:
        return gib(memory.total_bytes)
    low = gib(memory.typical_total_bytes).removesuffix(" GiB")
    return f"{low}-{gib(memory.total_bytes)} (typical-worst)"


ENV_KEYS = ("ADVISOR_FITS", "ADVISOR_EXIT_CODE", "ADVISOR_MODEL", "ADVISOR_APPROXIMATE", "ADVISOR_PRECISION",
            "ADVISOR_TORCH_DTYPE", "ADVISOR_ENGINE", "ADVISOR_PLACEMENT", "ADVISOR_SPEED_CLASS", "ADVISOR_CONTEXT",
            "ADVISOR_MAX_CONTEXT", "ADVISOR_BATCH", "ADVISOR_IMAGE_SIZE", "ADVISOR_MAX_BATCH",
            "ADVISOR_CUDA_VISIBLE_DEVICES", "ADVISOR_CUDA_DEVICE_ORDER",
            "ADVISOR_TENSOR_PARALLEL_SIZE", "ADVISOR_GPU_MEMORY_UTILIZATION", "ADVISOR_GPU_LAYERS",
            "ADVISOR_KV_CACHE_DTYPE", "ADVISOR_TOTAL_BYTES", "ADVISOR_COMMAND", "ADVISOR_NOTE", "ADVISOR_REASON")


def env_lines(values: dict[str, Any], code: int) -> str:
    """Every ADVISOR_ variable (empty when it has no value), shell-quoted, then `(exit N)` so that `eval` of the
    text returns the check's exit code, in an `if` as under `set -euo pipefail`."""
    full = {k: values.get(k, "") for k in ENV_KEYS}
    body = "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in full.items())
    return body + f"(exit {int(code)})\n"


def error_env(message: str, code: int, model: str = "") -> str:
    """The env form of an error (bad input, usage, internal): the same variables, ADVISOR_FITS=0."""
    return env_lines({"ADVISOR_FITS": 0, "ADVISOR_EXIT_CODE": code, "ADVISOR_MODEL": model,
                      "ADVISOR_REASON": message}, code)


def hardware_summary(snapshot: Snapshot) -> HardwareSummary:
    from rules.units import gib

    what_if = any((g.uuid or "").startswith("WHATIF-") for g in snapshot.gpus)
    board = (snapshot.cpu.model or "").removesuffix(" (what-if)") if (snapshot.cpu.model or "").endswith(
        " (what-if)") and not snapshot.gpus else None
    from rules.devices import DISCRETE_ACCELERATORS

    amd = [a for a in snapshot.accelerators.devices if a.kind in DISCRETE_ACCELERATORS]  # planned like GPUs
    extra = [a.name for a in snapshot.accelerators.devices if a.name.endswith("(what-if)") and a not in amd]
    gpus = [{"index": g.index, "name": g.name, "memory_total_bytes": g.memory_total_bytes,
             "memory_free_bytes": g.memory_free_bytes, "compute_capability": g.compute_capability} for g in snapshot.gpus]
    counts: dict[str, int] = {}
    for g in snapshot.gpus:
        counts[g.name or "GPU"] = counts.get(g.name or "GPU", 0) + 1
    for a in amd:  # AMD GPUs (ROCm) and Gaudis, seen outside NVML
        counts[a.name] = counts.get(a.name, 0) + 1
    gpu_text = ", ".join(f"{n}× {name}" for name, n in counts.items()) or "no GPU"
    if snapshot.gpus or amd:
        frees = [gib(g.memory_free_bytes) for g in snapshot.gpus]
        frees += [gib(max(0, a.memory_total_bytes - (a.memory_used_bytes or 0))) if a.memory_total_bytes else "?"
                  for a in amd]
        gpu_text += f" ({' / '.join(frees)} free)"
    mem = snapshot.memory
    avail = mem.effective_available_bytes if mem.effective_available_bytes is not None else mem.available_bytes
    if what_if and any(g.unified_memory for g in snapshot.gpus):
        line = (f"{snapshot.host.hostname} (what-if): {gpu_text}; unified memory: GPU and CPU share "
                f"{gib(mem.total_bytes)} ({gib(avail)} usable)")
    else:
        host = f"{board} (what-if)" if board else snapshot.host.hostname + (" (what-if)" if what_if else "")
        line = f"{host}: {gpu_text}, RAM {gib(avail)} available"
    if extra:
        line += f"; {', '.join(extra)}"
    return HardwareSummary(hostname=snapshot.host.hostname, what_if=what_if, gpus=gpus, ram_total_bytes=mem.total_bytes,
                           ram_available_bytes=avail, line=line)


def build_result(spec: ModelSpec, snapshot: Snapshot, rec: Recommendation, method: str = "detailed") -> FitResult:
    from advisor.launch import settings_for

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
