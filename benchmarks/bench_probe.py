"""Median wall time of `advisor probe --json` as a subprocess (target: <= 250 ms without torch).

Run: python benchmarks/bench_probe.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import report  # noqa: E402


def main() -> None:
    py = sys.executable
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    report("python -c pass", [py, "-c", "pass"])
    report("advisor probe --json --no-torch", [py, "-m", "advisor", "probe", "--json", "--no-torch"])
    report("advisor probe --json (torch in a child)", [py, "-m", "advisor", "probe", "--json"], runs=5)


if __name__ == "__main__":
    main()
