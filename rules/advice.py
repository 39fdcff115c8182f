"""When nothing fits: how much is missing, and the cheapest changes that would make it fit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from probes.schema import Snapshot
from rules import engines
from rules import placement as P
from rules.context import max_context
from rules.gpu_table import gpus as gpu_table
from rules.gpu_table import with_what_if_gpus
from rules.plan import Change, Plan, Recommendation, Request
from rules.ranking import plan_rank
from rules.spec import ModelSpec
from rules.units import gib

Decide = Callable[[ModelSpec, Snapshot, Request], Recommendation]


def _shortfall(plan: Plan) -> int:
    return max((u.memory.total_bytes - (u.budget_bytes or 0) for u in plan.per_device), default=0)


def advise_no_fit(rec: Recommendation, spec: ModelSpec, snapshot: Snapshot, request: Request,
                  results: list[tuple[Plan, int, P.Job, Any]], decide: Decide,
                  siblings: Sequence[ModelSpec] = ()) -> Recommendation:
    """What is missing, and the changes that would make it fit, cheapest first.

    `decide` is the decision without advice (rules.select's), asked once per change tried. `siblings` are
    candidate smaller models (the caller's catalog); only those of the same kind and family (or its distills)
    are offered.
    """
    ranked = sorted(results, key=lambda r: plan_rank(r[0], r[1]))
    missing = max(0, min(_shortfall(plan) for plan, *_ in results))
    changes: list[Change] = []

    for plan, _pref, job, fn in ranked:
        ctx = max_context(job, fn, spec)
        if ctx and ctx >= 256 and ctx < job.context:
            changes.append(Change(kind="context", description=f"--context {ctx}: fits with {plan.precision} / "
                                                              f"{plan.engine} ({plan.placement})"))
            break

    def attempt(kind: str, text: str, **update: Any) -> None:
        # an approximate model still gets its changes (the verdict itself stays "cannot tell")
        update.setdefault("allow_approximate", True)
        other = decide(spec, snapshot, request.model_copy(update=update))
        if other.fits and other.plan is not None:
            p = other.plan
            changes.append(Change(kind=kind, description=f"{text}: {p.precision} / {p.engine} ({p.placement}) needs "
                                                          f"{gib(p.memory.total_bytes)}", plan=p))

    if request.kv_dtype == "auto" and request.mode == "inference":
        offered: set[str] = set()
        for name, eng in engines.REGISTRY.items():
            wanted = request.engine == name or (request.engine == "auto" and eng.auto)
            for kv in eng.smaller_kv_dtypes if wanted else ():
                if kv not in offered:  # one engine per smaller KV type is enough to show the change
                    before = len(changes)
                    attempt("kv-dtype", f"--kv-dtype {kv} ({eng.label})", kv_dtype=kv, engine=name)
                    if len(changes) > before:
                        offered.add(kv)
    if request.precision != "auto":
        attempt("precision", "another precision (--precision auto)", precision="auto")
    if request.engine != "auto":
        attempt("engine", "another engine (--engine auto)", engine="auto")
    if request.devices is not None:
        attempt("offload", "all GPUs and the CPU (no --gpus)", devices=None)
    if request.mode == "finetune":
        attempt("mode", "--mode lora (a frozen bf16 base with small adapters)", mode="lora", precision="auto")
        if not any(c.kind == "mode" for c in changes):
            attempt("mode", "--mode qlora (adapters over a 4-bit NF4 base)", mode="qlora", precision="auto")
    elif request.mode == "lora":
        attempt("mode", "--mode qlora (adapters over a 4-bit NF4 base)", mode="qlora", precision="auto")

    smaller = _smaller_models(spec, snapshot, request, siblings, decide)
    singles = [plan.memory.total_bytes for plan, *_ in results if plan.placement in ("single-gpu", "unified", "cpu")]
    bigger = _bigger_gpus(spec, snapshot, request, min(singles) if singles else 0, decide)
    for name in smaller[:1]:
        changes.append(Change(kind="smaller-model", description=f"a smaller model of the family: {name}"))
    if bigger:
        changes.append(Change(kind="bigger-gpu", description=f"a GPU with more memory, e.g. {bigger[0]}"))
    return rec.model_copy(update={"missing_bytes": missing, "changes": changes, "smaller_models": smaller,
                                  "bigger_gpus": bigger})


def same_family(spec: ModelSpec, other: ModelSpec) -> bool:
    """Another model of the same kind and family (or a distill of it: "Qwen2.5 distill" of "Qwen2.5")."""
    family = spec.family or ""
    fam = other.family or ""
    return bool(family) and other.kind == spec.kind and (fam == family or fam.startswith(family + " "))


def _smaller_models(spec: ModelSpec, snapshot: Snapshot, request: Request, siblings: Sequence[ModelSpec],
                    decide: Decide) -> list[str]:
    """The largest siblings (same kind and family, or its distills) that fit here, in the caller's order on ties."""
    candidates = [(-s.params_total, order, s) for order, s in enumerate(siblings)
                  if same_family(spec, s) and s.name != spec.name and s.params_total < spec.params_total]
    out = []
    for *_, s in sorted(candidates, key=lambda t: (t[0], t[1])):
        r = decide(s, snapshot, request.model_copy(update={"context": request.context}))
        if r.fits and r.plan is not None:
            out.append(f"{s.name} ({s.params_total / 1e9:.1f} B params, {r.plan.precision} / {r.plan.engine})")
            if len(out) == 2:
                break
    return out


def _bigger_gpus(spec: ModelSpec, snapshot: Snapshot, request: Request, least_need: int, decide: Decide) -> list[str]:
    """The smallest GPUs of the built-in table on which one GPU alone would fit this request.

    `least_need` (the smallest single-device need seen) prunes GPUs that cannot possibly hold it.
    """
    from rules.devices import headroom
    from rules.gpu_table import gpu_budget_bytes
    req = request.model_copy(update={"devices": None, "allow_cpu": False})
    out: list[str] = []
    seen_sizes: set[int] = set()
    for entry in sorted(gpu_table(), key=lambda e: e["memory_bytes"]):
        if entry["vendor"] != "nvidia" or entry["memory_bytes"] in seen_sizes and len(out) >= 1:
            continue
        budget = gpu_budget_bytes(entry)
        if budget - headroom(budget, request) < least_need * 0.8:
            continue
        what_if = with_what_if_gpus(snapshot, entry, 1)
        r = decide(spec, what_if, req)
        if r.fits and r.plan is not None:
            out.append(f"{entry['name']} ({entry['memory_bytes'] / 1024**3:.0f} GiB): {r.plan.precision} / {r.plan.engine}")
            seen_sizes.add(entry["memory_bytes"])
            if len(out) == 3:
                break
    return out
