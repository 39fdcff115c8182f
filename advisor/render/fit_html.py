"""`advisor fit --format html`: one self-contained page picturing the plan: the verdict, a stacked bar per device
(weights, KV cache, activations, runtime against free memory, the headroom marked), the settings to paste and the
runners-up. No external scripts, styles or fonts; every value is HTML-escaped."""

from __future__ import annotations

from html import escape

from advisor.results import FitResult, capacity_text, needs_text
from advisor.units import gib
from rules.plan import DeviceUse
from rules.ranking import SPEED_CLASS_TEXT

PARTS = (("weights_bytes", "weights", "#0969da"), ("kv_cache_bytes", "KV cache", "#2da44e"),
         ("activations_bytes", "activations", "#d4a72c"), ("runtime_bytes", "runtime", "#8250df"))
BAR_W, BAR_H, LABEL_W = 560, 22, 230

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1000px}
h1{font-size:20px}h2{font-size:16px;margin-top:26px}.ok{color:#116329}.no{color:#a40e26}.unknown{color:#9a6700}
pre{background:#f6f8fa;padding:10px;border-radius:6px;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#f3f4f6}
svg text{font:12px system-ui,sans-serif}.note{color:#57606a}
"""


def _bar(use: DeviceUse, y: int, scale: int) -> str:
    x = LABEL_W
    out = [f'<g class="device" data-device="{escape(use.device)}"><text x="{LABEL_W - 8}" y="{y + 15}" '
           f'text-anchor="end">{escape(("CPU RAM" if use.kind == "cpu" else f"GPU {use.device[4:]} {use.name}")[:34])}'
           "</text>"]
    for field, label, colour in PARTS:
        n = getattr(use.memory, field)
        w = BAR_W * n / scale
        if w > 0:
            out.append(f'<rect class="part" data-part="{label}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" '
                       f'fill="{colour}"><title>{label}: {gib(n, 2)}</title></rect>')
        x += w
    budget_x = LABEL_W + BAR_W * (use.budget_bytes or 0) / scale
    free_x = LABEL_W + BAR_W * (use.free_bytes or 0) / scale
    out.append(f'<rect x="{LABEL_W}" y="{y}" width="{free_x - LABEL_W:.1f}" height="{BAR_H}" fill="none" '
               f'stroke="#57606a"/><line x1="{budget_x:.1f}" x2="{budget_x:.1f}" y1="{y - 3}" y2="{y + BAR_H + 3}" '
               f'stroke="#cf222e" stroke-dasharray="3,2"><title>usable: {gib(use.budget_bytes)} (free minus '
               f'headroom)</title></line><text x="{LABEL_W + BAR_W + 8}" y="{y + 15}">{needs_text(use.memory)} of '
               f'{gib(use.budget_bytes)} usable</text></g>')
    return "".join(out)


def to_html(result: FitResult) -> str:
    m, plan = result.model, result.plan
    if result.cannot_tell:
        verdict = f'<p class="unknown" id="verdict"><b>cannot tell</b>: {escape(result.cannot_tell)}</p>'
    elif result.fits and plan is not None:
        verdict = (f'<p class="ok" id="verdict"><b>fits</b>: {escape(plan.precision)} with {escape(plan.engine)}, '
                   f'{escape(plan.placement)} ({escape(SPEED_CLASS_TEXT[plan.speed_class])}); '
                   f'{escape(capacity_text(plan))}</p>')
    else:
        verdict = f'<p class="no" id="verdict"><b>does not fit</b>: {escape(result.reason())}</p>'
    body = [f"<h1>{escape(m.name)}: {m.params_total / 1e9:.2f} B parameters ({'exact' if m.exact else 'APPROXIMATE'})</h1>",
            f'<p class="note">{escape(result.hardware.line)}</p>', verdict]
    if plan is not None:
        uses = plan.per_device
        scale = max(max(u.free_bytes or 0, u.memory.total_bytes) for u in uses) or 1
        height = len(uses) * (BAR_H + 16) + 40
        svg = [f'<svg id="plan-bars" role="img" aria-label="memory per device" width="{LABEL_W + BAR_W + 260}" '
               f'height="{height}" xmlns="http://www.w3.org/2000/svg">']
        svg += [_bar(u, 10 + i * (BAR_H + 16), scale) for i, u in enumerate(uses)]
        x = LABEL_W
        for _f, label, colour in PARTS:
            svg.append(f'<rect x="{x}" y="{height - 18}" width="12" height="12" fill="{colour}"/>'
                       f'<text x="{x + 16}" y="{height - 8}">{label}</text>')
            x += 30 + 7 * len(label)
        svg.append(f'<text x="{x}" y="{height - 8}">outline: free · dashed: usable</text></svg>')
        body += ["<h2>Memory per device</h2>", "".join(svg)]
        settings = result.settings or {}
        code = settings.get("command") or settings.get("python") or settings.get("modelfile") or ""
        env = " ".join(f"{k}={v}" for k, v in (settings.get("env") or {}).items())
        body += ["<h2>Settings to paste</h2>", f"<pre id=\"settings\">{escape((env + ' ') if env else '')}"
                                                f"{escape(code)}</pre>"]
        extra = [settings["note"]] if settings.get("note") else []
        notes = "".join(f"<li>{escape(n)}</li>" for n in [*extra, *plan.notes, *result.notes])
        if notes:
            body.append(f"<ul class=\"note\">{notes}</ul>")
    if result.alternatives:
        rows = "".join(f"<tr><td>{escape(a.precision)}</td><td>{escape(a.engine)}</td><td>{escape(a.placement)}</td>"
                       f"<td>{escape(a.speed_class)}</td><td>{escape(needs_text(a.memory))}</td>"
                       f"<td>{a.max_context or '?':,}</td></tr>" if a.max_context else
                       f"<tr><td>{escape(a.precision)}</td><td>{escape(a.engine)}</td><td>{escape(a.placement)}</td>"
                       f"<td>{escape(a.speed_class)}</td><td>{escape(needs_text(a.memory))}</td><td>?</td></tr>"
                       for a in result.alternatives)
        body += ["<h2>Runners-up</h2>", "<table id=\"runners-up\"><tr><th>precision</th><th>engine</th><th>placement"
                 "</th><th>speed</th><th>needs</th><th>max context</th></tr>" + rows + "</table>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>advisor fit — "
            f"{escape(m.name)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
