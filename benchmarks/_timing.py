"""Shared helpers for benchmark scripts: time a command as a subprocess, several runs, median."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_wall_ms(cmd: list[str], runs: int = 15, warmup: int = 2,
                   env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(median, min, max) wall time in milliseconds of running `cmd` to completion."""
    for _ in range(warmup):
        subprocess.run(cmd, capture_output=True, check=False, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def report(label: str, cmd: list[str], runs: int = 15, base: float | None = None,
           env: dict[str, str] | None = None) -> float:
    """Print median and best of `runs`, and with `base` (the best of `python -c pass`) the ratio of the bests."""
    med, lo, hi = median_wall_ms(cmd, runs, env=env)
    ratio = f"   {lo / base:4.1f}x python -c pass (best of {runs})" if base else ""
    print(f"{label:<52} median {med:7.1f} ms   (min {lo:.1f}, max {hi:.1f}){ratio}")
    return lo


def compare_with_bare_python(cases: list[tuple[str, list[str], int]], env: dict[str, str] | None = None) -> None:
    """Print the machine, `python -c pass` for reference, then each (label, argv after python, runs) with its
    ratio to the bare interpreter measured in the same run (these machines are noisy: compare within a run)."""
    import os
    import sys

    py = sys.executable
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    base = report("python -c pass", [py, "-c", "pass"], runs=21)
    for label, args, runs in cases:
        report(label, [py, *args], runs=runs, base=base, env=env)
