"""Median wall time of `advisor check <catalog model> --json` as a subprocess (target: <= 200 ms on 2 cores).

Run: python benchmarks/bench_check.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare_with_bare_python  # noqa: E402

if __name__ == "__main__":
    compare_with_bare_python([
        ("advisor check llama3.1:8b --json (probes here)", ["-m", "advisor", "check", "llama3.1:8b", "--json"], 15),
        ("advisor check qwen2.5:72b --gpu '2x H100' --json", ["-m", "advisor", "check", "qwen2.5:72b", "--gpu", "2x H100",
                                                              "--json"], 15),
    ])
