"""Time and peak memory of `advisor report` over generated fleets, with 3 models.

Run: python benchmarks/bench_report.py [--sizes 1000 10000 50000] [--format json]
Fleets come from tests/fleetgen.py (real machine kinds, idle GPUs alike, a quarter of GPU hosts busy with jobs of
common sizes, RAM available varying per host, 3 % partial probes), written as one JSON-lines file per size. Each
size runs `advisor report FILE -m ... --format json -o OUT` (a file beside the fleet) in a fresh process: wall time and that process's
peak RSS (from wait4). Target: 10 000 hosts in at most 5 s on a 2-core machine, growing linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleetgen import fleet  # noqa: E402

MODELS = ["llama3.1:8b", "qwen2.5:72b", "Qwen3-30B-A3B"]


def run(path: Path, fmt: str) -> tuple[float, int, int]:
    out = path.with_suffix(f".report.{fmt}")  # advisor writes regular files only (never into /dev)
    cmd = [sys.executable, "-m", "advisor", "report", str(path), "--format", fmt, "-o", str(out), "--stale-after", "10000d"]
    for m in MODELS:
        cmd += ["-m", m]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"advisor report failed ({code}): {proc.stderr.read().decode() if proc.stderr else ''}")
    return took, usage.ru_maxrss * 1024, code


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--format", default="json")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"advisor report with {len(MODELS)} models ({', '.join(MODELS)}), --format {args.format}, "
          f"best of {args.repeat}; {os.cpu_count()} CPUs")
    print(f"{'hosts':>8} {'seconds':>8} {'ms/host':>8} {'peak RSS':>10} {'KiB/host':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"fleet-{n}.jsonl"
            with path.open("w") as fh:
                for doc in fleet(n, seed=n):
                    fh.write(json.dumps(doc) + "\n")
            runs = [run(path, args.format) for _ in range(args.repeat)]
            took = min(r[0] for r in runs)
            rss = min(r[1] for r in runs)
            print(f"{n:>8} {took:>8.2f} {1000 * took / n:>8.3f} {rss / 2**20:>8.0f} MiB {rss / 1024 / n:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
