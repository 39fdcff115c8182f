"""The human view of a recommendation: machine line, verdict, memory bar per device, settings, runners-up,
rejections, and when nothing fits, what would."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from advisor.results import FitResult, capacity_text, needs_text, request_text
from rules.plan import DeviceUse, Plan
from rules.ranking import SPEED_CLASS_TEXT
from rules.units import gib

BAR = 32
NARROW = 100  # below this many columns the runners-up are lines, not a table
COLOURS = (("weights", "blue"), ("KV cache", "green"), ("activations", "yellow"), ("runtime", "magenta"))


def params_text(n: int) -> str:
    """ "8.03 B", "25.6 M": billions from one billion up, millions below."""
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


def device_bar(use: DeviceUse, width: int = BAR) -> Text:
    """Weights / KV / activations / runtime against the device's free memory; headroom marked."""
    scale = max(use.free_bytes or 0, use.memory.total_bytes, 1)
    parts = (use.memory.weights_bytes, use.memory.kv_cache_bytes, use.memory.activations_bytes, use.memory.runtime_bytes)
    symbols = ("█", "▓", "▒", "░")
    bar = Text()
    used = 0
    for (_label, colour), n, sym in zip(COLOURS, parts, symbols, strict=True):
        cells = round(width * n / scale)
        bar.append(sym * cells, style=colour)
        used += cells
    budget_cells = round(width * (use.budget_bytes or 0) / scale)
    if budget_cells > used:
        bar.append("·" * (budget_cells - used), style="dim")
        used = budget_cells
    if width > used:
        bar.append(" " * (width - used), style="on grey23")
    return bar


def _device_name(use: DeviceUse) -> str:
    if use.kind == "accelerator":
        return f"{use.name} (host RAM)"
    return "CPU RAM" if use.kind == "cpu" else f"GPU {use.device[4:]} {use.name}"


def _room(plan: Plan) -> str:
    """ "max context 32,768" / "max batch 64" for a runner-up."""
    if plan.workload in ("vision", "speech", "embedding", "diffusion"):
        return f"max batch {plan.max_batch:,}" if plan.max_batch else "max batch ?"
    return f"max context {plan.max_context:,}" if plan.max_context else "max context ?"


def render_plan_memory(plan: Plan, console: Console) -> None:
    for use in plan.per_device:
        line = Text(f"  {_device_name(use):<30} ")  # the whole name, however long
        line.append_text(device_bar(use))
        line.append(f" {needs_text(use.memory)}")
        console.print(line, no_wrap=True, overflow="fold")
        free = f"of {gib(use.budget_bytes)} usable ({gib(use.free_bytes)} free)"
        if use.reserved_bytes is not None:
            free += f"; {plan.engine} reserves {gib(use.reserved_bytes)}"
        m = use.memory
        kv = f"KV cache {gib(m.kv_cache_bytes, 2)}, " if plan.workload == "text-generation" else ""
        console.print(f"    {free}: weights {gib(m.weights_bytes, 2)}, {kv}"
                      f"activations {gib(m.activations_bytes, 2)}, runtime {gib(m.runtime_bytes, 2)}", style="dim")


def render_settings(result: FitResult, console: Console) -> None:
    s = result.settings or {}
    env = " ".join(f"{k}={v}" for k, v in (s.get("env") or {}).items())
    console.print(Text("Settings to paste", style="bold"))
    if "command" in s:
        console.print(f"  {env + ' ' if env else ''}{s['command']}", soft_wrap=True, highlight=False, markup=False)
    if "python" in s:
        if env:
            console.print(f"  # run with {env}", markup=False)
        for line in s["python"].splitlines():
            console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
    if "modelfile" in s:
        console.print("  # Ollama Modelfile", markup=False)
        for line in s["modelfile"].splitlines():
            console.print(f"  {line}", soft_wrap=True, markup=False)
    if s.get("note"):
        console.print(f"  # {s['note']}", markup=False)


