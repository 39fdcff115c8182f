"""`advisor verify`'s text view: the plan measured, each term and phase estimated against measured, the verdict."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _err(e: float | None) -> str:
    return "-" if e is None else f"{e * 100:+.1f} %"


def _estimate(t: dict[str, Any]) -> str:
    if t.get("estimate_worst_bytes") is not None and t["estimate_worst_bytes"] != t["estimate_bytes"]:
        return f"{t['estimate_bytes'] / 2**30:.2f}-{t['estimate_worst_bytes'] / 2**30:.2f} GiB"
    return _gib(t["estimate_bytes"])


def _measured(t: dict[str, Any]) -> str:
    runs = t["measured_bytes"]
    if len(runs) == 1:
        return _gib(runs[0])
    return f"{min(runs) / 2**30:.2f}-{max(runs) / 2**30:.2f} GiB"


def terms_table(terms: list[dict[str, Any]], runs: int) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("term")
    table.add_column("estimate", justify="right")
    table.add_column(f"measured ({runs} run{'s' if runs != 1 else ''})", justify="right")
    table.add_column("error (median)", justify="right")
    table.add_column("")
    for t in terms:
        table.add_row(t["term"], _estimate(t), _measured(t), _err(t["error"]), t.get("note") or "")
    return table


def render_verify(doc: dict[str, Any], con: Any) -> None:
    plan, run = doc["plan"], doc["measured_run"]
    con.print(f"Machine: {doc['hardware']}", soft_wrap=True, markup=False)
    con.print(f"{doc['model']['name']}: {plan['precision']} with {plan['engine']}, {plan['placement']} on "
              f"{', '.join(plan['devices'])} (random weights built from its config; nothing downloaded)",
              soft_wrap=True, markup=False)
    con.print(f"measured: prefill of {run['prompt_tokens']:,} tokens, then {run['decode_steps']} decode steps, batch "
              f"{run['batch']}; {run['runs']} fresh process{'es' if run['runs'] != 1 else ''}", soft_wrap=True,
              markup=False)
    con.print(terms_table([*doc["terms"], doc["peak"]], run["runs"]))
    peak = doc["peak"]
    limit = peak["estimate_worst_bytes"] if peak.get("estimate_worst_bytes") is not None else peak["estimate_bytes"]
    if doc["held"]:
        line = (f"✔ the estimate held: the highest run peaked at {_gib(peak['max_bytes'])}, the estimate is "
                f"{_gib(limit)}")
        con.print(line, style="bold green", soft_wrap=True, markup=False)
    else:
        line = (f"✘ a run peaked at {_gib(peak['max_bytes'])}, above the estimate of {_gib(limit)}: record it "
                "(--record) and fit and check will not estimate this configuration below it")
        con.print(line, style="bold red", soft_wrap=True, markup=False)
    if plan.get("typical_total_bytes") is not None:
        con.print(f"the plan's verdict (the whole context as prefill and cache at once): "
                  f"{_gib(plan['typical_total_bytes'])} typical, {_gib(plan['total_bytes'])} worst", soft_wrap=True,
                  markup=False)
    else:
        con.print(f"the plan's verdict (the whole context as prefill and cache at once): {_gib(plan['total_bytes'])}",
                  soft_wrap=True, markup=False)
    for note in doc.get("notes") or []:
        con.print(f"note: {note}", soft_wrap=True, markup=False)
    if doc.get("recorded"):
        con.print(f"recorded in {doc['recorded']['db']} (#{doc['recorded']['id']}): fit and check use it for this "
                  "configuration on this machine", soft_wrap=True, markup=False)
