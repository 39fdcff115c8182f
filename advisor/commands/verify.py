"""`advisor verify`: the plan fit would choose (or the one the options name), measured on this machine.

The model is built from its config with random weights in a child process (advisor.verify), one prefill and a
few decode steps run, and each term and phase of the estimate is set beside what the run really held. Exit codes:
0 measured, the estimate held · 1 the plan does not fit here (not run; --force runs it) · 2 bad input · 3 cannot
tell (an approximate model, unreadable hardware) · 4 not measurable here · 5 the run failed · 6 a run peaked above
the estimate.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import (
    EXIT_ABOVE_ESTIMATE,
    EXIT_OK,
    BadInputError,
    CannotTellError,
    DoesNotFitError,
    NotMeasurableError,
)
from advisor.verify.measurers import MEASURERS, installed
from rules.plan import Plan, Recommendation, Request
from rules.spec import ModelSpec

DEFAULT_DECODE_STEPS = 8
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Choice:
    plan: Plan
    why: str | None  # set when the plan measured is not the one fit chose


def unmeasurable(plan: Plan, spec: ModelSpec | None = None) -> str | None:
    """Why this plan cannot be measured here, or None."""
    if plan.mode != "inference":
        return f"verify measures inference; {plan.mode} plans are estimated only"
    from rules import engines

    eng = engines.get(plan.engine)
    measurer = MEASURERS.get(plan.engine)
    if measurer is None or not eng.verify_measures:
        if eng.python_package is not None and not installed(eng.python_package):
            return f"{eng.label} is not installed here, so its plans cannot be measured"
        return f"verify does not measure {eng.label} plans yet (it measures {', '.join(MEASURERS)})"
    return measurer.unmeasurable(plan, spec) if spec is not None else measurer.unmeasurable(plan, plan_spec(plan))


def plan_spec(plan: Plan) -> ModelSpec:
    from advisor.models.resolve import resolve

    return resolve(plan.model)


def choose(rec: Recommendation, request: Request, force: bool, spec: ModelSpec, snapshot: Any) -> Choice:
    """The plan to measure: fit's own when it can be measured; else, unless the options named the engine or
    precision, the best plan that can; a plan that does not fit only with --force."""
    fitting = ([rec.plan] if rec.plan is not None and rec.fits else []) + (list(rec.alternatives) if rec.fits else [])
    named = request.engine != "auto" or request.precision != "auto"
    if rec.cannot_tell and not force:
        raise CannotTellError(f"cannot tell whether {spec.name} fits here: {rec.cannot_tell}; verify does not run "
                              "what it cannot size (--force runs it anyway)")
    if not fitting:
        if not force:
            from advisor.results import build_result

            verdict = build_result(spec, snapshot, rec).reason()
            raise DoesNotFitError(f"{verdict}; verify does not run a plan that does not fit (it could run the machine "
                                  "out of memory): --force runs it anyway")
        fitting = _every_plan(spec, snapshot, request)
    first = fitting[0] if fitting else None
    reasons: list[str] = []
    for plan in fitting:
        why = unmeasurable(plan, spec)
        if why is None:
            if plan is first:
                return Choice(plan, None)
            if named:
                break
            assert first is not None
            return Choice(plan, f"fit's plan ({first.precision} with {first.engine}, {first.placement}) cannot be "
                                f"measured here: {reasons[0]}; measuring the best plan that can")
        reasons.append(why)
    if first is None:
        raise NotMeasurableError(f"no plan for {spec.name} here can be measured")
    others = [f"{p.engine}: {why}" for p, why in zip(fitting[1:], reasons[1:], strict=False) if why != reasons[0]]
    unique = list(dict.fromkeys(others))
    also = f"; the other plans: {'; '.join(unique[:3])}" if unique and not named else ""
    raise NotMeasurableError(f"{first.precision} with {first.engine} ({first.placement}) cannot be measured here: "
                             f"{reasons[0]}{also}")


def _every_plan(spec: ModelSpec, snapshot: Any, request: Request) -> list[Plan]:
    """--force with nothing that fits: every candidate plan, the smallest shortfall first."""
    from rules.select import evaluate

    results, _rejected, _devs, _ctx = evaluate(spec, snapshot, request)
    plans = [plan for plan, _pref, _job, _fn in results]
    return sorted(plans, key=lambda p: max(u.memory.total_bytes - (u.budget_bytes or 0) for u in p.per_device))


def lengths(plan: Plan, request: Request, steps: int) -> tuple[int, int]:
    """(prompt, decode steps): the prompt asked for (default: the context less the decode steps and the first
    token), so that prompt and generated tokens fill the plan's context and no more."""
    context = plan.context or 0
    if steps < 1:
        raise BadInputError(f"--decode-steps must be at least 1 (got {steps})")
    if steps + 2 > context:
        raise BadInputError(f"--decode-steps {steps} leaves no prompt in a context of {context:,} tokens")
    room = context - steps - 1
    return (min(request.prompt, room) if request.prompt else room), steps