def render_result(result: FitResult, console: Console, verbose: bool = False) -> None:
    console.print(Text(f"Machine: {result.hardware.line}", style="dim"))
    m = result.model
    exact = "exact" if m.exact else "APPROXIMATE"
    active = f", {params_text(m.params_active)} active" if m.params_active != m.params_total else ""
    req = result.request
    console.print(Text(f"{m.name}: {params_text(m.params_total)} parameters ({exact}{active})", style="bold"))
    plan = result.plan
    console.print(Text(request_text(req, plan), style="dim"))
    if result.cannot_tell:
        console.print(Text(f"? cannot tell: {result.cannot_tell}", style="bold yellow"), soft_wrap=True)
        if plan is not None:
            console.print(Text(f"  the estimate (not a verdict): {plan.precision} with {plan.engine}, {plan.placement} "
                               f"({SPEED_CLASS_TEXT[plan.speed_class]})", style="yellow"))
            render_plan_memory(plan, console)
    elif result.fits and plan is not None:
        mark = "≈ fits (APPROXIMATE model): " if plan.approximate else "✔ fits: "
        verdict = Text(mark, style="bold yellow" if plan.approximate else "bold green")
        verdict.append(f"{plan.precision} with {plan.engine}, {plan.placement}", style="bold")
        verdict.append(f" ({SPEED_CLASS_TEXT[plan.speed_class]}); {capacity_text(plan)}")
        console.print(verdict)
        verdict = Text(f"  quality: {plan.quality}", style="dim")
        console.print(verdict)
        render_plan_memory(plan, console)
        if plan.memory.prefill_bytes is not None and plan.memory.decode_bytes is not None:
            console.print(f"  phases: prefill of {plan.prompt or plan.context or 0:,} tokens "
                          f"{gib(plan.memory.prefill_bytes, 2)}, end of decode at {plan.context or 0:,} tokens "
                          f"{gib(plan.memory.decode_bytes, 2)}: the larger is the peak", style="dim")
        split = [u for u in plan.per_device if u.memory.prefill_bytes is not None and u.memory.decode_bytes is not None]
        if len(split) > 1:
            each = "; ".join(f"{u.device} {gib(u.memory.prefill_bytes or 0, 2)} / {gib(u.memory.decode_bytes or 0, 2)}"
                             for u in split)
            console.print(f"  phases per GPU (prefill of {plan.prompt or 0:,} tokens / end of decode at "
                          f"{plan.context or 0:,}): {each}; each GPU's larger is its peak", style="dim")
        for note in plan.notes:
            console.print(f"  note: {note}", style="yellow")
    elif result.missing_bytes:
        console.print(Text(f"✘ does not fit: {gib(result.missing_bytes)} short on the tightest device", style="bold red"))
    else:
        why = result.rejected[0].reason if result.rejected else "no plan runs on these devices"
        console.print(Text(f"✘ does not fit: {why}", style="bold red"), soft_wrap=True)
    if result.rule_of_thumb_bytes is not None:
        detailed = gib(plan.memory.total_bytes) if plan else "n/a"
        console.print(f"  rule of thumb (params × bytes × 2): {gib(result.rule_of_thumb_bytes)} "
                      f"({result.rule_of_thumb_bytes:,} bytes); detailed estimate: {detailed}", style="dim")
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow")
    if result.fits and plan is not None:
        render_settings(result, console)
    if result.alternatives and console.width < NARROW:
        # a narrow terminal: one line per runner-up, so no name or number is cut
        console.print(Text("Runners-up", style="bold"))
        for alt in result.alternatives:
            console.print(f"  {alt.precision} / {alt.engine} ({alt.placement}, {alt.speed_class}): "
                          f"{needs_text(alt.memory)}, {_room(alt)}; {alt.quality.split(' (')[0].split(';')[0]}",
                          soft_wrap=True, markup=False)
    elif result.alternatives:
        table = Table(title="Runners-up", title_justify="left", show_edge=False)
        room = ("max batch" if result.alternatives[0].workload in ("vision", "speech", "embedding", "diffusion")
                else "max context")
        for col in ("precision", "engine", "placement", "speed", "needs", room, "quality"):
            # numbers and names stay whole; on a narrow terminal the quality words wrap instead
            table.add_column(col, no_wrap=col != "quality", min_width=len(col) if col != "quality" else None,
                             overflow="fold")
        for alt in result.alternatives:
            table.add_row(alt.precision, alt.engine, alt.placement, alt.speed_class, needs_text(alt.memory),
                          _room(alt).split(" ", 2)[-1], alt.quality.split(" (")[0].split(";")[0])
        console.print(table)
    if not result.fits and result.changes:
        console.print(Text("What would make it fit", style="bold"))
        for change in result.changes:
            console.print(f"  • {change.description}")
        for name in result.smaller_models[1:]:
            console.print(f"  • or {name}")
        for name in result.bigger_gpus[1:]:
            console.print(f"  • or {name}")
    if result.rejected and not (result.cannot_tell and [r.reason for r in result.rejected] == [result.cannot_tell]):
        render_rejected(result, console, verbose)


