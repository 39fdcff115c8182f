"""Estimates next to published measurements: used by the tests (targets) and benchmarks/compare.py (figures).

Each comparison names its dataset row, the measured value, the estimate, and the ratio. The measured GPU
figures in measured-dev.json are torch allocator peaks (GiB): they exclude the CUDA context, so the
estimate compared is weights + KV cache + activations/workspace, on as many GPUs as the row used.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.models.resolve import resolve
from rules import engines
from rules import memory as M
from rules.engines import transformers as T
from rules.gguf_mix import MIXES
from rules.precisions import BY_NAME

GIB = 1024**3
MIB = 1024**2
_PRECISION = {"BF16": "bf16", "FP16": "fp16", "FP8": "fp8", "GPTQ-Int4": "gptq-int4", "GPTQ-Int8": "gptq-int8",
              "AWQ": "awq-int4",
              "AWQ-Int4": "awq-int4", "AWQ-INT4": "awq-int4"}


@dataclass(frozen=True)
class Comparison:
    dataset: str
    label: str
    measured: float
    estimate: float
    unit: str
    runs: tuple[float, ...] = ()  # every run's value when the row was measured several times (measured = the worst)

    @property
    def ratio(self) -> float:
        return self.estimate / self.measured


def transformers_gpu_estimate(row: dict[str, Any]) -> float:
    """The allocator peak in GiB that `advisor fit` plans for one published row (HF transformers on the row's GPUs,
    A100s unless the row names another,
    the row's prompt and its generated tokens, one GPU or a layer split as the row ran): the plan's memory on every
    GPU less the CUDA context, which torch.cuda.max_memory_allocated does not count."""
    from advisor import api

    gpus = int(row["gpus"])
    prompt = int(row["input_length_tokens"])
    result = api.recommend(row["model"].split("/")[-1], gpu=f"{gpus}x{row.get('gpu', 'A100 80GB')}", engine="transformers",
                           precision=_PRECISION[row["precision"]], context=prompt + int(row["generated_tokens"]),
                           prompt=prompt, batch=int(row["batch_size"]), headroom="0",
                           placement="layer-split" if gpus > 1 else "single-gpu")
    if result.plan is None:
        raise ValueError(f"no plan for {row['model']} {row['precision']} prompt {prompt} x{gpus}")
    used = sum(u.memory.total_bytes - u.memory.runtime_bytes for u in result.plan.per_device if u.kind == "gpu")
    return used / GIB


def measured_rows(path: Path) -> list[Comparison]:
    doc = json.loads(path.read_text())
    out = []
    for row in doc["measurements"]:
        if row["precision"] not in _PRECISION:
            continue
        label = f"{row['model']} {row['precision']} prompt {row['input_length_tokens']} x{row['gpus']} GPU"
        out.append(Comparison(path.name, label, float(row["gpu_memory_GB"]), transformers_gpu_estimate(row), "GiB"))
    return out


def gguf_file_estimate(model: str, quant: str) -> int:
    """Estimated GGUF file bytes: tensor data by llama.cpp's mix rules plus metadata and vocabulary."""
    spec = resolve(model)
    weights = M.weight_split(spec, BY_NAME[quant]).total
    return weights + M.gguf_metadata_bytes(spec)


def gguf_rows(path: Path) -> list[Comparison]:
    doc = json.loads(path.read_text())
    out = []
    for f in doc["files"]:
        if "size_bytes" in f and f["quant"] in MIXES:
            out.append(Comparison(path.name, f"{f['file']}", f["size_bytes"] / GIB,
                                  gguf_file_estimate(f["model"], f["quant"]) / GIB, "GiB"))
        for quant, row in (f.get("quant_table") or {}).items():
            if quant in MIXES:
                spec = resolve(f["model"])
                bits = 8 * M.weight_split(spec, BY_NAME[quant]).total / spec.params_total
                out.append(Comparison(path.name, f"{f['model']} {quant} (bits per weight)", row["bpw"], bits, "bpw"))
    return out


# --- CPU (HF transformers): calibrated on one half of the measured rows, checked on the other ----------------

CPU_CALIBRATION_MODELS = ("SmolLM2-135M-Instruct", "Qwen2.5-0.5B-Instruct", "gpt2")
"""The calibration half of benchmarks/data/cpu-transformers.json; SmolLM2-360M and Llama-3.2-1B are held out."""

# the grid the CPU constants are searched on (see fit_cpu_constants)
_MLP_GRID = tuple(k / 10 for k in range(10, 161))
_HOLES_GRID = tuple(k / 100 for k in range(0, 151))


@dataclass(frozen=True)
class CpuRow:
    row: dict[str, Any]
    weights: int  # the model's weights by our count at the row's dtype
    kv: int  # KV cache for prompt + new tokens
    mlp: int  # prompt tokens x FFN width x element bytes: one of the MLP's intermediates at the prompt's length
    holes: int  # layers x the prompt's hidden state in bytes, capped at glibc's mmap ceiling (heap_kept)

    @property
    def measured(self) -> int:
        return int(self.row["peak_rss_generate_bytes"])

    @property
    def process(self) -> int:
        """The process's resident size besides the weights after loading (parameters and buffers)."""
        return int(self.row["rss_after_load_bytes"]) - int(self.row["weight_bytes"])

    @property
    def activations(self) -> int:
        """Peak during generate beyond everything resident after loading and the KV cache."""
        return self.measured - int(self.row["rss_after_load_bytes"]) - self.kv

    @property
    def calibration(self) -> bool:
        return self.row["model"] in CPU_CALIBRATION_MODELS


def cpu_rows(path: Path) -> list[CpuRow]:
    out = []
    for row in json.loads(path.read_text())["rows"]:
        spec = resolve(row["model"])
        elem = 4 if row["dtype"] == "float32" else 2
        precision = BY_NAME["fp32" if elem == 4 else "bf16"]
        tokens = int(row["prompt_tokens"]) * int(row["batch"])
        out.append(CpuRow(
            row=row, weights=M.weight_split(spec, precision).total,
            kv=M.kv_cache_bytes(spec, engines.get("transformers"), int(row["prompt_tokens"]) + int(row["new_tokens"]),
                                int(row["batch"]), elem),
            mlp=tokens * M.ffn_width(spec) * elem,
            holes=(spec.layers or 0) * T.heap_kept(tokens * (spec.hidden_size or 0) * elem),
        ))
    return out


@dataclass(frozen=True)
class CpuConstants:
    process_bytes: int
    act_base_bytes: int
    mlp: float
    holes: float


def estimate_with(c: CpuConstants, r: CpuRow) -> int:
    """The CPU plan's total for this row under constants `c` (rules.memory's form; equal to cpu_estimate under the
    rules' own constants)."""
    return r.weights + r.kv + c.process_bytes + math.ceil(c.act_base_bytes + c.mlp * r.mlp + c.holes * r.holes)


def fit_cpu_constants(rows: list[CpuRow]) -> CpuConstants:
    """The constants of rules.memory's CPU plan, from measured rows (the calibration half).

    Process baseline: the largest resident size besides the weights after loading, rounded up to 16 MiB.
    Activations: base + mlp x tokens x FFN width x element bytes + holes x layers x the prompt's hidden state (capped
    at glibc's mmap ceiling, see rules.memory.heap_kept). On a grid of (mlp, holes), the base
    is the least that puts every row at or above its measurement, and the grid point kept is the one whose worst
    overestimate of the total peak is smallest.
    """
    process = -(-max(r.process for r in rows) // (16 * MIB)) * 16 * MIB
    fixed = [r.weights + process + r.kv for r in rows]
    best: tuple[float, CpuConstants] | None = None
    for mlp in _MLP_GRID:
        for holes in _HOLES_GRID:
            acts = [mlp * r.mlp + holes * r.holes for r in rows]
            base = max(0, max(math.ceil(r.activations - a) for r, a in zip(rows, acts, strict=True)))
            base = -(-base // MIB) * MIB
            worst = max((f + base + a) / r.measured for r, f, a in zip(rows, fixed, acts, strict=True))
            if best is None or worst < best[0] - 1e-12:
                best = (worst, CpuConstants(process, base, mlp, holes))
    assert best is not None
    return best[1]


# The typical CPU peak: the live memory of generate(). The per-layer trace (benchmarks/trace_cpu_heap.py --layers)
# puts the peak in the last layer's MLP with its three intermediates live at once (gate, up, their product), so the
# MLP factor is that physical 3; the base and the holes factor are fitted.
TYPICAL_MLP = 3.0
_TYPICAL_HOLES_GRID = tuple(k / 20 for k in range(0, 61))


def median_run(r: CpuRow) -> int:
    return int(statistics.median(int(v) for v in r.row.get("peak_rss_generate_runs_bytes", [r.measured])))


def worst_run(r: CpuRow) -> int:
    return max(int(v) for v in r.row.get("peak_rss_generate_runs_bytes", [r.measured]))


def fit_cpu_typical(rows: list[CpuRow]) -> CpuConstants:
    """Constants of the *typical* CPU peak (the median run of each row), from the calibration half.

    Process: the median resident size besides the weights after loading, rounded up to a MiB. Activations: base +
    3 x tokens x FFN width x element bytes + holes x layers x the prompt's hidden state (capped at the mmap ceiling);
    on the holes grid, the base (a MiB multiple) with the smallest largest relative error against the median runs.
    """
    process = -(-int(statistics.median(r.process for r in rows)) // MIB) * MIB
    best: tuple[float, CpuConstants] | None = None
    for holes in _TYPICAL_HOLES_GRID:
        acts = [TYPICAL_MLP * r.mlp + holes * r.holes for r in rows]
        exact = sorted({max(0, (median_run(r) - r.weights - r.kv - process - int(a)) // MIB) for r, a in
                        zip(rows, acts, strict=True)})
        for base_mib in range(exact[0], exact[-1] + 1):
            c = CpuConstants(process, base_mib * MIB, TYPICAL_MLP, holes)
            worst = max(abs(estimate_with(c, r) / median_run(r) - 1) for r in rows)
            if best is None or worst < best[0] - 1e-12:
                best = (worst, c)
    assert best is not None
    return best[1]


def fit_holes_allowance(rows: list[CpuRow]) -> float:
    """How far a row's worst run rises above its median run, as a share of what is not weights or KV cache (the
    process and generate's working memory, where the heap holes are): the largest on the calibration half, rounded
    up to a hundredth."""
    share = max((worst_run(r) - median_run(r)) / (median_run(r) - r.weights - r.kv) for r in rows)
    return math.ceil(share * 100) / 100


def range_with(typical: CpuConstants, allowance: float, r: CpuRow) -> tuple[int, int]:
    """(typical, worst) totals of the CPU plan for a row."""
    t = estimate_with(typical, r)
    return t, t + math.ceil(allowance * (t - r.weights - r.kv))


def cpu_estimate(r: CpuRow) -> int:
    """The CPU plan's verdict total (worst) for this row, from the rules' own functions and constants."""
    return cpu_range(r)[1]


def cpu_range(r: CpuRow) -> tuple[int, int]:
    """The CPU plan's (typical, worst) totals for this row, from the rules' own functions and constants."""
    spec = resolve(r.row["model"])
    elem = 4 if r.row["dtype"] == "float32" else 2
    return T.cpu_range(spec, int(r.row["prompt_tokens"]), int(r.row["batch"]), elem, r.weights, r.kv)


def cpu_comparisons(path: Path) -> list[Comparison]:
    out = []
    for r in cpu_rows(path):
        half = "calibration" if r.calibration else "held-out"
        label = f"{r.row['model']} {r.row['dtype']} prompt {r.row['prompt_tokens']} x{r.row['batch']}"
        runs = tuple(int(v) / GIB for v in r.row.get("peak_rss_generate_runs_bytes", [r.measured]))
        typical, worst = cpu_range(r)
        out.append(Comparison(f"{path.name} ({half}, worst vs the worst run)", label, worst_run(r) / GIB, worst / GIB,
                              "GiB", runs))
        out.append(Comparison(f"{path.name} ({half}, typical vs the median run)", label, median_run(r) / GIB,
                              typical / GIB, "GiB", runs))
    return out


def cpu_cross_validation(rows: list[CpuRow]) -> dict[str, tuple[float, float]]:
    """Leave one calibration model out: fit the typical constants on the other calibration models, then the lowest
    and highest error (typical / the median run - 1) on the model left out. What to expect on a model the constants
    never saw."""
    cal = [r for r in rows if r.calibration]
    out = {}
    for model in CPU_CALIBRATION_MODELS:
        c = fit_cpu_typical([r for r in cal if r.row["model"] != model])
        errs = [estimate_with(c, r) / median_run(r) - 1 for r in cal if r.row["model"] == model]
        out[model] = (min(errs), max(errs))
    return out