def _decide(model: str, request_opts: dict[str, Any]) -> tuple[ModelSpec, Any, Request, Recommendation]:
    from advisor import api
    from advisor.models import catalog
    from advisor.models.resolve import resolve
    from advisor.requests import build_request, with_headroom_fraction
    from rules.workloads import decide

    asked = build_request(**request_opts)
    spec = resolve(model)
    if spec.kind != "text-generation":
        raise NotMeasurableError(f"verify measures token LLMs (transformers' generate); {spec.name} is a {spec.kind} "
                                 "model, estimated only")
    snapshot = api.probe()
    request = with_headroom_fraction(snapshot, asked)
    try:
        rec = decide(spec, snapshot, request, siblings=catalog.family_of)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    return spec, snapshot, request, rec


def run_verify(model: str, *, json_out: bool, force: bool, runs: int | None, decode_steps: int, timeout: float,
               record: bool, db: Path | None, sweep: bool, sweep_prompts: str | None, sweep_batches: str | None,
               **opts: Any) -> int:
    from advisor.commands.fit import _options

    request_opts, hw = _options(opts)
    if any(v is not None for v in hw.values()):
        raise BadInputError("verify measures this machine: --hardware, --gpu and --device describe another one "
                            "(use fit or check for a what-if)")
    if runs is not None and not 1 <= runs <= 50:
        raise BadInputError(f"--runs must be between 1 and 50 (got {runs})")
    if not 1 <= timeout <= 86400:
        raise BadInputError(f"--timeout must be between 1 and 86400 seconds (got {timeout:g})")
    spec, snapshot, request, rec = _decide(model, request_opts)
    choice = choose(rec, request, force, spec, snapshot)
    plan = choice.plan
    prompt, steps = lengths(plan, request, decode_steps)
    n = runs if runs is not None else (3 if plan.devices[0] == "cpu" else 1)
    if sweep or sweep_prompts or sweep_batches:
        from advisor.commands.verify_sweep import run_sweep

        return run_sweep(spec, snapshot, plan, request, choice.why, steps, n if runs is not None else 1, timeout,
                         sweep_prompts, sweep_batches, force, json_out)
    if choice.why and not json_out:
        sys.stderr.write(f"advisor verify: {choice.why}\n")
    from advisor.verify.session import measure, measured_record, verify_doc

    results = measure(spec, plan, request, prompt, steps, request.batch, n, timeout, progress=not json_out)
    doc = verify_doc(spec, snapshot, plan, request, choice.why, prompt, steps, results)
    if record:
        from advisor.state import default_inventory
        from advisor.verify.records import record as store

        where = db or default_inventory(create=True)
        doc["recorded"] = {"db": str(where), "id": store(where, snapshot, spec.name,
                                                         measured_record(plan, request, doc), doc)}
    if json_out:
        from advisor.output import emit_json

        emit_json(json.dumps(doc, indent=2))
    else:
        from advisor.output import console
        from advisor.render.verify_view import render_verify

        render_verify(doc, console())
    return EXIT_OK if doc["held"] else EXIT_ABOVE_ESTIMATE