def render_rejected(result: FitResult, console: Console, verbose: bool) -> None:
    from rules.precisions import lookup

    def quality(precision: str) -> int:
        rows = lookup(precision)
        return rows[0].quality_rank if rows else 9

    has_gpu = bool(result.hardware.gpus)
    ordered = sorted(result.rejected, key=lambda r: quality(r.precision))
    reasons = Counter(r.reason for r in ordered)
    # the short list: the best-quality candidates' reasons, leaving out "not on the CPU" when there are GPUs
    brief = [(r, n) for r, n in reasons.items() if not (has_gpu and "on the CPU" in r)]
    shown = list(reasons.items()) if verbose else brief[:8]
    console.print(Text(f"Rejected ({len(result.rejected)} candidates)", style="bold"))
    for reason, n in shown:
        console.print(f"  ✘ {reason}" + (f"  (×{n})" if n > 1 else ""), style="dim", soft_wrap=True)
    if not verbose and len(reasons) > len(shown):
        console.print(f"  … {len(reasons) - len(shown)} more reasons: --verbose or --json lists every one", style="dim")


def render_overview(rows: list[tuple[str, FitResult | None, str | None]], line: str, console: Console) -> None:
    console.print(Text(f"Machine: {line}", style="bold"))
    table = Table(title="What runs here (featured models, default context)", title_justify="left", show_edge=False)
    narrow = console.width < NARROW
    # on a narrow terminal long names fold onto a second line; they are never cut
    table.add_column("model", no_wrap=not narrow, max_width=24 if narrow else None, overflow="fold")
    table.add_column("best plan", no_wrap=True)
    table.add_column("on", no_wrap=True)
    table.add_column("need/usable GiB", no_wrap=True)
    table.add_column("max ctx", justify="right", no_wrap=True)
    short_place = {"single-gpu": "GPU", "tensor-parallel": "GPUs (TP)", "layer-split": "GPUs", "offload": "GPU+CPU",
                   "cpu": "CPU", "unified": "unified", "fsdp": "GPUs"}
    for name, result, error in rows:
        if result is None:
            table.add_row(name, Text(error or "?", style="red"), "", "", "")
            continue
        p = result.plan
        if p is None or not result.fits:
            if result.missing_bytes:
                why = f"no: {gib(result.missing_bytes)} short"
            elif result.cannot_tell:
                why = f"? {result.cannot_tell}"
            else:
                why = f"no: {result.rejected[0].reason}" if result.rejected else "no"
            table.add_row(name, Text(why, style="red"), "", "", "")
            continue
        usable = sum(u.budget_bytes or 0 for u in p.per_device)
        table.add_row(name, Text(f"{p.precision} {p.engine}", style="green"), short_place.get(p.placement, p.placement),
                      f"{p.memory.total_bytes / 1024**3:.1f} / {usable / 1024**3:.1f}",
                      f"{p.max_context:,}" if p.max_context else "?")
    console.print(table)
    console.print("advisor fit MODEL shows the details; advisor models lists the catalog; advisor probe shows the machine.",
                  style="dim")
