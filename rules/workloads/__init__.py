"""One workload per kind of model, behind one interface: the request parameters it reads and its decision.

Text generation (token LLMs, with their vision or audio towers) is rules/select.py; vision models are
rules/workloads/vision.py. The other kinds (rules/kinds.py) say plainly that they are not modelled yet until their
workload module is added here: adding a kind is one module with a `Workload` and one line in WORKLOADS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from probes.schema import Snapshot
from rules import select
from rules.kinds import KINDS, PARAMETERS, model_summary, not_modelled
from rules.plan import Recommendation, Request
from rules.spec import ModelSpec


class Workload(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def parameters(self) -> tuple[str, ...]:  # the request fields this kind reads
        ...

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation: ...

    def problems(self, spec: ModelSpec, request: Request) -> list[str]:  # options that do not apply to this kind
        ...


@dataclass(frozen=True)
class TextGeneration:
    kind: str = "text-generation"
    parameters: tuple[str, ...] = ("context", "batch", "mode", "engine", "precision", "kv_dtype", "devices",
                                   "extend_context")

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation:
        return select.recommend(spec, snapshot, request, siblings=siblings)

    def problems(self, spec: ModelSpec, request: Request) -> list[str]:
        from rules import engines

        if spec.tower is None and request.image_size is not None:
            return [f"--image-size applies to vision models and multimodal LLMs; {spec.name} is a text-only LLM (use "
                    "--context and --prompt)"]
        if spec.tower is None and request.images:
            if spec.params_by_group.get("vision"):
                return [f"--images: advisor has no per-image model of {spec.name}'s vision tower (its weights are "
                        "counted; the image tokens come out of --context)"]
            return [f"--images applies to multimodal LLMs; {spec.name} has no vision tower"]
        if spec.tower is not None:
            from rules.towers import image_cost, images_of

            n = images_of(spec, request.images)
            tokens = n * image_cost(spec.tower, request.image_size).tokens
            context = select.default_context(spec, request)
            if tokens and tokens >= context:
                return [f"{n} image(s) of {tokens // n:,} tokens each take {tokens:,} tokens, more than the context of "
                        f"{context:,}: raise --context, or fewer or smaller images (--images, --image-size)"]
        if request.beams is not None or request.audio_seconds is not None or request.new_tokens is not None:
            return [f"--beams, --new-tokens and --audio-length apply to speech models; {spec.name} is a token LLM"]
        if request.steps is not None:
            return [f"--steps applies to diffusion models; {spec.name} is a token LLM"]
        if request.engine != "auto" and request.engine not in engines.REGISTRY:
            return [f"--engine {request.engine} runs other kinds of model (vision, speech, embedding or diffusion); "
                    f"for {spec.name}, a token LLM, choose from auto, {', '.join(engines.NAMES)}"]
        return []


@dataclass(frozen=True)
class KindWorkload:
    """A kind of model with its own workload module (its `decide` and its `problems`), imported when first asked
    (a token-LLM check never loads the other kinds' modules)."""

    kind: str
    parameters: tuple[str, ...]
    module: str  # rules/workloads/<module>.py

    def _module(self) -> Any:
        return importlib.import_module(f"rules.workloads.{self.module}")

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation:
        result: Recommendation = self._module().decide(spec, snapshot, request, siblings)
        return result

    def problems(self, spec: ModelSpec, request: Request) -> list[str]:
        found: list[str] = self._module().problems(spec, request)
        return found


@dataclass(frozen=True)
class NotModelled:
    kind: str
    parameters: tuple[str, ...] = ()

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation:
        return not_modelled(spec, request, model_summary(spec))

    def problems(self, spec: ModelSpec, request: Request) -> list[str]:
        return []


WORKLOADS: dict[str, Workload] = {
    **{k: NotModelled(k, (PARAMETERS[k],)) for k in KINDS if k != "text-generation"},
    "text-generation": TextGeneration(),
    "vision": KindWorkload("vision", ("image_size", "batch", "engine", "precision", "placement"), "vision"),
    "speech": KindWorkload("speech", ("audio_seconds", "batch", "beams", "new_tokens", "engine", "precision"),
                           "speech"),
    "embedding": KindWorkload("embedding", ("context", "batch", "engine", "precision"), "embedding"),
    "diffusion": KindWorkload("diffusion", ("image_size", "batch", "steps", "precision", "placement"), "diffusion"),
}


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request,
           siblings: select.Siblings | None = None) -> Recommendation:
    """The decision for any kind of model (its workload's).

    Raises:
        ValueError: an option that does not apply to this kind of model (e.g. --image-size for a token LLM).
    """
    workload = WORKLOADS[spec.kind]
    problems = workload.problems(spec, request)
    if problems:
        raise ValueError(problems[0])
    return workload.decide(spec, snapshot, request, siblings)
