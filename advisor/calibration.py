"""Estimates next to published measurements: used by the tests (targets) and benchmarks/compare.py (figures).

Each comparison names its dataset row, the measured value, the estimate, and the ratio. The measured GPU
figures in measured-dev.json are torch allocator peaks (GiB): they exclude the CUDA context, so the
estimate compared is weights + KV cache + activations/workspace, on as many GPUs as the row used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.models.resolve import resolve
from rules import memory as M
from rules.gguf_mix import MIXES
from rules.precisions import BY_NAME

GIB = 1024**3
_PRECISION = {"BF16": "bf16", "FP16": "fp16", "GPTQ-Int4": "gptq-int4", "GPTQ-Int8": "int8-w8a8", "AWQ": "awq-int4",
              "AWQ-Int4": "awq-int4"}


@dataclass(frozen=True)
class Comparison:
    dataset: str
    label: str
    measured: float
    estimate: float
    unit: str

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
