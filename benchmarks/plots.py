"""Estimate vs measured as pictures: one SVG per dataset, log-log, the diagonal and a ±10 % band, points under the
measurement red, over it blue. A scatter of at most a few dozen points: written here as plain SVG, which keeps the
benchmarks free of a plotting stack (matplotlib and its dependencies) for one kind of chart."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

SIZE, PAD = 420, 56


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def scatter_svg(title: str, rows: Sequence[Any], unit: str) -> str:
    """`rows` have .measured, .estimate and .label (positive numbers in `unit`)."""
    values = [v for r in rows for v in (r.measured, r.estimate) if v > 0]
    lo, hi = math.log10(min(values) / 1.15), math.log10(max(values) * 1.15)

    def pos(v: float) -> float:
        return PAD + (math.log10(v) - lo) / (hi - lo) * SIZE

    def y(v: float) -> float:
        return PAD + SIZE - (pos(v) - PAD)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE + 2 * PAD}" height="{SIZE + 2 * PAD + 24}" '
           f'role="img" aria-label="{escape(title)}"><style>text{{font:11px sans-serif}}</style>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{PAD}" y="20" style="font:bold 13px sans-serif">{escape(title)}</text>']
    a, b = 10 ** lo, 10 ** hi
    band = [(a, a * 1.1), (b, b * 1.1), (b, b * 0.9), (a, a * 0.9)]
    out.append(f'<clipPath id="box"><rect x="{PAD}" y="{PAD}" width="{SIZE}" height="{SIZE}"/></clipPath>')
    out.append('<polygon class="band" clip-path="url(#box)" fill="#ddf4ff" points="'
               + " ".join(f"{pos(m):.1f},{y(e):.1f}" for m, e in band)
               + '"><title>estimate within 10 % of the measurement</title></polygon>')
    for v in _ticks(lo, hi):
        out.append(f'<text x="{pos(v):.1f}" y="{PAD + SIZE + 14}" text-anchor="middle">{v:g}</text>'
                   f'<text x="{PAD - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<line class="diagonal" x1="{pos(a):.1f}" y1="{y(a):.1f}" x2="{pos(b):.1f}" y2="{y(b):.1f}" '
               'stroke="#57606a" stroke-dasharray="4,3"/>')
    out.append(f'<rect x="{PAD}" y="{PAD}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#8c959f"/>')
    for r in rows:
        under = r.estimate < r.measured * 0.9999
        colour = "#cf222e" if under else "#0969da"
        out.append(f'<circle class="point {"under" if under else "over"}" cx="{pos(r.measured):.1f}" '
                   f'cy="{y(r.estimate):.1f}" r="3.5" fill="{colour}" fill-opacity="0.8"><title>{escape(r.label)}: '
                   f'measured {r.measured:.3f}, estimate {r.estimate:.3f} {escape(unit)} '
                   f'({100 * (r.estimate / r.measured - 1):+.1f} %)</title></circle>')
    out.append(f'<text x="{PAD + SIZE / 2 - 40:.0f}" y="{PAD + SIZE + 30}">measured ({escape(unit)}, log)</text>')
    out.append(f'<text x="14" y="{PAD + SIZE / 2:.0f}" transform="rotate(-90 14 {PAD + SIZE / 2:.0f})">estimate '
               f'({escape(unit)}, log)</text>')
    out.append(f'<text x="{PAD}" y="{PAD + SIZE + 50}">blue: at or above · red: below · shaded: ±10 % · dashed: '
               'equal</text></svg>')
    return "\n".join(out) + "\n"


def _ticks(lo: float, hi: float) -> list[float]:
    """A few round values between 10**lo and 10**hi (1, 2, 5 x powers of ten)."""
    out = []
    for exp in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** exp
            if 10 ** lo <= v <= 10 ** hi:
                out.append(round(v, 6))
    return out if len(out) <= 8 else out[:: max(1, len(out) // 6)]


def write_plots(rows: Sequence[Any], folder: Path) -> list[Path]:
    """One SVG per dataset of `rows` (each with .dataset, .unit) into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    by_set: dict[str, list[Any]] = {}
    for r in rows:
        by_set.setdefault(r.dataset, []).append(r)
    for name, group in by_set.items():
        path = folder / f"{slug(name)}.svg"
        path.write_text(scatter_svg(name, group, group[0].unit))
        written.append(path)
    return written
