"""Measure HF transformers' real memory on the CPU: resident size after loading and peak during generation.

Run:  python benchmarks/measure_cpu.py [--out benchmarks/data/cpu-transformers.json] [--threads 2] [--quick]
                                      [--repeats 3] [--budget-minutes 28] [--add-runs]
Needs: torch and transformers (pip install -e ".[bench]"). No downloads: every model is built with random
weights from its config in the built-in catalog (AutoModelForCausalLM.from_config), so shapes and bytes are
those of the real model.

Each row runs in a fresh Python process (`--one MODEL DTYPE PROMPT BATCH`), which
  1. imports torch + transformers and records the resident size (the engine's process baseline),
  2. builds the model in the asked dtype (random weights, tied embeddings tied) and records the resident size,
  3. resets the kernel's peak-RSS mark (writing 5 to /proc/self/clear_refs; Linux), runs `generate` with the
     prompt (random token ids, batch copies, greedy, 4 new tokens, the default "sdpa" attention) and reads the
     peak (VmHWM) back.
Rows record their conditions: library versions, thread count, CPU model, attention implementation.

The peak moves from one fresh process to the next. What is live at the peak repeats (glibc's mallinfo2: bytes
in use plus mmapped bytes agree within a few MiB between runs), but how much freed memory sits in holes of the
heap at that moment does not (Qwen2.5-0.5B fp32, prompt 2 048: 44 to 218 MiB over four runs): the order of
allocations, and so the holes, change with thread timing and with ASLR. So every row is measured once, then again
in further passes (cheapest rows first) up to --repeats processes per row while the whole run stays inside
--budget-minutes; a row keeps its worst run and lists every run's peak. `--add-runs` measures again and adds the
runs to the rows already stored (refused for a row measured under other conditions), to sample each row's upper
tail better over several invocations.

The matrix is the one of issue 7 trimmed to run in under 30 minutes on 2 cores: prompt 8 192 at batch 4 is
left out (32 768 prefill tokens per row would take most of the budget on its own) and GPT-2's prompts stop at
its 1 024 positions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-transformers.json"

MODELS = ["SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "Qwen2.5-0.5B-Instruct", "Llama-3.2-1B-Instruct", "gpt2"]
DTYPES = ["float32", "bfloat16"]
NEW_TOKENS = 4
DEFAULT_REPEATS = 3
DEFAULT_BUDGET_MIN = 28.0


def matrix(quick: bool, models: list[str] | None = None) -> list[tuple[str, str, int, int]]:
    rows = []
    for model in MODELS:
        prompts = [128, 1024 - NEW_TOKENS] if model == "gpt2" else [128, 2048, 8192]  # GPT-2 has 1 024 positions
        for dtype in DTYPES:
            for prompt in prompts:
                for batch in (1, 4):
                    if prompt == 8192 and batch == 4:
                        continue
                    rows.append((model, dtype, prompt, batch))
    if quick:
        rows = [r for r in rows if r[2] == 128 and r[0] in MODELS[:2]]
    if models:
        rows = [r for r in rows if r[0] in models]
    return rows


# --- the child: one measurement in this process --------------------------------------------------------------
# The kernel's marks and the random build are advisor verify's own (advisor/verify/rss.py, build.py): the dataset
# and the command measure the same way.
from advisor.verify.build import fill_from_pool  # noqa: E402, F401 - re-exported to the other measure_cpu_* scripts
from advisor.verify.rss import conditions  # noqa: E402
from advisor.verify.rss import reset_peak as _reset_peak  # noqa: E402
from advisor.verify.rss import status_bytes as _status_bytes  # noqa: E402


def build_model(config: dict[str, Any], dtype_name: str) -> Any:
    """The causal LM of a config dict with random weights on the CPU (advisor.verify.build.causal_lm)."""
    from advisor.verify.build import causal_lm

    return causal_lm(config, dtype_name, "cpu")


def measure_one(model: str, dtype_name: str, prompt: int, batch: int, threads: int) -> dict[str, Any]:
    rss_python = _status_bytes("VmRSS")
    import torch
    import transformers

    sys.path.insert(0, str(ROOT))
    from advisor.models import catalog

    torch.set_num_threads(threads)
    rss_imports = _status_bytes("VmRSS")
    entry = catalog.find(model)
    if entry is None:
        raise SystemExit(f"{model} is not in the catalog")
    t0 = time.perf_counter()
    net = build_model(dict(entry["config"]), dtype_name)
    config = net.config
    load_s = time.perf_counter() - t0
    weight_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    weight_bytes += sum(b.numel() * b.element_size() for b in net.buffers())
    rss_loaded = _status_bytes("VmRSS")

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (1, prompt), generator=gen).repeat(batch, 1)
    mask = torch.ones_like(ids)
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = net.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                           do_sample=False, pad_token_id=0)
    gen_s = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    assert out.shape == (batch, prompt + NEW_TOKENS)
    return {
        "model": entry["name"], "dtype": dtype_name, "prompt_tokens": prompt, "batch": batch,
        "new_tokens": NEW_TOKENS,
        "weight_bytes": weight_bytes,
        "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports,
        "rss_after_load_bytes": rss_loaded, "peak_rss_generate_bytes": peak,
        "load_seconds": round(load_s, 2), "generate_seconds": round(gen_s, 2),
        "conditions": conditions(transformers=transformers.__version__,
                                 attn_implementation=net.config._attn_implementation),
    }


# --- the parent: the matrix, fresh processes per row ------------------------------------------------------------

def _run_child(threads: int, key: tuple[str, str, int, int]) -> tuple[dict[str, Any] | None, str | None]:
    model, dtype, prompt, batch = key
    cmd = [sys.executable, __file__, "--threads", str(threads), "--one", model, dtype, str(prompt), str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def _worst_run(runs: list[dict[str, Any]], prior: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run with the highest peak, with every run's peak and resident size after loading beside it; `prior`
    is a row from an earlier invocation (--add-runs) whose runs are counted in.

    The peak moves from one fresh process to the next (by up to ~15 % of the total here): what is live at the
    peak repeats, but how much freed memory glibc keeps resident in holes of the heap does not (the heap's
    layout depends on ASLR and on thread timing). The worst run is the one an estimate has to cover."""
    candidates = runs + ([prior] if prior else [])
    worst = dict(max(candidates, key=lambda r: r["peak_rss_generate_bytes"]))
    earlier_peaks = prior["peak_rss_generate_runs_bytes"] if prior else []
    earlier_loads = prior["rss_after_load_runs_bytes"] if prior else []
    worst["runs"] = len(runs) + (prior["runs"] if prior else 0)
    worst["peak_rss_generate_runs_bytes"] = earlier_peaks + [r["peak_rss_generate_bytes"] for r in runs]
    worst["rss_after_load_runs_bytes"] = earlier_loads + [r["rss_after_load_bytes"] for r in runs]
    return worst


