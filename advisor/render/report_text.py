"""The fleet report as CSV (one row per host, models as columns) and as Markdown (every section)."""

from __future__ import annotations

import csv
import io

from advisor.fleet_report import HostRow, Report
from advisor.units import gib

HOST_COLUMNS = ("host", "gpu_count", "gpus", "vram_total_bytes", "vram_free_bytes", "ram_total_bytes",
                "ram_available_bytes", "cpu", "cores", "driver", "cuda", "bf16", "fp8", "fp4", "status", "taken_at",
                "source")


def _value(row: HostRow, col: str) -> object:
    v = getattr(row, col)
    return "" if v is None else v


def to_csv(report: Report, delimiter: str = ",") -> str:
    """Bytes as integers, booleans as true/false; a column per model with the best plan or `no: why`. With
    delimiter="\t" the grep- and cut-friendly TSV form."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", delimiter=delimiter)
    w.writerow([*HOST_COLUMNS, *report.models])
    for h in report.hosts:
        values = [_value(h, c) for c in HOST_COLUMNS]
        values = [str(v).lower() if isinstance(v, bool) else v for v in values]
        w.writerow([*values, *(h.cells[m].text() for m in report.models)])
    return buf.getvalue()


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return out


def to_markdown(report: Report) -> str:
    t = report.totals()
    lines = [f"# Fleet report ({report.generated_at})", ""]
    gpus = ", ".join(f"{n}× {name}" for name, n in t["gpus_by_model"].items()) or "none"
    lines += [f"**{t['hosts']} hosts** ({t['hosts_with_gpus']} with GPUs), **{t['gpus']} GPUs**: {gpus}. "
              f"VRAM {gib(t['vram_free_bytes'])} free of {gib(t['vram_total_bytes'])}; RAM {gib(t['ram_total_bytes'])}.", ""]
    lines += ["## Hosts", ""]
    lines += _table(["host", "GPUs", "VRAM free", "VRAM total", "RAM available", "RAM total", "CPU", "driver", "CUDA",
                     "abilities", "status"],
                    [[h.host, h.gpus or "none", gib(h.vram_free_bytes), gib(h.vram_total_bytes), gib(h.ram_available_bytes),
                      gib(h.ram_total_bytes), h.cpu, h.driver or "-", h.cuda or "-", h.abilities(), h.status]
                     for h in report.hosts])
    if report.models:
        lines += ["", "## Models", ""]
        lines += _table(["host", *(report.fit_header(m) for m in report.models)],
                        [[h.host, *(h.cells[m].text() for m in report.models)] for h in report.hosts])
    if report.problems:
        lines += ["", "## Problems", ""]
        lines += _table(["host", "kind", "detail"], [[p.host, p.kind, p.detail] for p in report.problems])
    if report.skipped:
        lines += ["", "## Skipped", ""]
        lines += _table(["input", "reason"], [[s.source, s.reason] for s in report.skipped])
    return "\n".join(lines) + "\n"
