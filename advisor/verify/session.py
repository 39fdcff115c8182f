"""One measurement of a plan: the child's job and environment, the runs, and the document that sets them beside the
estimate (advisor verify and its sweep share it)."""

from __future__ import annotations

import statistics
import sys
from typing import Any

from advisor.errors import NotMeasurableError, RunFailedError
from advisor.verify.measurers import job_for
from rules.plan import Measured, Plan, Request
from rules.spec import ModelSpec


def child_env(plan: Plan) -> dict[str, str]:
    env = {}
    if plan.cuda_visible_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = plan.cuda_visible_devices
    if plan.cuda_device_order is not None:
        env["CUDA_DEVICE_ORDER"] = plan.cuda_device_order
    return env


def measure(spec: ModelSpec, plan: Plan, request: Request, prompt: int, steps: int, batch: int, runs: int, timeout_s: float,
            progress: bool) -> list[dict[str, Any]]:
    from advisor.verify.config import config_for
    from advisor.verify.run import RunFailed, run_child

    config = config_for(spec)
    if config is None:
        raise NotMeasurableError(f"{spec.name} has no config.json advisor can build from (it came from "
                                 f"{spec.source}); name its directory or its Hugging Face repo")
    if plan.devices[0] == "cpu":
        from advisor.verify import rss

        why = rss.supported()
        if why:
            raise NotMeasurableError(f"the CPU's peak memory cannot be measured here: {why}")
    job = job_for(spec, plan, request, config, prompt, steps, batch)
    out = []
    for i in range(runs):
        try:
            result = run_child(job, timeout_s, child_env(plan))
        except RunFailed as exc:
            if exc.not_buildable:
                raise NotMeasurableError(str(exc)) from None
            raise RunFailedError(f"run {i + 1} of {runs}: {exc}") from None
        out.append(result)
        if progress:
            peak = max(v.get("peak_rss_bytes") or v.get("peak_reserved_bytes") or 0
                       for k, v in result["phases"].items() if isinstance(v, dict))
            sys.stderr.write(f"advisor verify: run {i + 1}/{runs}: peak {peak / 2**30:.2f} GiB "
                             f"(prefill {result['phases']['prefill_seconds']:.1f} s)\n")
    return out


def estimate(spec: ModelSpec, plan: Plan, request: Request, prompt: int, steps: int, batch: int) -> Any:
    from rules.phases import phases
    from rules.precisions import BY_NAME

    ph = phases(spec, BY_NAME[plan.precision], plan.engine, prompt, prompt + steps, batch, request.kv_dtype,
                plan.devices[0] == "cpu")
    if ph is None:  # pragma: no cover - every measurable engine models its phases
        raise NotMeasurableError(f"{plan.engine} does not estimate its phases")
    return ph


def verify_doc(spec: ModelSpec, snapshot: Any, plan: Plan, request: Request, choice_why: str | None, prompt: int,
               steps: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    from advisor.results import hardware_summary
    from advisor.verify.compare import compare

    prefill, decode = estimate(spec, plan, request, prompt, steps, request.batch)
    cmp = compare(prefill, decode, runs, prompt, steps, plan.devices[0] != "cpu")
    return {
        "schema_version": "1.0",
        "model": {"name": spec.name, "params_total": spec.params_total, "exact": spec.exact, "source": spec.source},
        "hardware": hardware_summary(snapshot).line,
        "host": {"hostname": snapshot.host.hostname, "os": snapshot.host.os, "driver": snapshot.nvml.driver_version,
                 "device": next((u.name for u in plan.per_device if u.device == plan.devices[0]), plan.devices[0]),
                 "cpu": snapshot.cpu.model, "ram_total_bytes": snapshot.memory.total_bytes},
        "plan": {"precision": plan.precision, "engine": plan.engine, "placement": plan.placement,
                 "devices": plan.devices, "context": plan.context, "prompt": plan.prompt, "batch": plan.batch,
                 "kv_dtype": plan.kv_dtype, "fits": plan.fits, "total_bytes": plan.memory.total_bytes,
                 "typical_total_bytes": plan.memory.typical_total_bytes},
        "chosen_because": choice_why,
        "measured_run": {"prompt_tokens": prompt, "decode_steps": steps, "batch": request.batch, "runs": len(runs),
                         "conditions": runs[0].get("conditions", {})},
        "terms": [t.to_json() for t in cmp.terms],
        "peak": cmp.peak.to_json(),
        "held": cmp.held,
        "notes": cmp.notes,
        "runs": runs,
    }


def measured_record(plan: Plan, request: Request, doc: dict[str, Any]) -> Measured:
    from advisor.verify.records import now

    peaks = doc["peak"]["measured_bytes"]
    return Measured(precision=plan.precision, engine=plan.engine, device=plan.devices[0], context=plan.context or 0,
                    prompt=plan.prompt or plan.context or 0, batch=plan.batch, kv_dtype=request.kv_dtype,
                    peak_bytes=max(peaks), median_bytes=int(statistics.median(peaks)), runs=len(peaks),
                    measured_at=now())
