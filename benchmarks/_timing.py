"""Shared helpers for benchmark scripts: time a command as a subprocess, several runs, median."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_wall_ms(cmd: list[str], runs: int = 15, warmup: int = 2) -> tuple[float, float, float]:
    """(median, min, max) wall time in milliseconds of running `cmd` to completion."""
    for _ in range(warmup):
        subprocess.run(cmd, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def report(label: str, cmd: list[str], runs: int = 15) -> float:
    med, lo, hi = median_wall_ms(cmd, runs)
    print(f"{label:<48} median {med:7.1f} ms   (min {lo:.1f}, max {hi:.1f}, {runs} runs)")
    return med


def compare_with_bare_python(cases: list[tuple[str, list[str], int]]) -> None:
    """Print the machine, `python -c pass` for reference, then each (label, argv after python, runs)."""
    import os
    import sys

    py = sys.executable
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    report("python -c pass", [py, "-c", "pass"])
    for label, args, runs in cases:
        report(label, [py, *args], runs=runs)
