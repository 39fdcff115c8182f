"""`advisor fit`, `advisor check` and the no-argument overview."""

from __future__ import annotations

import json
import sys
from typing import Any

from advisor.errors import BadInputError, CannotTellError
from advisor.results import FitResult

FORMATS = ("text", "json", "env")


def _options(opts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request options, hardware options) from the CLI's keyword arguments."""
    hw = {"hardware": opts.pop("hardware", None), "gpu": opts.pop("gpu", None), "device": opts.pop("device", None)}
    return opts, hw


def run_fit(models: list[str], json_out: bool, verbose: bool, **opts: Any) -> int:
    from advisor import api
    from advisor.output import console, emit_json

    if not models:
        raise BadInputError("name at least one model (e.g. advisor fit llama3.1:8b)")
    request, hw = _options(opts)
    snapshot = _snapshot(hw)
    if len(models) == 1:
        result = api.recommend(models[0], snapshot=snapshot, **request)
        if json_out:
            emit_json(result.to_json())
        else:
            from advisor.render.fit_view import render_result

            render_result(result, console(), verbose)
        return 0
    results, unplaced, summary = api.recommend_many(models, snapshot=snapshot, **request)
    if json_out:
        doc = {"schema_version": "1.1", "fits": not unplaced, "summary": summary,
               "results": [json.loads(r.to_json()) for r in results],
               "unplaced": [{"model": m, "reason": why} for m, why in unplaced]}
        emit_json(json.dumps(doc, indent=2))
        return 0
    from advisor.render.fit_view import render_result

    con = console()
    con.print(f"Placing {len(models)} models together (memory adds up; each sees what the others leave):", style="bold")
    for r in results:
        render_result(r, con, verbose)
        con.print()
    for _model, why in unplaced:
        con.print(f"✘ {why}", style="bold red")
    con.print(("✔ " if not unplaced else "✘ ") + summary, style="bold green" if not unplaced else "bold red",
              soft_wrap=True, markup=False)
    return 0


TSV_COLUMNS = ("rank", "precision", "engine", "placement", "speed_class", "devices", "total_bytes",
               "typical_total_bytes", "max_context", "quality")


def run_fit_tsv(models: list[str], **opts: Any) -> int:
    """The plan and its runners-up, one a line, tab-separated with a header: for grep, cut and spreadsheets."""
    from advisor import api

    if len(models) != 1:
        raise BadInputError("--format tsv lists one model's plans; name one model")
    request, hw = _options(opts)
    result = api.recommend(models[0], snapshot=_snapshot(hw), **request)
    sys.stdout.write("\t".join(TSV_COLUMNS) + "\n")
    plans = ([result.plan] if result.plan is not None else []) + list(result.alternatives)
    for rank, p in enumerate(plans, 1):
        values = (rank, p.precision, p.engine, p.placement, p.speed_class, ",".join(p.devices), p.memory.total_bytes,
                  p.memory.typical_total_bytes if p.memory.typical_total_bytes is not None else "",
                  p.max_context or "", p.quality.replace("\t", " "))
        sys.stdout.write("\t".join(str(v) for v in values) + "\n")
    return 0


def run_fit_html(models: list[str], output: Any, **opts: Any) -> int:
    """One model's plan as a one-page HTML picture, on stdout or written (atomically) to `output`."""
    from advisor import api
    from advisor.render.fit_html import to_html
    from advisor.snapshots import write_atomic

    if len(models) != 1:
        raise BadInputError("--format html pictures one model's plan; name one model")
    request, hw = _options(opts)
    page = to_html(api.recommend(models[0], snapshot=_snapshot(hw), **request))
    if output is None:
        sys.stdout.write(page)
        return 0
    try:
        write_atomic(output, page)
    except OSError as exc:
        raise BadInputError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    return 0


def _snapshot(hw: dict[str, Any]) -> Any:
    from advisor.requests import hardware

    return hardware(hardware_file=hw["hardware"], gpu=hw["gpu"], device=hw.get("device"))


def run_check(model: str, fmt: str, json_out: bool, **opts: Any) -> int:
    """The pre-flight: exit 0 fits, 1 does not fit, 2 bad input, 3 cannot tell. With --format env every
    outcome, errors included, prints the ADVISOR_ variables and `(exit N)`."""
    from advisor import api
    from advisor.output import emit_json

    fmt = "json" if json_out else fmt.lower()
    if fmt not in FORMATS:
        raise BadInputError(f"--format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    request, hw = _options(opts)
    if fmt == "env":
        from advisor.output import env_on_error

        env_on_error(model)
    result: FitResult = api.check(model, snapshot=_snapshot(hw), **request)
    code = result.exit_code
    line = result.reason()
    from advisor.output import _state

    if fmt == "json":
        emit_json(result.to_json())
    elif fmt == "env":
        sys.stdout.write(result.env())
    elif not _state["quiet"]:
        sys.stdout.write(line + "\n")
    if code != 0 and not _state["quiet"]:
        sys.stderr.write(f"advisor: {line}\n")  # scripts capture or drop stdout; a person still sees why
    return code


def run_overview(json_out: bool) -> int:
    from advisor import api
    from advisor.models import catalog
    from advisor.output import console, emit_json
    from advisor.results import hardware_summary

    snapshot = api.probe()
    rows: list[tuple[str, FitResult | None, str | None]] = []
    for name in catalog.featured():
        try:
            rows.append((name, api.recommend(name, snapshot=snapshot), None))
        except BadInputError as exc:
            rows.append((name, None, str(exc)))
    if json_out:
        doc = {"schema_version": "1.0", "hardware": hardware_summary(snapshot).model_dump(),
               "models": [json.loads(r.to_json()) if r else {"model": {"name": n}, "error": e} for n, r, e in rows]}
        emit_json(json.dumps(doc, indent=2))
        return 0
    from advisor.render.fit_view import render_overview

    render_overview(rows, hardware_summary(snapshot).line, console())
    return 0


__all__ = ["CannotTellError", "run_check", "run_fit", "run_overview"]
