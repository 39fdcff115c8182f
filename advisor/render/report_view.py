"""The fleet report on a terminal: hosts, totals, the hosts x models matrix, problems and skipped inputs."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from advisor.fleet_report import Report
from advisor.units import gib

MAX_ROWS = 200  # a terminal shows this many hosts; --format csv/json/html carry them all
# GPU plans and CPU plans apart: all on GPU green, offload to the CPU blue, CPU only cyan
CELL_STYLE = {"all-gpu": "green", "offload": "blue", "cpu": "cyan"}


def _pair(free: int | None, total: int | None) -> str:
    if total is None:
        return "-"
    return f"{gib(free, 0).removesuffix(' GiB')} / {gib(total, 0)}"


def render_rich(report: Report, con: Console) -> None:
    hosts = report.hosts
    table = Table(title=f"Hosts ({len(hosts)})", title_justify="left", show_lines=False)
    for col in ("host", "GPUs", "VRAM free / total", "RAM avail / total", "CPU", "driver / CUDA", "abilities", "status"):
        table.add_column(col, overflow="fold")
    for h in hosts[:MAX_ROWS]:
        table.add_row(h.host, (h.gpus or "none") + (f"\n{h.mig}" if h.mig else ""), _pair(h.vram_free_bytes, h.vram_total_bytes),
                      _pair(h.ram_available_bytes, h.ram_total_bytes), f"{h.cpu} ({h.cores or '?'} threads)",
                      f"{h.driver or '-'} / {h.cuda or '-'}", h.abilities(),
                      "[yellow]partial[/]" if h.status == "partial" else "ok")
    con.print(table)
    if len(hosts) > MAX_ROWS:
        con.print(f"… and {len(hosts) - MAX_ROWS} more hosts (use --format csv, json or html for all)", style="dim")
    t = report.totals()
    gpus = ", ".join(f"{n}× {name}" for name, n in t["gpus_by_model"].items()) or "none"
    con.print(f"\n[bold]Fleet[/]: {t['hosts']} hosts ({t['hosts_with_gpus']} with GPUs), {t['gpus']} GPUs: {gpus}")
    con.print(f"VRAM {gib(t['vram_free_bytes'])} free of {gib(t['vram_total_bytes'])}; RAM {gib(t['ram_total_bytes'])} in all")
    if report.models:
        m = Table(title="Models × hosts: the best plan, or why not", title_justify="left")
        m.add_column("host")
        for model in report.models:
            head, counts = report.fit_header(model).split(" (", 1)
            m.add_column(f"{head}\n({counts}", overflow="fold")
        for h in hosts[:MAX_ROWS]:
            cells = []
            for model in report.models:
                c = h.cells[model]
                style = CELL_STYLE[c.speed_class] if c.fits and c.speed_class else ("yellow" if c.cannot_tell else "red")
                cells.append(f"[{style}]{c.text()}[/]")
            m.add_row(h.host, *cells)
        con.print()
        con.print(m)
    _listing(con, f"Problems ({len(report.problems)})", "bold yellow",
             [f"{p.host}: {p.kind}: {p.detail}" for p in report.problems])
    _listing(con, f"Skipped ({len(report.skipped)})", "bold red", [f"{s.source}: {s.reason}" for s in report.skipped])


def _listing(con: Console, title: str, style: str, lines: list[str]) -> None:
    """A titled list of at most MAX_ROWS lines (text from snapshots, so no markup), nothing when empty."""
    if not lines:
        return
    con.print(f"\n{title}", style=style)
    for line in lines[:MAX_ROWS]:
        con.print(f"  {line}", markup=False)
    if len(lines) > MAX_ROWS:
        con.print(f"  … and {len(lines) - MAX_ROWS} more", style="dim")


def render_rich_text(report: Report) -> str:
    """The same view as plain text (for --output FILE with the rich format)."""
    buf = io.StringIO()
    render_rich(report, Console(file=buf, width=160, no_color=True, highlight=False))
    return buf.getvalue()