def _key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    return row["model"], row["dtype"], int(row["prompt_tokens"]), int(row["batch"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--quick", action="store_true", help="a few small rows, to try the script")
    ap.add_argument("--models", nargs="+", choices=MODELS, help="measure only these; with an existing --out, "
                    "their rows are replaced and the others kept")
    ap.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                    help="fresh processes per row at most; the row keeps the worst peak (default %(default)s)")
    ap.add_argument("--budget-minutes", type=float, default=DEFAULT_BUDGET_MIN,
                    help="repeats stop when the next would end past this (default %(default)s)")
    ap.add_argument("--add-runs", action="store_true",
                    help="add the new runs to the rows already in --out (each row keeps its worst run of all)")
    ap.add_argument("--one", nargs=4, metavar=("MODEL", "DTYPE", "PROMPT", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        model, dtype, prompt, batch = args.one
        print(json.dumps(measure_one(model, dtype, int(prompt), int(batch), args.threads)))
        return 0

    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: {' and '.join(missing)} not installed in {sys.executable}; pip install -e \".[bench]\"",
              file=sys.stderr)
        return 2
    rows, failures = [], []
    started = time.perf_counter()
    plan = matrix(args.quick, args.models)
    done: dict[tuple[str, str, int, int], list[dict[str, Any]]] = {}
    took: dict[tuple[str, str, int, int], float] = {}
    budget = args.budget_minutes * 60
    for rep in range(1, args.repeats + 1):
        # the first pass measures every row; later passes repeat rows, cheapest first, while the budget allows
        order = plan if rep == 1 else sorted((k for k in plan if k in done), key=lambda k: took[k])
        for i, key in enumerate(order, 1):
            model, dtype, prompt, batch = key
            if rep > 1 and time.perf_counter() - started + 1.1 * took[key] > budget:
                continue
            name = f"[pass {rep}, {i}/{len(order)}] {model} {dtype} prompt {prompt} x{batch}"
            t0 = time.perf_counter()
            row, error = _run_child(args.threads, key)
            took[key] = max(took.get(key, 0.0), time.perf_counter() - t0)
            if error is not None:
                failures.append({"model": model, "dtype": dtype, "prompt_tokens": prompt, "batch": batch, "error": error})
                print(f"{name}: FAILED {error}", flush=True)
                continue
            assert row is not None
            done.setdefault(key, []).append(row)
            print(f"{name}: after load {row['rss_after_load_bytes'] / 2**20:.0f} MiB, "
                  f"peak {row['peak_rss_generate_bytes'] / 2**20:.0f} MiB ({took[key]:.1f} s)", flush=True)
    old = json.loads(args.out.read_text()) if (args.models or args.add_runs) and args.out.exists() else None
    prior = {_key(r): r for r in old["rows"]} if old and args.add_runs else {}
    for key, runs_of in done.items():
        if key in prior and any(r["conditions"] != prior[key]["conditions"] for r in runs_of):
            print(f"error: {' '.join(map(str, key))} was measured under other conditions in {args.out}; "
                  "not adding runs to it", file=sys.stderr)
            return 2
    rows = [_worst_run(runs_of, prior.get(key)) for key, runs_of in done.items()]
    command = ("python benchmarks/measure_cpu.py" + (" --quick" if args.quick else "")
               + (f" --models {' '.join(args.models)}" if args.models else "")
               + (" --add-runs" if args.add_runs else "")
               + (f" --repeats {args.repeats}" if args.repeats != DEFAULT_REPEATS else "")
               + (f" --budget-minutes {args.budget_minutes:g}" if args.budget_minutes != DEFAULT_BUDGET_MIN else ""))
    runs = [{"command": command, "rows": len(rows), "processes": sum(len(r) for r in done.values()),
             "seconds": round(time.perf_counter() - started, 1)}]
    if old:
        measured = {_key(r) for r in rows}
        rows = [r for r in old["rows"] if _key(r) not in measured] + rows
        failures = [f for f in old.get("failures", []) if _key(f) not in measured] + failures
        runs = old.get("runs", []) + runs
    rows.sort(key=lambda r: (MODELS.index(r["model"]) if r["model"] in MODELS else 99, DTYPES.index(r["dtype"]),
                             r["prompt_tokens"], r["batch"]))
    doc = {
        "about": "Resident memory of HF transformers on the CPU, measured by benchmarks/measure_cpu.py: models of the "
                 "built-in catalog built from their configs with random weights; RSS after loading and peak RSS "
                 "(VmHWM, reset after loading) during generate() of new_tokens greedy tokens. Bytes.",
        "runs": runs,
        "rows": rows,
        "failures": failures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"{len(rows)} rows, {len(failures)} failures, {round(time.perf_counter() - started, 1)} s -> {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
