"""The parent side shared by the measurement scripts of other kinds (measure_cpu_kinds.py, measure_cpu_speech.py,
measure_cpu_embedding.py): each row measured in fresh processes of the script (`--one KEY...`), its worst run kept
with every run's peak and resident size after loading, the document written atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def child(script: str, threads: int, key: Sequence[object]) -> tuple[dict[str, Any] | None, str | None]:
    cmd = [sys.executable, script, "--threads", str(threads), "--one", *map(str, key)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def measure(script: str, matrix: Sequence[Sequence[object]], runs: int, threads: int,
            peak_key: str) -> list[dict[str, Any]]:
    rows = []
    for key in matrix:
        done, errors = [], []
        for _ in range(runs):
            row, error = child(script, threads, key)
            (done.append(row) if row else errors.append(error))
        if not done:
            print(f"{tuple(key)}: failed ({errors[0]})", file=sys.stderr)
            continue
        worst = dict(max(done, key=lambda r: r[peak_key]))
        worst["runs"] = len(done)
        worst[peak_key.removesuffix("_bytes") + "_runs_bytes"] = [r[peak_key] for r in done]
        worst["rss_after_load_runs_bytes"] = [r["rss_after_load_bytes"] for r in done]
        rows.append(worst)
        print(f"{tuple(key)}: peak MiB {[round(r[peak_key] / 2**20) for r in done]} "
              f"(after load {worst['rss_after_load_bytes'] / 2**20:.0f})", flush=True)
    return rows


def write(out: Path, about: str, calibration_models: Sequence[str], rows: list[dict[str, Any]]) -> None:
    doc = {"about": about, "calibration_models": list(calibration_models), "rows": rows}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out)
    print(f"{len(rows)} rows -> {out}", file=sys.stderr)
