"""Calibrate the CPU constants of the speech workload (rules/workloads/speech.py) on benchmarks/data/cpu-speech.json.

Each row's live bytes are the workload's own (the larger of the encoder stage and the decoder's caches, fp32, for
its windows, beams and new tokens); benchmarks/range_fit.py fits the range on the calibration models the data file
names, and the held-out rows are reported against every run (typical vs the median run, worst vs the worst run).

Run: python benchmarks/calibration_speech.py   (no torch needed)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "benchmarks" / "data" / "cpu-speech.json"
PEAKS = "peak_rss_generate_runs_bytes"


def _request(row: dict[str, Any]) -> Any:
    from rules.plan import Request

    return Request(batch=row["batch"], beams=row["beams"], new_tokens=row["new_tokens"])


def live(row: dict[str, Any]) -> float:
    from advisor.models import catalog
    from rules.workloads.speech import live_bytes

    return live_bytes(catalog.spec_for(row["model"]), _request(row), 4)


def calibrate(doc: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.range_fit import fit_range

    calib = [r for r in doc["rows"] if r["model"] in doc["calibration_models"]]
    return fit_range(calib, live, PEAKS, lambda r: "transformers")


def estimate(row: dict[str, Any]) -> Any:
    from advisor.models import catalog
    from rules.runtimes import CPU, SPEECH_RUNTIMES
    from rules.workloads.speech import memory

    return memory(catalog.spec_for(row["model"]), SPEECH_RUNTIMES["transformers"], CPU, "fp32", _request(row))


def main() -> int:
    from benchmarks.range_fit import print_calibration
    from rules.workloads import speech as workload

    doc = json.loads(DATA.read_text())
    print_calibration(doc, calibrate(doc), workload, estimate, PEAKS,
                      lambda r: f"{r['model']} x{r['batch']} beams {r['beams']} tokens {r['new_tokens']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
