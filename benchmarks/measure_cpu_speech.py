"""Measure Whisper's real memory on the CPU with transformers: resident size after building, peak during generate.

Run:  python benchmarks/measure_cpu_speech.py [--out benchmarks/data/cpu-speech.json] [--threads 2] [--runs 2]
Needs torch and transformers (the vision-bench venv has both). No downloads: each model is built with random weights
from the catalog's config (WhisperForConditionalGeneration(WhisperConfig(...))).

Each row (model, batch of 30 s windows, beams, new tokens) runs in fresh processes (`--one ...`), each of which
imports torch + transformers (the process baseline), builds the model in fp32 (without transformers' init, then
every weight filled from a pool of random values, so the resident size is the weights', as after loading), makes random log-mel features
(batch x mel bins x 3000 frames), resets the kernel's peak-RSS mark (5 > /proc/self/clear_refs) and runs greedy or
beam-search generation of exactly `new tokens` tokens after the start token (GenerationMixin.generate: the decoder
loop without Whisper's language and timestamp logic, which needs the tokenizer's ids) and reads VmHWM.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.measure_cpu import _cpu_model, _reset_peak, _status_bytes  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-speech.json"
# (model, batch, beams, new tokens)
MATRIX: list[tuple[str, int, int, int]] = [
    (m, b, k, n) for m in ("whisper-tiny", "whisper-base", "whisper-small")
    for b, k in ((1, 1), (4, 1), (1, 4)) for n in (64, 224)
] + [("whisper-medium", 1, 1, 64), ("whisper-medium", 2, 1, 64), ("whisper-large-v3-turbo", 1, 1, 64)]
CALIBRATION_MODELS = ("whisper-tiny", "whisper-small")


def measure_one(name: str, batch: int, beams: int, new_tokens: int, threads: int) -> dict[str, Any]:
    rss_python = _status_bytes("VmRSS")
    import torch
    import transformers
    from transformers.generation.utils import GenerationMixin

    from advisor.models import catalog

    torch.set_num_threads(threads)
    rss_imports = _status_bytes("VmRSS")
    entry = catalog.find(name)
    if entry is None:
        raise SystemExit(f"{name} is not in the catalog")
    cfg = {k: v for k, v in entry["config"].items() if k not in ("model_type", "architectures")}
    torch.manual_seed(0)
    from transformers.initialization import no_init_weights

    with no_init_weights():  # as a checkpoint load: no per-tensor init temporaries; then fill from a small pool
        model = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**cfg)).eval()
    pool = torch.randn(1 << 20) * 0.02
    with torch.no_grad():
        for p in model.parameters():
            flat = p.view(-1)
            for i in range(0, flat.numel(), pool.numel()):
                n = min(pool.numel(), flat.numel() - i)
                flat[i:i + n].copy_(pool[:n])
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    rss_loaded = _status_bytes("VmRSS")
    features = torch.randn(batch, cfg["num_mel_bins"], 3000)
    start = torch.full((batch, 1), 50258)
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = GenerationMixin.generate(model, input_features=features, decoder_input_ids=start,
                                       attention_mask=None, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       num_beams=beams, do_sample=False, pad_token_id=50257, eos_token_id=50257)
    seconds = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    assert out.shape == (batch, new_tokens + 1), out.shape
    return {"model": entry["name"], "batch": batch, "beams": beams, "new_tokens": new_tokens, "dtype": "float32",
            "weight_bytes": weight_bytes, "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports,
            "rss_after_load_bytes": rss_loaded, "peak_rss_generate_bytes": peak,
            "generate_seconds": round(seconds, 2),
            "conditions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "attn_implementation": model.config._attn_implementation,
                           "python": platform.python_version(), "threads": torch.get_num_threads(),
                           "cpu": _cpu_model(), "machine": platform.machine()}}


def _child(threads: int, row: tuple[str, int, int, int]) -> tuple[dict[str, Any] | None, str | None]:
    cmd = [sys.executable, __file__, "--threads", str(threads), "--one", *map(str, row)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="Fresh processes per row")
    parser.add_argument("--one", nargs=4, metavar=("NAME", "BATCH", "BEAMS", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        name, batch, beams, tokens = args.one
        print(json.dumps(measure_one(name, int(batch), int(beams), int(tokens), args.threads)))
        return 0
    rows = []
    for key in MATRIX:
        runs, errors = [], []
        for _ in range(args.runs):
            row, error = _child(args.threads, key)
            (runs.append(row) if row else errors.append(error))
        if not runs:
            print(f"{key}: failed ({errors[0]})", file=sys.stderr)
            continue
        worst = dict(max(runs, key=lambda r: r["peak_rss_generate_bytes"]))
        worst["runs"] = len(runs)
        worst["peak_rss_generate_runs_bytes"] = [r["peak_rss_generate_bytes"] for r in runs]
        worst["rss_after_load_runs_bytes"] = [r["rss_after_load_bytes"] for r in runs]
        rows.append(worst)
        print(f"{key}: peak MiB {[round(p / 2**20) for p in worst['peak_rss_generate_runs_bytes']]} "
              f"(after load {worst['rss_after_load_bytes'] / 2**20:.0f})", flush=True)
    doc = {"about": "Whisper on the CPU with HF transformers (fp32, sdpa): resident size after imports and after "
                    "building, and the peak resident size (VmHWM, reset after building) during generation of "
                    "exactly new_tokens tokens for `batch` 30 s windows with `beams` beams; bytes. Measured by "
                    "benchmarks/measure_cpu_speech.py, random weights, fresh processes; the row's fields are its "
                    "worst run's.",
           "calibration_models": list(CALIBRATION_MODELS), "rows": rows}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"{len(rows)} rows -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
