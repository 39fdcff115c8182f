"""One check for the CPU ranges of the non-LLM workloads: the constants a workload module carries are the
calibration of its measured half, and on the rows the worst is never below any run and (held out) the typical is
within 10 % of the median run."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import ModuleType

import pytest

MIB = 1024**2


def assert_calibrated(calibration: ModuleType, workload: ModuleType, data: Path, min_held: int) -> None:
    doc = json.loads(data.read_text())
    f = calibration.calibrate(doc)
    group = next(iter(f["process_worst"]))
    assert pytest.approx(f["factor"], abs=0.01) == workload.CPU_FACTOR
    assert pytest.approx(f["base"], abs=MIB) == workload.CPU_BASE
    assert pytest.approx(f["holes_factor"], abs=0.01) == workload.CPU_HOLES_FACTOR
    assert 0 <= workload.CPU_HOLES_BASE - f["holes_base"] < MIB
    assert 0 <= workload.CPU_PROCESS - f["process_worst"][group] < MIB
    assert pytest.approx(f["process_typical"][group], abs=MIB) == workload.CPU_PROCESS_TYPICAL
    held = [r for r in doc["rows"] if r["model"] not in doc["calibration_models"]]
    assert len(held) >= min_held
    for row in doc["rows"]:
        assert calibration.estimate(row).total_bytes >= max(row[calibration.PEAKS]), row
    for row in held:
        typical = calibration.estimate(row).typical_total_bytes
        assert typical is not None and abs(typical / statistics.median(row[calibration.PEAKS]) - 1) <= 0.10, row
