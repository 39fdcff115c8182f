"""The Python API for launch scripts: the same objects the CLI renders.

    import advisor
    snap = advisor.probe()
    result = advisor.recommend("Qwen/Qwen2.5-7B-Instruct", context=8192)
    if result.fits: print(result.plan.precision, result.settings["command"])
    raise SystemExit(advisor.check("llama3.1:8b", precision="bf16").exit_code)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.errors import BadInputError
from advisor.results import FitResult, build_result
from probes.schema import Snapshot


def probe(*, with_torch: bool = False) -> Snapshot:
    """Take a snapshot of this machine (GPUs through NVML, RAM, CPU, disk; torch in a child process if asked)."""
    from advisor.version import __version__
    from probes.snapshot import take_snapshot

    return take_snapshot(__version__, with_torch=with_torch)


def _snapshot(snapshot: Snapshot | None, hardware: str | Path | None, gpu: str | None,
              device: str | None = None) -> Snapshot:
    from advisor.requests import hardware as load_hardware

    return load_hardware(hardware_file=hardware, gpu=gpu, base=snapshot, device=device)


def recommend(model: str, *, snapshot: Snapshot | None = None, hardware: str | Path | None = None,
              gpu: str | None = None, device: str | None = None, **request: Any) -> FitResult:
    """The best plan for `model` here (or on `snapshot` / a `hardware` file / what-if `gpu`).

    Keyword arguments are the CLI's options: context, batch, mode, engine, precision, kv_dtype, headroom,
    gpus ("0,1", 0 or [0, 1]: NVML indices), method, gpu_memory_utilization, lora_rank, allow_approximate,
    extend_context.

    Raises:
        BadInputError: unknown model, invalid option, unreadable hardware file.
    """
    from advisor.models import catalog
    from advisor.models.resolve import resolve
    from advisor.requests import build_request, with_headroom_fraction
    from rules.workloads import decide

    asked = build_request(**request)
    spec = resolve(model)
    snap = _snapshot(snapshot, hardware, gpu, device)
    req = with_measurements(snap, spec.name, with_headroom_fraction(snap, asked))
    try:
        rec = decide(spec, snap, req, siblings=catalog.family_of)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    return build_result(spec, snap, rec, method=req.method)


def with_measurements(snapshot: Snapshot, model: str, request: Any) -> Any:
    """The request with the peaks `advisor verify --record` stored for this model on this machine's devices (the
    plans of the same configuration are never below them); unchanged when there is no inventory."""
    from advisor.state import default_inventory

    db = default_inventory()
    if not db.is_file():
        return request
    from advisor.verify.records import lookup

    found = lookup(db, snapshot, model)
    return request.model_copy(update={"measured": found}) if found else request


def check(model: str, **kwargs: Any) -> FitResult:
    """Same as recommend(); use `.exit_code` (0 fits, 1 does not fit, 3 cannot tell) and `.reason()`."""
    return recommend(model, **kwargs)


def recommend_many(models: list[str], *, snapshot: Snapshot | None = None, hardware: str | Path | None = None,
                   gpu: str | None = None, device: str | None = None,
                   **request: Any) -> tuple[list[FitResult], list[tuple[str, str]], str]:
    """Several models on one machine at once (memory adds up): results for the placed, (model, why) for the rest,
    and a one-line summary."""
    from advisor.models.resolve import resolve
    from advisor.requests import build_request, with_headroom_fraction
    from rules.joint import place_models

    asked = build_request(**request)
    specs = {m: resolve(m) for m in models}
    snap = _snapshot(snapshot, hardware, gpu, device)
    req = with_headroom_fraction(snap, asked)
    try:
        joint = place_models(list(specs.values()), snap, req)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    by_name = {s.name: s for s in specs.values()}
    results = [build_result(by_name[r.model["name"]], snap, r) for r in joint.placed]
    return results, joint.unplaced, joint.summary
