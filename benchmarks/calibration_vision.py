"""Calibrate the CPU constants of the vision workload (rules/runtimes.py) on benchmarks/data/cpu-vision.json.

For each row: the working memory measured = peak RSS during the forward - RSS after building (worst run), the
live activations traced = batch x the model's traced elements per image x 4 bytes (fp32; the catalog's
activation_profile). On the calibration half (the models the data file names) the factor is the least-squares
slope of measured over traced, and the base the smallest constant that puts factor x traced + base at or above
every calibration row; the process baselines are, per library, the largest RSS after building minus the weights.
The held-out half is then reported: the estimate against every run of every row (never below is the target).

Run: python benchmarks/calibration_vision.py   (no torch needed)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "benchmarks" / "data" / "cpu-vision.json"
MIB = 1024**2


def traced_bytes(row: dict[str, Any]) -> float:
    from advisor.models import catalog
    from rules.workloads.vision import per_image_elements

    spec = catalog.spec_for(row["model"])
    assert spec.vision is not None, row["model"]
    return row["batch"] * per_image_elements(spec.vision, row["image_size"], row["image_size"]) * 4


def working(row: dict[str, Any]) -> int:
    return int(row["peak_rss_inference_bytes"] - row["rss_after_load_bytes"])


def calibrate(doc: dict[str, Any]) -> dict[str, Any]:
    """The CPU constants from the calibration half of `doc` (see the module docstring)."""
    from benchmarks.range_fit import fit_range

    calib = [r for r in doc["rows"] if r["model"] in doc["calibration_models"]]
    return fit_range(calib, traced_bytes, "peak_rss_inference_runs_bytes", lambda r: r["library"])


def main() -> int:
    from rules import runtimes as rt

    doc = json.loads(DATA.read_text())
    fitted = calibrate(doc)
    from statistics import median

    def mib(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in d.items())

    print(f"fitted on the calibration half: typical {fitted['factor']:.3f} x traced + {fitted['base'] / MIB:.0f} MiB; "
          f"holes {fitted['holes_factor']:.2f} x traced + {fitted['holes_base'] / MIB:.0f} MiB; process typical "
          f"{mib(fitted['process_typical'])}, worst {mib(fitted['process_worst'])}")
    print(f"in rules/runtimes.py: typical {rt.CPU_ACTIVATION_FACTOR} x traced + {rt.CPU_ACTIVATION_BASE / MIB:.0f} MiB; "
          f"holes {rt.CPU_HOLES_FACTOR} x traced + {rt.CPU_HOLES_BASE / MIB:.0f} MiB; process typical "
          f"{mib(rt.CPU_PROCESS_TYPICAL)}, worst {mib(rt.CPU_PROCESS)}")
    print(f"{'half':<12}{'model':<20}{'size':>6}{'batch':>6}{'typical':>9}{'median':>8}{'error':>8}"
          f"{'worst':>8}{'worst run':>10}{'error':>8}  (MiB)")
    errors: dict[str, list[tuple[float, float]]] = {"calibration": [], "held-out": []}
    for r in doc["rows"]:
        mem = estimate(r)
        runs = r["peak_rss_inference_runs_bytes"]
        med, worst = median(runs), max(runs)
        typ = mem.typical_total_bytes or mem.total_bytes
        e_typ, e_worst = typ / med - 1, mem.total_bytes / worst - 1
        half = "calibration" if r["model"] in doc["calibration_models"] else "held-out"
        errors[half].append((e_typ, e_worst))
        print(f"{half:<12}{r['model']:<20}{r['image_size']:>6}{r['batch']:>6}{typ / MIB:>9.0f}{med / MIB:>8.0f}"
              f"{e_typ:>+8.1%}{mem.total_bytes / MIB:>8.0f}{worst / MIB:>10.0f}{e_worst:>+8.1%}")
    for half, errs in errors.items():
        t = sorted(e[0] for e in errs)
        w = sorted(e[1] for e in errs)
        print(f"{half}: {len(errs)} rows; typical vs the median run {t[0]:+.1%} to {t[-1]:+.1%} (median "
              f"{t[len(t) // 2]:+.1%}); worst vs the worst run {w[0]:+.1%} to {w[-1]:+.1%} (median {w[len(w) // 2]:+.1%})")
    return 0


def estimate(row: dict[str, Any]) -> Any:
    """The vision workload's CPU memory for a measured row (PyTorch eager, fp32)."""
    from advisor.models import catalog
    from rules.workloads.vision import _memory, _targets_for_cpu

    spec = catalog.spec_for(row["model"])
    runtime = "ultralytics" if row["library"] == "ultralytics" else "pytorch"
    return _memory(spec, _runtime(runtime), _targets_for_cpu(), "fp32", row["image_size"], row["image_size"],
                   row["batch"])


def _runtime(name: str) -> Any:
    from rules.runtimes import RUNTIMES

    return RUNTIMES[name]


if __name__ == "__main__":
    sys.exit(main())
