"""One workload per kind of model, behind one interface: the request parameters it reads and its decision.

Text generation (token LLMs, with their vision or audio towers) is rules/select.py. The other kinds (rules/kinds.py)
say plainly that they are not modelled yet until their workload module is added here: adding a kind is one
module with a `Workload` and one line in WORKLOADS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from probes.schema import Snapshot
from rules import select
from rules.kinds import KINDS, PARAMETERS, not_modelled
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


@dataclass(frozen=True)
class TextGeneration:
    kind: str = "text-generation"
    parameters: tuple[str, ...] = ("context", "batch", "mode", "engine", "precision", "kv_dtype", "devices",
                                   "extend_context")

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation:
        return select.recommend(spec, snapshot, request, siblings=siblings)


@dataclass(frozen=True)
class NotModelled:
    kind: str
    parameters: tuple[str, ...] = ()

    def decide(self, spec: ModelSpec, snapshot: Snapshot, request: Request,
               siblings: select.Siblings | None = None) -> Recommendation:
        model = {"name": spec.name, "params_total": spec.params_total, "params_active": spec.params_active,
                 "exact": spec.exact, "source": spec.source, "max_context": None}
        return not_modelled(spec, request, model)


WORKLOADS: dict[str, Workload] = {"text-generation": TextGeneration(),
                                  **{k: NotModelled(k, (PARAMETERS[k],)) for k in KINDS if k != "text-generation"}}


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request,
           siblings: select.Siblings | None = None) -> Recommendation:
    """The decision for any kind of model (its workload's)."""
    return WORKLOADS[spec.kind].decide(spec, snapshot, request, siblings)
