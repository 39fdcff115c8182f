"""`advisor gpus`: the built-in GPU and device table that `--gpu` names."""

from __future__ import annotations

import json
import re
from typing import Any


def _matches(entry: dict[str, Any], words: list[str]) -> bool:
    text = " ".join([entry["name"], *entry.get("aliases", []), entry.get("kind", ""), entry.get("vendor", "")]).lower()
    squashed = re.sub(r"[^a-z0-9]", "", text)
    return all(w.lower() in text or re.sub(r"[^a-z0-9]", "", w.lower()) in squashed for w in words)


def run_devices(words: list[str], json_out: bool) -> None:
    """The edge and NPU targets that --device names (rules/data/edge_devices.json)."""
    from advisor.errors import BadInputError
    from advisor.output import console, emit_json
    from rules.edge_devices import table as devices

    rows = [e for e in devices() if _matches(e, words)]
    if json_out:
        keep = ("name", "aliases", "accelerator", "board", "gpu", "onchip_sram_bytes", "precisions", "tops_int8",
                "engines", "memory_note", "sources")
        emit_json(json.dumps({"schema_version": "1.0", "devices": [{k: e.get(k) for k in keep} for e in rows]},
                             indent=2))
        return
    if not rows:
        raise BadInputError(f"no device in the table matches {' '.join(words)!r}; advisor gpus --devices lists them")
    from rich.table import Table

    table = Table(title=f"Edge and NPU targets ({len(rows)} of {len(devices())})", title_justify="left",
                  show_edge=False)
    for col in ("name", "what", "memory", "precisions", "int8 TOPS"):
        table.add_column(col, no_wrap=col in ("name", "memory"), justify="right" if col == "int8 TOPS" else "left")
    for e in rows:
        board = e.get("board") or {}
        what = (f"board, {board.get('cpu_cores')} cores" if board else "") or e.get("accelerator") or "GPU (unified)"
        if board and e.get("accelerator"):
            what += f" + {e['accelerator']}"
        memory = (f"{board['memory_bytes'] / 1024**3:.0f} GiB RAM" if board else
                  f"{e['onchip_sram_bytes'] / 1024**2:.0f} MiB on chip" if e.get("onchip_sram_bytes") else "host RAM")
        table.add_row(e["name"], what, memory, ", ".join(e.get("precisions", [])),
                      str(e["tops_int8"]) if e.get("tops_int8") else "-")
    console().print(table)
    console().print('Use a name with --device, e.g. advisor fit ResNet-50 --device "Coral Edge TPU (USB)"; '
                    "--json lists each fact's source.", style="dim")


def run_gpus(words: list[str], json_out: bool) -> None:
    from advisor.errors import BadInputError
    from advisor.output import console, emit_json
    from rules.gpu_table import gpus

    rows = [e for e in gpus() if _matches(e, words)]
    if json_out:
        keep = ("name", "aliases", "vendor", "kind", "memory_bytes", "compute_capability", "unified_memory",
                "gpu_budget_fraction", "source", "note")
        emit_json(json.dumps({"schema_version": "1.0", "gpus": [{k: e.get(k) for k in keep} for e in rows]}, indent=2))
        return
    if not rows:
        raise BadInputError(f"no GPU in the table matches {' '.join(words)!r}; advisor gpus lists them all")
    from rich.table import Table

    table = Table(title=f"GPU table ({len(rows)} of {len(gpus())})", title_justify="left", show_edge=False)
    for col in ("name", "memory", "compute cap.", "kind", "also known as"):
        table.add_column(col, no_wrap=col != "also known as", justify="right" if col == "memory" else "left")
    for e in sorted(rows, key=lambda e: (e["vendor"], e["memory_bytes"], e["name"])):
        kind = e.get("kind", "") + (", unified memory" if e.get("unified_memory") else "")
        table.add_row(e["name"], f"{e['memory_bytes'] / 1024**3:.0f} GiB", e.get("compute_capability") or "-", kind,
                      ", ".join(e.get("aliases", [])[:3]))
    console().print(table)
    console().print('Use a name with --gpu, e.g. advisor fit llama3.1:8b --gpu "RTX 4090" or --gpu "2x H100".',
                    style="dim")
