"""In-process decision time (targets: one model < 20 ms; the whole catalog on one snapshot < 1 s).

Run: python benchmarks/bench_rules.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.models import catalog  # noqa: E402
from rules.plan import Request  # noqa: E402
from rules.select import recommend  # noqa: E402
from rules.workloads import decide  # noqa: E402
from tests.snapshots import gpu, machine  # noqa: E402

MACHINES = {
    "1x RTX 4090, 64 GiB RAM": machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9", 23.0)]),
    "2x H100 80GB, 512 GiB RAM": machine([gpu(i, "NVIDIA H100 80GB HBM3", 79.6, "9.0") for i in range(2)], ram_gib=512),
    "no GPU, 32 GiB RAM": machine([], ram_gib=32),
}


def main() -> None:
    specs = [catalog.spec_for(e["name"]) for e in catalog.entries()]
    one = catalog.spec_for("Llama-3.1-8B-Instruct")
    for label, snap in MACHINES.items():
        recommend(one, snap, Request())  # warm caches
        times = []
        for _ in range(20):
            t = time.perf_counter()
            recommend(one, snap, Request())
            times.append((time.perf_counter() - t) * 1000)
        start = time.perf_counter()
        fits = sum(decide(s, snap, Request(), siblings=catalog.family_of).fits for s in specs)  # every kind
        whole = time.perf_counter() - start
        start = time.perf_counter()
        for s in specs:
            if s.kind == "text-generation":
                recommend(s, snap, Request(), advise=False)
            else:
                decide(s, snap, Request())
        decide_only = time.perf_counter() - start
        print(f"{label:<28} one model: median {statistics.median(times):6.1f} ms | catalog ({len(specs)} models, {fits} fit): "
              f"{whole:5.2f} s with no-fit advice, {decide_only:5.2f} s decisions only")


if __name__ == "__main__":
    main()
