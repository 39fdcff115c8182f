"""`advisor verify --sweep`: the same plan measured over a small grid of prompt lengths and batch sizes, with the
error of every term in every cell and its range over the grid: where the model and the machine disagree."""

from __future__ import annotations

import json
import sys
from typing import Any

from advisor.errors import EXIT_ABOVE_ESTIMATE, EXIT_OK, BadInputError
from rules.plan import Plan, Request
from rules.spec import ModelSpec

SWEEP_BATCHES = (1, 4)


def _ints(text: str, what: str) -> list[int]:
    from advisor.requests import parse_context

    out = []
    for part in text.split(","):
        value = parse_context(part.strip(), what)
        if value is None or value < 1:
            raise BadInputError(f"{what}: {part.strip()!r} is not a positive number")
        out.append(int(value))
    return sorted(set(out))


def grid(plan: Plan, steps: int, prompts: str | None, batches: str | None) -> list[tuple[int, int]]:
    """(prompt, batch) cells: by default three prompts up to the plan's context (1/16, 1/4 and all of it, less the
    decode steps) at batch 1 and 4."""
    room = (plan.context or 0) - steps - 1
    if prompts:
        ps = _ints(prompts, "--sweep-prompts")
        too_long = [p for p in ps if p > room]
        if too_long:
            raise BadInputError(f"--sweep-prompts {too_long[0]:,}: with {steps} decode steps the plan's context of "
                                f"{plan.context:,} holds a prompt of at most {room:,} tokens")
    else:
        ps = sorted({max(16, room // 16), max(16, room // 4), room})
    bs = _ints(batches, "--sweep-batches") if batches else list(SWEEP_BATCHES)
    return [(p, b) for b in bs for p in ps]


def run_sweep(spec: ModelSpec, snapshot: Any, plan: Plan, request: Request, why: str | None, steps: int, runs: int,
              timeout: float, prompts: str | None, batches: str | None, force: bool, json_out: bool) -> int:
    from advisor.verify.session import estimate, measure, verify_doc

    cells, skipped = [], []
    budget = plan.per_device[0].budget_bytes or 0
    for prompt, batch in grid(plan, steps, prompts, batches):
        req = request.model_copy(update={"batch": batch})
        _prefill, decode = estimate(spec, plan, req, prompt, steps, batch)
        worst = max(_prefill.worst, decode.worst)
        if worst > budget and not force:
            skipped.append({"prompt_tokens": prompt, "batch": batch, "estimate_bytes": worst,
                            "reason": f"needs {worst / 2**30:.2f} GiB, {budget / 2**30:.2f} GiB usable"})
            continue
        if not json_out:
            sys.stderr.write(f"advisor verify: prompt {prompt:,} x batch {batch}\n")
        results = measure(spec, plan, req, prompt, steps, batch, runs, timeout, progress=False)
        doc = verify_doc(spec, snapshot, plan.model_copy(update={"batch": batch}), req, why, prompt, steps, results)
        cells.append({"prompt_tokens": prompt, "batch": batch, "terms": doc["terms"], "peak": doc["peak"],
                      "held": doc["held"], "conditions": doc["measured_run"]["conditions"]})
    summary: dict[str, dict[str, float | None]] = {}
    for cell in cells:
        for t in [*cell["terms"], cell["peak"]]:
            if t["error"] is None:
                continue
            s = summary.setdefault(t["term"], {"min_error": t["error"], "max_error": t["error"]})
            s["min_error"] = min(s["min_error"] or 0.0, t["error"])
            s["max_error"] = max(s["max_error"] or 0.0, t["error"])
    held = all(c["held"] for c in cells)
    doc = {"schema_version": "1.0", "model": spec.name,
           "plan": {"precision": plan.precision, "engine": plan.engine, "placement": plan.placement,
                    "devices": plan.devices, "context": plan.context},
           "decode_steps": steps, "runs_per_cell": runs, "cells": cells, "skipped": skipped, "errors": summary,
           "held": held}
    if json_out:
        from advisor.output import emit_json

        emit_json(json.dumps(doc, indent=2))
    else:
        _render(doc)
    return EXIT_OK if held else EXIT_ABOVE_ESTIMATE


def _render(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from advisor.output import console

    con = console()
    p = doc["plan"]
    con.print(f"{doc['model']}: {p['precision']} with {p['engine']} on {', '.join(p['devices'])}; sweep of "
              f"{len(doc['cells'])} cells, {doc['runs_per_cell']} run(s) each, {doc['decode_steps']} decode steps",
              soft_wrap=True, markup=False)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("prompt", "batch", "peak estimate", "measured", "peak error", "weights", "KV", "runtime",
                "prefill working", "held"):
        table.add_column(col, justify="right")
    for c in doc["cells"]:
        by = {t["term"]: t for t in c["terms"]}
        pk = c["peak"]
        est = (f"{pk['estimate_bytes'] / 2**30:.2f}-{pk['estimate_worst_bytes'] / 2**30:.2f}"
               if pk.get("estimate_worst_bytes") else f"{pk['estimate_bytes'] / 2**30:.2f}")
        table.add_row(f"{c['prompt_tokens']:,}", str(c["batch"]), est + " GiB", f"{pk['max_bytes'] / 2**30:.2f} GiB",
                      _pct(pk["error"]), *(_pct(by[k]["error"]) for k in ("weights", "KV cache", "runtime",
                                                                           "prefill working")),
                      "✔" if c["held"] else "✘")
    con.print(table)
    for term, s in doc["errors"].items():
        con.print(f"  {term}: error {_pct(s['min_error'])} to {_pct(s['max_error'])} over the grid", markup=False)
    for s in doc["skipped"]:
        con.print(f"  skipped prompt {s['prompt_tokens']:,} x batch {s['batch']}: {s['reason']} (--force runs it)",
                  markup=False)
    con.print(("✔ the estimate held in every cell" if doc["held"] else "✘ some cell peaked above the estimate"),
              style="bold green" if doc["held"] else "bold red", markup=False)


def _pct(e: float | None) -> str:
    return "-" if e is None else f"{e * 100:+.1f} %"
