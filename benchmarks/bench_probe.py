"""Median wall time of `advisor probe --json` as a subprocess (target: <= 250 ms without torch).

Run: python benchmarks/bench_probe.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare_with_bare_python  # noqa: E402

if __name__ == "__main__":
    compare_with_bare_python([
        ("advisor probe --json --no-torch", ["-m", "advisor", "probe", "--json", "--no-torch"], 15),
        ("advisor probe --json (torch in a child)", ["-m", "advisor", "probe", "--json"], 5),
    ])
