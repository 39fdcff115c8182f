"""Wall time of `advisor probe --json` as a subprocess: without torch, with torch on a warm cache (its answers
cached per torch build, driver and GPUs), and cold (`--refresh`: torch asked in a child process).
Target: warm with torch at most 1.5x --no-torch.

Run: python benchmarks/bench_probe.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare_with_bare_python  # noqa: E402

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        subprocess.run([sys.executable, "-m", "advisor", "probe", "--json"], capture_output=True, env=env, check=False)
        compare_with_bare_python([
            ("advisor probe --json --no-torch", ["-m", "advisor", "probe", "--json", "--no-torch"], 15),
            ("advisor probe --json (torch, warm cache)", ["-m", "advisor", "probe", "--json"], 15),
            ("advisor probe --json --refresh (torch, cold)", ["-m", "advisor", "probe", "--json", "--refresh"], 5),
        ], env=env)
