"""Kinds of model. Each kind is a workload (rules/workloads.py) with its own request parameters and memory
function; a token LLM is the text-generation workload. Until a kind's workload is built, advisor says plainly that
its plan is not modelled: no token context, no KV cache, no causal-LM loader is made up for it (check: exit 3)."""

from __future__ import annotations

from typing import Literal

from rules.plan import Plan, Recommendation, Rejected, Request
from rules.spec import ModelSpec

Kind = Literal["text-generation", "embedding", "vision", "speech", "diffusion"]
KINDS: tuple[Kind, ...] = ("text-generation", "embedding", "vision", "speech", "diffusion")
LABELS: dict[str, str] = {
    "text-generation": "text-generation (token LLM)",
    "embedding": "encoder / embedding",
    "vision": "vision (classification, detection, segmentation)",
    "speech": "speech (encoder-decoder)",
    "diffusion": "image generation (diffusion)",
}
# what a person would pass for such a model once its workload exists (the request parameters of that kind)
PARAMETERS: dict[str, str] = {
    "embedding": "sequence length and batch",
    "vision": "image size and batch",
    "speech": "audio length, batch and beams",
    "diffusion": "resolution, batch and which components stay resident",
}


def kind_from_modality(modality: str | None) -> Kind:
    """The kind of a catalog entry that is not a token LLM, from the modality it records."""
    return {"vision": "vision", "audio": "speech", "speech": "speech", "image-generation": "diffusion",
            "vision-language": "embedding", "embedding": "embedding"}.get(modality or "", "vision")  # type: ignore[return-value]


def model_summary(spec: ModelSpec, max_context: int | None = None) -> dict[str, object]:
    """The model as every Recommendation names it."""
    return {"name": spec.name, "params_total": spec.params_total, "params_active": spec.params_active,
            "exact": spec.exact, "source": spec.source, "max_context": max_context}


def shortfall_rejection(plan: Plan, what: str) -> Rejected:
    """A one-device plan that does not fit, as a rejection: what it needs for `what` against what is usable."""
    from rules.units import gib

    use = plan.per_device[0]
    return Rejected(precision=plan.precision, engine=plan.engine, placement=plan.devices[0], reason=(
        f"{plan.precision} / {plan.engine} on {use.name}: needs {gib(use.memory.total_bytes)} for {what}, "
        f"{gib(use.budget_bytes)} usable ({gib(use.free_bytes)} free minus headroom)"))


def not_modelled(spec: ModelSpec, request: Request, model: dict[str, object]) -> Recommendation:
    """The outcome for a kind whose workload is not built yet: cannot tell, and why, with nothing invented."""
    label = LABELS.get(spec.kind, spec.kind)
    needs = PARAMETERS.get(spec.kind, "its own inputs")
    article = "an" if label[0] in "aeiou" else "a"
    why = (f"{spec.name} is {article} {label} model ({spec.params_total / 1e6:,.1f} M parameters); its memory depends on "
           f"{needs}, which advisor does not model yet, so it gives no plan (a token context, KV cache or causal-LM "
           "loader does not apply)")
    return Recommendation(model=model, request=request.model_copy(update={"context": None}), fits=False, plan=None,
                          rejected=[Rejected(precision="any", engine="any", reason=why)], cannot_tell=why)
