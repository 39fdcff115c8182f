"""Median wall time of `advisor check <catalog model> --json` as a subprocess (target: <= 200 ms on 2 cores).

Run: python benchmarks/bench_check.py
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
    report("advisor check llama3.1:8b --json (probes here)", [py, "-m", "advisor", "check", "llama3.1:8b", "--json"])
    report("advisor check qwen2.5:72b --gpu '2x H100' --json", [py, "-m", "advisor", "check", "qwen2.5:72b", "--gpu", "2x H100",
                                                               "--json"])


if __name__ == "__main__":
    main()
