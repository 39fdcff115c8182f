"""The fleet report as one self-contained HTML file: sortable tables and a chart of VRAM by host.

No external scripts, styles or fonts: the file opens offline. Click a column header to sort (again to reverse);
a link such as report.html#sort=vram_total:desc opens sorted. Every value from a snapshot is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from advisor.fleet_report import HostRow, Report
from advisor.units import gib

CHART_MAX_HOSTS = 300  # bars drawn; the table holds every host
BAR_H, GAP, LABEL_W, CHART_W = 14, 4, 180, 560

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;cursor:pointer;user-select:none;white-space:nowrap}th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"}td.num{text-align:right;font-variant-numeric:tabular-nums}
.fit{color:#116329}.fit-offload{color:#0550ae}.fit-cpu{color:#1b7c83;font-style:italic}.no{color:#a40e26}.unknown{color:#9a6700}.partial{color:#9a6700;font-weight:600}
.summary{background:#f6f8fa;padding:8px 12px;border-radius:6px;display:inline-block}
svg text{font:11px system-ui,sans-serif}
"""

JS = """
(function(){
  function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;var n=parseFloat(v);
    return (v!==''&&!isNaN(n)&&isFinite(v))?{n:n}:{s:v.toLowerCase()};}
  function cmp(a,b){if(a.n!==undefined&&b.n!==undefined)return a.n-b.n;if(a.n!==undefined)return -1;
    if(b.n!==undefined)return 1;return a.s<b.s?-1:a.s>b.s?1:0;}
  function sortBy(table,col,dir){var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
    var ths=table.tHead.rows[0].cells;var idx=-1;
    for(var i=0;i<ths.length;i++){if(ths[i].getAttribute('data-col')===col)idx=i;ths[i].removeAttribute('aria-sort');}
    if(idx<0)return false;
    rows.sort(function(a,b){var r=cmp(key(a.cells[idx]),key(b.cells[idx]));return dir==='desc'?-r:r;});
    rows.forEach(function(r){body.appendChild(r);});
    ths[idx].setAttribute('aria-sort',dir==='desc'?'descending':'ascending');return true;}
  var tables=document.querySelectorAll('table.sortable');
  tables.forEach(function(t){t.tHead.rows[0].querySelectorAll('th').forEach(function(th){
    th.addEventListener('click',function(){var d=th.getAttribute('aria-sort')==='ascending'?'desc':'asc';
      sortBy(t,th.getAttribute('data-col'),d);history.replaceState(null,'','#sort='+th.getAttribute('data-col')+':'+d);});});});
  var m=/#sort=([\\w.-]+)(?::(asc|desc))?/.exec(location.hash);
  if(m){tables.forEach(function(t){sortBy(t,m[1],m[2]||'asc');});}
  document.body.setAttribute('data-ready','true');
})();
"""


def _cell(text: object, value: object = None, cls: str = "") -> str:
    attrs = f' data-v="{escape(str(value))}"' if value is not None else ""
    attrs += f' class="{cls}"' if cls else ""
    return f"<td{attrs}>{escape(str(text))}</td>"


def _num(n: int | None, none: str = "unknown") -> str:
    return _cell(gib(n) if n is not None else none, n if n is not None else -1, "num")


def _host_row(h: HostRow, models: list[str]) -> str:
    no_vram = "-" if not h.gpu_count else "unknown"
    cells = [_cell(h.host), _cell(h.gpus or "none"), _cell(h.gpu_count, h.gpu_count, "num"), _num(h.vram_free_bytes, no_vram),
             _num(h.vram_total_bytes, no_vram), _num(h.ram_available_bytes), _num(h.ram_total_bytes), _cell(h.cpu),
             _cell(h.driver or "-"), _cell(h.cuda or "-"), _cell(h.abilities()),
             _cell(h.status, cls="partial" if h.status == "partial" else "")]
    for m in models:
        c = h.cells[m]
        cls = {"all-gpu": "fit", "offload": "fit-offload", "cpu": "fit-cpu"}.get(c.speed_class or "", "fit") if c.fits \
            else "unknown" if c.cannot_tell else "no"
        cells.append(_cell(c.text(), {"fit": 0, "fit-offload": 1, "fit-cpu": 2}.get(cls, 3), cls))
    return f'<tr data-host="{escape(h.host)}">' + "".join(cells) + "</tr>"


