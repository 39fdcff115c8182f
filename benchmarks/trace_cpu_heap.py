"""Where HF transformers' CPU peak comes from: live bytes vs holes in glibc's heap, per run and per layer.

Run:  python benchmarks/trace_cpu_heap.py MODEL DTYPE PROMPT BATCH [--runs 4] [--layers]
e.g.  python benchmarks/trace_cpu_heap.py Qwen2.5-0.5B-Instruct float32 2048 1 --runs 4
Needs: torch and transformers (pip install -e ".[bench]"), Linux with glibc >= 2.33 (mallinfo2).

Each run is a fresh process doing what benchmarks/measure_cpu.py does for one row, plus two instruments:
  - a thread polls /proc/self/statm during generate() and, at every new high of the resident size, reads glibc's
    mallinfo2: bytes in use, free bytes inside the heap (holes), mmapped bytes;
  - with --layers, a hook before and after every decoder layer's attention and MLP records the same figures.
Per run it prints the peak above the resident size after loading, and how that peak splits: what was live (in use
plus mmapped, above the same figures after loading) and the heap's holes at that moment. Runs differ far more in
the holes than in what is live; that is why measure_cpu.py keeps each row's worst of several runs.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure_cpu  # noqa: E402

MIB = 2**20
_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


def _heap_reader() -> Any:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    page = os.sysconf("SC_PAGE_SIZE")
    fd = os.open("/proc/self/statm", os.O_RDONLY)

    def read() -> dict[str, int]:
        os.lseek(fd, 0, 0)
        rss = int(os.read(fd, 200).split()[1]) * page
        info = libc.mallinfo2()
        return {"rss": rss, "in_use": info.uordblks, "holes": info.fordblks, "mmapped": info.hblkhd}

    return read


def trace_one(model: str, dtype: str, prompt: int, batch: int, threads: int, layers: bool) -> dict[str, Any]:
    """One run in this process: measure_cpu's measurement with the heap read at the peak (and at every layer)."""
    read = _heap_reader()
    state: dict[str, Any] = {"peak": None, "marks": [], "stop": False}

    def poll() -> None:
        while not state["stop"]:
            now = read()
            if state["peak"] is None or now["rss"] > state["peak"]["rss"]:
                state["peak"] = now
            time.sleep(0.0005)

    reset = measure_cpu._reset_peak

    def reset_and_start() -> None:
        reset()
        state["start"] = read()
        threading.Thread(target=poll, daemon=True).start()

    build = measure_cpu.build_model

    def build_with_hooks(config: Any, dtype_: Any) -> Any:
        net = build(config, dtype_)
        if layers:
            body = getattr(net, "model", None) or net.transformer  # Llama-style or GPT-2
            for i, layer in enumerate(getattr(body, "layers", None) or body.h):
                for part in ("self_attn", "attn", "mlp"):
                    module = getattr(layer, part, None)
                    if module is None:
                        continue
                    module.register_forward_pre_hook(lambda m, a, n=f"layer {i} {part} <": state["marks"].append((n, read())))
                    module.register_forward_hook(lambda m, a, o, n=f"layer {i} {part} >": state["marks"].append((n, read())))
        return net

    measure_cpu._reset_peak, measure_cpu.build_model = reset_and_start, build_with_hooks
    try:
        row = measure_cpu.measure_one(model, dtype, prompt, batch, threads)
    finally:
        state["stop"] = True
        measure_cpu._reset_peak, measure_cpu.build_model = reset, build
    start, peak = state["start"], state["peak"]
    return {
        "peak_over_loaded": row["peak_rss_generate_bytes"] - row["rss_after_load_bytes"],
        "live_at_peak": peak["in_use"] + peak["mmapped"] - start["in_use"] - start["mmapped"],
        "holes_at_peak": peak["holes"],
        "marks": [(name, {k: v - start[k] if k != "holes" else v for k, v in fig.items()}) for name, fig in state["marks"]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=measure_cpu.MODELS)
    ap.add_argument("dtype", choices=measure_cpu.DTYPES)
    ap.add_argument("prompt", type=int)
    ap.add_argument("batch", type=int)
    ap.add_argument("--runs", type=int, default=4, help="fresh processes (default %(default)s)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--layers", action="store_true", help="also print the figures before and after every layer part")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(trace_one(args.model, args.dtype, args.prompt, args.batch, args.threads, args.layers)))
        return 0
    print(f"{args.model} {args.dtype} prompt {args.prompt} x{args.batch}, {args.threads} threads; MiB above the "
          "figures after loading")
    print(f"{'run':>4} {'peak':>8} {'live':>8} {'holes':>8}")
    for run in range(1, args.runs + 1):
        cmd = [sys.executable, __file__, args.model, args.dtype, str(args.prompt), str(args.batch),
               "--threads", str(args.threads), "--child"] + (["--layers"] if args.layers else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"error: run {run} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}", file=sys.stderr)
            return 1
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{run:>4} {out['peak_over_loaded'] / MIB:>8.1f} {out['live_at_peak'] / MIB:>8.1f} "
              f"{out['holes_at_peak'] / MIB:>8.1f}")
        for name, fig in out["marks"]:
            print(f"     {name:<22} rss {fig['rss'] / MIB:>8.1f}  in use {fig['in_use'] / MIB:>8.1f}  "
                  f"holes {fig['holes'] / MIB:>8.1f}  mmapped {fig['mmapped'] / MIB:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
