"""Estimates next to published measurements: used by the tests (targets) and benchmarks/compare.py (figures).

Each comparison names its dataset row, the measured value, the estimate, and the ratio. The measured GPU
figures in measured-dev.json are torch allocator peaks (GiB): they exclude the CUDA context, so the
estimate compared is weights + KV cache + activations/workspace, on as many GPUs as the row used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.models.resolve import resolve
from rules import memory as M
from rules.gguf_mix import MIXES
from rules.precisions import BY_NAME

GIB = 1024**3
MIB = 1024**2
_PRECISION = {"BF16": "bf16", "FP16": "fp16", "GPTQ-Int4": "gptq-int4", "GPTQ-Int8": "int8-w8a8", "AWQ": "awq-int4",
              "AWQ-Int4": "awq-int4"}


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
    """Estimated allocator peak in GiB for one measured-dev row (HF transformers on 1..n GPUs)."""
    spec = resolve(row["model"])
    precision = BY_NAME[_PRECISION[row["precision"]]]
    gpus = int(row["gpus"])
    prompt = int(row["input_length_tokens"])
    tokens = prompt + int(row["generated_tokens"])
    batch = int(row["batch_size"])
    weights = M.weight_split(spec, precision).total
    kv = M.kv_cache_bytes(spec, "transformers", tokens, batch, 2)
    # device_map="auto" splits layers over the GPUs; each GPU with layers sees the prefill peak.
    act = gpus * (M.transformers_activations(spec, prompt, batch, 2) + M.quant_workspace(spec, precision))
    return (weights + kv + act) / GIB


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
_FP32_HIDDEN_GRID = (0, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32)
_LOGITS_GRID = (0, 2, 4, 8)
_KV_COPIES_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
_FACTOR_GRID = tuple(k / 10 for k in range(5, 40))


@dataclass(frozen=True)
class CpuRow:
    row: dict[str, Any]
    weights: int  # the model's weights by our count at the row's dtype
    kv: int  # KV cache for prompt + new tokens
    kv_prompt: int  # KV cache of the prompt: what DynamicCache's torch.cat copies
    unit: int  # (4 x FFN width + hidden) x element bytes: the per-token shape of transformers' prefill peak
    hidden4: int  # hidden x 4 bytes: one fp32 copy of a token's hidden state (norms upcast to fp32)
    logits: int  # batch x vocabulary x 4 bytes: one fp32 row of logits per sequence
    tokens: int  # prompt x batch

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
            kv=M.kv_cache_bytes(spec, "transformers", int(row["prompt_tokens"]) + int(row["new_tokens"]), int(row["batch"]), elem),
            kv_prompt=M.kv_cache_bytes(spec, "transformers", int(row["prompt_tokens"]), int(row["batch"]), elem),
            unit=(4 * M.ffn_width(spec) + (spec.hidden_size or 0)) * elem, hidden4=(spec.hidden_size or 0) * 4,
            logits=int(row["batch"]) * (spec.vocab_size or 0) * 4, tokens=tokens,
        ))
    return out


@dataclass(frozen=True)
class CpuConstants:
    process_bytes: int
    act_base_bytes: int
    act_factor: float
    fp32_hidden_copies: int
    logits_copies: int
    kv_copies: float


def _act(r: CpuRow, factor: float, copies: int, logits: int, kv_copies: float) -> float:
    return (r.tokens * r.unit * factor + copies * M.heap_resident(r.tokens * r.hidden4) + logits * r.logits
            + kv_copies * r.kv_prompt)


def fit_cpu_constants(rows: list[CpuRow]) -> CpuConstants:
    """The constants of rules.memory's CPU plan, from measured rows (the calibration half).

    Process baseline: the largest resident size besides the weights after loading, rounded up to 16 MiB.
    Activations: base + tokens x factor x unit + copies x the prompt's fp32 hidden state (when it is below glibc's
    mmap ceiling, see rules.memory.heap_resident) + logits copies x batch x vocab x 4 + KV copies x the prompt's
    KV cache; on a grid of (factor, copies, logits, KV copies), the base is the least
    that puts every row at or above its measurement, and the grid point kept is the one whose worst overestimate
    of the total peak is smallest.
    """
    process = -(-max(r.process for r in rows) // (16 * MIB)) * 16 * MIB
    best: tuple[float, CpuConstants] | None = None
    for copies in _FP32_HIDDEN_GRID:
        for logits in _LOGITS_GRID:
            for kv_copies in _KV_COPIES_GRID:
                for factor in _FACTOR_GRID:
                    acts = [_act(r, factor, copies, logits, kv_copies) for r in rows]
                    base = max(0, max(math.ceil(r.activations - a) for r, a in zip(rows, acts, strict=True)))
                    base = -(-base // MIB) * MIB
                    worst = max((r.weights + process + r.kv + base + a) / r.measured for r, a in zip(rows, acts, strict=True))
                    if best is None or worst < best[0] - 1e-12:
                        best = (worst, CpuConstants(process, base, factor, copies, logits, kv_copies))
    assert best is not None
    return best[1]


def cpu_estimate(r: CpuRow) -> int:
    """The CPU plan's total for this row, from the rules' own functions and constants."""
    spec = resolve(r.row["model"])
    elem = 4 if r.row["dtype"] == "float32" else 2
    act = M.transformers_cpu_activations(spec, int(r.row["prompt_tokens"]), int(r.row["batch"]), elem)
    return r.weights + r.kv + act + M.TRANSFORMERS_CPU_PROCESS


def cpu_comparisons(path: Path) -> list[Comparison]:
    out = []
    for r in cpu_rows(path):
        half = "calibration" if r.calibration else "held-out"
        label = f"{r.row['model']} {r.row['dtype']} prompt {r.row['prompt_tokens']} x{r.row['batch']}"
        runs = tuple(int(v) / GIB for v in r.row.get("peak_rss_generate_runs_bytes", [r.measured]))
        out.append(Comparison(f"{path.name} ({half})", label, r.measured / GIB, cpu_estimate(r) / GIB, "GiB", runs))
    return out