def _chart(report: Report) -> str:
    known = sorted((h for h in report.hosts if h.vram_total_bytes), key=lambda h: -(h.vram_total_bytes or 0))
    unknown = [h for h in report.hosts if h.gpu_count and not h.vram_total_bytes]  # GPUs whose memory was not read
    drawn = known[:CHART_MAX_HOSTS]
    drawn_unknown = unknown[:max(0, CHART_MAX_HOSTS - len(drawn))]
    if not drawn and not drawn_unknown:
        return "<p>No host reports GPUs.</p>"
    top = max((h.vram_total_bytes or 0 for h in drawn), default=1) or 1
    height = (len(drawn) + len(drawn_unknown)) * (BAR_H + GAP) + 24
    parts = [f'<svg id="vram-chart" role="img" aria-label="VRAM by host" width="{LABEL_W + CHART_W + 160}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             '<defs><pattern id="unknown" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="3" height="6" fill="#d0d7de"/></pattern></defs>']
    for i, h in enumerate(drawn):
        y = i * (BAR_H + GAP)
        total_w = CHART_W * (h.vram_total_bytes or 0) / top
        used = (h.vram_total_bytes or 0) - (h.vram_free_bytes or 0)
        used_w = CHART_W * used / top if h.vram_free_bytes is not None else 0
        parts.append(
            f'<g class="bar" data-host="{escape(h.host)}"><text x="{LABEL_W - 6}" y="{y + BAR_H - 3}" text-anchor="end">'
            f'{escape(h.host[:28])}</text><rect x="{LABEL_W}" y="{y}" width="{total_w:.1f}" height="{BAR_H}" fill="#9be9a8">'
            f'<title>{escape(h.host)}: {gib(h.vram_free_bytes)} free of {gib(h.vram_total_bytes)}</title></rect>'
            f'<rect x="{LABEL_W}" y="{y}" width="{used_w:.1f}" height="{BAR_H}" fill="#cf222e" opacity="0.75"/>'
            f'<text x="{LABEL_W + total_w + 6:.1f}" y="{y + BAR_H - 3}">{gib(h.vram_total_bytes, 0)}</text></g>')
    for j, h in enumerate(drawn_unknown):
        y = (len(drawn) + j) * (BAR_H + GAP)
        parts.append(
            f'<g class="bar unknown" data-host="{escape(h.host)}"><text x="{LABEL_W - 6}" y="{y + BAR_H - 3}" '
            f'text-anchor="end">{escape(h.host[:28])}</text><rect x="{LABEL_W}" y="{y}" width="{CHART_W / 4:.1f}" '
            f'height="{BAR_H}" fill="url(#unknown)"><title>{escape(h.host)}: {h.gpu_count} GPU(s), memory could not be '
            f'read</title></rect><text x="{LABEL_W + CHART_W / 4 + 6:.1f}" y="{y + BAR_H - 3}">VRAM unknown</text></g>')
    parts.append(f'<text x="{LABEL_W}" y="{height - 6}">green: free · red: in use · hatched: GPUs whose memory '
                 f'could not be read · scale: {gib(top, 0)}</text></svg>')
    total = len(known) + len(unknown)
    note = f"<p>{len(drawn) + len(drawn_unknown)} of {total} hosts with GPUs are drawn; the table lists all.</p>" \
        if total > len(drawn) + len(drawn_unknown) else ""
    return "".join(parts) + note


FIT_COLOURS = {"all_gpu": ("#2da44e", "all on GPU"), "offload": ("#0969da", "GPU + CPU offload"),
               "cpu": ("#54aeff", "CPU only"), "cannot_tell": ("#d4a72c", "cannot tell"), "no": ("#cf222e", "no")}
CELL = 14


def _outcome(cell: object) -> str:
    fits = getattr(cell, "fits", False)
    if fits:
        return {"all-gpu": "all_gpu", "offload": "offload", "cpu": "cpu"}.get(getattr(cell, "speed_class", "") or "",
                                                                          "all_gpu")
    return "cannot_tell" if getattr(cell, "cannot_tell", False) else "no"


def _fit_map(report: Report) -> str:
    """Hosts x models as a coloured grid: one square per cell, coloured by the outcome (GPU and CPU plans apart)."""
    if not report.models:
        return ""
    hosts = report.hosts[:CHART_MAX_HOSTS]
    label_h = 16
    width = LABEL_W + len(report.models) * (CELL + 2) + 20
    height = label_h * len(report.models) + len(hosts) * (CELL + 2) + 40
    height += 18  # the column numbers
    parts = [f'<svg id="fit-map" role="img" aria-label="Which models run where" width="{max(width, 860)}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for k, model in enumerate(report.models):
        parts.append(f'<text x="{LABEL_W}" y="{label_h * (k + 1) - 4}">{k + 1}: {escape(model)}</text>')
    top = label_h * len(report.models) + 22
    for k in range(len(report.models)):
        parts.append(f'<text x="{LABEL_W + k * (CELL + 2) + 3}" y="{top - 6}" font-size="10">{k + 1}</text>')
    for i, h in enumerate(hosts):
        y = top + i * (CELL + 2)
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + CELL - 3}" text-anchor="end">{escape(h.host[:28])}</text>')
        for k, model in enumerate(report.models):
            cell = h.cells.get(model)
            outcome = _outcome(cell)
            colour, label = FIT_COLOURS[outcome]
            parts.append(f'<rect class="fit-cell" data-host="{escape(h.host)}" data-model="{escape(model)}" '
                         f'data-outcome="{outcome}" x="{LABEL_W + k * (CELL + 2)}" y="{y}" width="{CELL}" '
                         f'height="{CELL}" fill="{colour}"><title>{escape(h.host)} · {escape(model)}: '
                         f'{escape(cell.text() if cell is not None else label)}</title></rect>')
    x = LABEL_W
    for colour, label in FIT_COLOURS.values():  # the legend: a swatch and its meaning
        parts.append(f'<rect x="{x}" y="{height - 20}" width="{CELL}" height="{CELL}" fill="{colour}"/>'
                     f'<text x="{x + CELL + 4}" y="{height - 9}">{label}</text>')
        x += CELL + 10 + 7 * len(label)
    parts.append(f'<text x="{x + 6}" y="{height - 9}">(hover a square for the plan)</text></svg>')
    return "".join(parts)


def to_html(report: Report) -> str:
    t = report.totals()
    gpus = ", ".join(f"{n}× {name}" for name, n in t["gpus_by_model"].items()) or "none"
    cols = [("host", "host"), ("gpus", "GPUs"), ("gpu_count", "#"), ("vram_free", "VRAM free"), ("vram_total", "VRAM total"),
            ("ram_available", "RAM available"), ("ram_total", "RAM total"), ("cpu", "CPU"), ("driver", "driver"),
            ("cuda", "CUDA"), ("abilities", "abilities"), ("status", "status")]
    cols += [(f"model-{i}", report.fit_header(m)) for i, m in enumerate(report.models)]
    head = "".join(f'<th data-col="{c}" scope="col">{escape(label)}</th>' for c, label in cols)
    rows = "\n".join(_host_row(h, report.models) for h in report.hosts)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>advisor fleet report — {t['hosts']} hosts</title><style>{CSS}</style></head><body>",
           f"<h1>Fleet report</h1><p class=\"summary\" id=\"totals\"><b>{t['hosts']} hosts</b> ({t['hosts_with_gpus']} with GPUs), "
           f"<b>{t['gpus']} GPUs</b>: {escape(gpus)}<br>VRAM {gib(t['vram_free_bytes'])} free of {gib(t['vram_total_bytes'])}; "
           f"RAM {gib(t['ram_total_bytes'])} in all. Generated {escape(report.generated_at)}.</p>",
           "<h2>VRAM by host</h2>", _chart(report),
           *(["<h2>Which models run where</h2>", _fit_map(report)] if report.models else []),
           "<h2>Hosts</h2>", f'<table id="hosts" class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>']
    if report.problems:
        prows = "".join(f"<tr>{_cell(p.host)}{_cell(p.kind)}{_cell(p.detail)}</tr>" for p in report.problems)
        out.append(f'<h2>Problems ({len(report.problems)})</h2><table id="problems" class="sortable"><thead><tr>'
                   f'<th data-col="host">host</th><th data-col="kind">kind</th><th data-col="detail">detail</th></tr></thead>'
                   f"<tbody>{prows}</tbody></table>")
    if report.skipped:
        srows = "".join(f"<tr>{_cell(s.source)}{_cell(s.reason)}</tr>" for s in report.skipped)
        out.append(f'<h2>Skipped ({len(report.skipped)})</h2><table id="skipped"><thead><tr><th>input</th><th>reason</th>'
                   f"</tr></thead><tbody>{srows}</tbody></table>")
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out) + "\n"
