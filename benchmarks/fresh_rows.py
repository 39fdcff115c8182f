"""The parent side shared by the measurement scripts of other kinds (measure_cpu_kinds.py, measure_cpu_speech.py,
measure_cpu_embedding.py): each row measured in fresh processes of the script (`--one KEY...`), its worst run kept
with every run's peak and resident size after loading, the document written atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
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


def begin(name: str, threads: int, libraries: Sequence[str]) -> tuple[dict[str, Any], int, int]:
    """The child's start: (the catalog entry, RSS before and after importing torch and `libraries`)."""
    import importlib

    from benchmarks.measure_cpu import _status_bytes

    rss_python = _status_bytes("VmRSS")
    torch = importlib.import_module("torch")
    for lib in libraries:
        importlib.import_module(lib)
    from advisor.models import catalog

    torch.set_num_threads(threads)
    rss_imports = _status_bytes("VmRSS")
    entry = catalog.find(name)
    if entry is None:
        raise SystemExit(f"{name} is not in the catalog")
    return entry, rss_python, rss_imports


def run_script(argv: list[str] | None, *, script: str, description: str, default_out: Path,
               metavars: tuple[str, ...], measure_one: Callable[..., dict[str, Any]], matrix: Sequence[Sequence[Any]],
               peak_key: str, about: str, calibration_models: Sequence[str]) -> int:
    """A measurement script's command line: `--one NAME N...` measures one row in this process (the child);
    otherwise every row of `matrix` (or those of `--only` models) in fresh processes, written to `--out`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="Fresh processes per row")
    parser.add_argument("--only", nargs="*", help="Catalog names to measure (default: every row)")
    parser.add_argument("--one", nargs=len(metavars), metavar=metavars, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one[0], *map(int, args.one[1:]), args.threads)))
        return 0
    keys = [k for k in matrix if not args.only or k[0] in args.only]
    write(args.out, about, calibration_models, measure(script, keys, args.runs, args.threads, peak_key))
    return 0
