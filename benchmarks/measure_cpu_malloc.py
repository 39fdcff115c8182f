"""Do glibc's malloc settings shrink the heap holes that make a CPU peak move between runs?

Run:  python benchmarks/measure_cpu_malloc.py [--runs 4] [--out benchmarks/data/cpu-malloc.json]
Needs: torch and transformers (pip install -e ".[bench]"). No downloads (catalog configs, random weights).

The same rows as benchmarks/measure_cpu.py (its `--one` child measures each: RSS after loading, VmHWM during
generate), chosen where the runs spread most, each run in a fresh process under each setting below. The settings
are taken round-robin (one run of every setting, then the next round), so a drift of the machine during the
measurement falls on all of them alike. glibc reads these variables once, at the process's start (mallopt(3)):

- MALLOC_ARENA_MAX=1: one heap for every thread (torch's intra-op threads otherwise get arenas of their own);
- MALLOC_MMAP_THRESHOLD_=65536 / 1048576: blocks at least this large are mmapped and given back to the kernel
  when freed, instead of staying in the heap; a fixed value also stops glibc's dynamic threshold, which rises
  with every freed mmapped block up to 32 MiB on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX) and so puts later
  temporaries below that size in the heap, where freeing them leaves holes;
- MALLOC_TRIM_THRESHOLD_: free memory at the top of the heap beyond this is returned to the kernel.

jemalloc / tcmalloc were not measured: neither library is on this machine (ldconfig -p), nor in the package
registries these machines reach.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-malloc.json"
MEASURE = ROOT / "benchmarks" / "measure_cpu.py"

# fp32 rows of benchmarks/data/cpu-transformers.json whose runs spread most (8 to 19 %), at under ~25 s of generate
# each; fp32 because a CPU without AVX-512 BF16 runs bf16 matmuls many times slower
ROWS = [("Qwen2.5-0.5B-Instruct", "float32", 2048, 1), ("SmolLM2-135M-Instruct", "float32", 2048, 4),
        ("SmolLM2-135M-Instruct", "float32", 8192, 1)]

SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "arena-max-1": {"MALLOC_ARENA_MAX": "1"},
    "mmap-threshold-64k": {"MALLOC_MMAP_THRESHOLD_": "65536"},
    "mmap-threshold-1m": {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "1048576"},
}
GLIBC_VARS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
              "GLIBC_TUNABLES", "LD_PRELOAD")


def run_one(row: tuple[str, str, int, int], env_extra: dict[str, str], threads: int) -> dict[str, Any]:
    model, dtype, prompt, batch = row
    env = {k: v for k, v in os.environ.items() if k not in GLIBC_VARS}  # nothing inherited decides for a setting
    env.update(env_extra)
    cmd = [sys.executable, str(MEASURE), "--threads", str(threads), "--one", model, dtype, str(prompt), str(batch)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, row))} under {env_extra}: {proc.stderr.strip().splitlines()[-1:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = round(time.perf_counter() - t0, 2)
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    peaks = [r["peak_rss_generate_bytes"] for r in runs]
    above = [r["peak_rss_generate_bytes"] - r["rss_after_load_bytes"] for r in runs]
    return {"runs": len(runs), "peak_min_bytes": min(peaks), "peak_median_bytes": int(statistics.median(peaks)),
            "peak_max_bytes": max(peaks), "above_load_median_bytes": int(statistics.median(above)),
            "above_load_max_bytes": max(above),
            "generate_seconds_median": round(statistics.median(r["generate_seconds"] for r in runs), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4, help="fresh processes per row and setting (default %(default)s)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    results: dict[tuple[str, tuple[str, str, int, int]], list[dict[str, Any]]] = {}
    for rnd in range(1, args.runs + 1):
        for row in ROWS:
            for name, env_extra in SETTINGS.items():
                r = run_one(row, env_extra, args.threads)
                results.setdefault((name, row), []).append(r)
                print(f"[round {rnd}] {' '.join(map(str, row))} {name}: peak {r['peak_rss_generate_bytes'] / 2**20:.0f}"
                      f" MiB, generate {r['generate_seconds']} s", flush=True)
    rows = []
    for (name, row), runs in results.items():
        model, dtype, prompt, batch = row
        rows.append({"setting": name, "env": SETTINGS[name], "model": model, "dtype": dtype, "prompt_tokens": prompt,
                     "batch": batch, **summarise(runs),
                     "peak_rss_generate_runs_bytes": [r["peak_rss_generate_bytes"] for r in runs],
                     "rss_after_load_runs_bytes": [r["rss_after_load_bytes"] for r in runs],
                     "generate_seconds_runs": [r["generate_seconds"] for r in runs],
                     "conditions": runs[0]["conditions"]})
    doc = {"about": "Peak RSS of HF transformers' generate() on the CPU under glibc malloc settings, by "
                    "benchmarks/measure_cpu_malloc.py (rows and child of benchmarks/measure_cpu.py). Bytes.",
           "command": "python benchmarks/measure_cpu_malloc.py" + (f" --runs {args.runs}" if args.runs != 4 else ""),
           "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"\n{'row':<44} {'setting':<20} {'median':>8} {'max':>8} {'max-median':>10} {'gen s':>6}")
    for r in rows:
        label = f"{r['model']} {r['dtype']} {r['prompt_tokens']}x{r['batch']}"
        mib = 2**20
        print(f"{label:<44} {r['setting']:<20} {r['peak_median_bytes'] / mib:>8.0f} {r['peak_max_bytes'] / mib:>8.0f} "
              f"{(r['peak_max_bytes'] - r['peak_median_bytes']) / mib:>10.0f} {r['generate_seconds_median']:>6}")
    print(f"-> {args.out} ({doc['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
