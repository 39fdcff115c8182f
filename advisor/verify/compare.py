"""Estimate against measurement, term by term and phase by phase.

What a run measures, per device (advisor.verify.child):
- CPU: weights = the model's tensor bytes; runtime = the resident size after building less the weights (python,
  torch, transformers, the model's modules); KV = the cache's tensors at the end; each phase's peak = VmHWM.
- CUDA GPU: weights = what the allocator gained while building; runtime = NVML's figure for the process less
  what the allocator holds (the CUDA context and libraries); each phase's peak = the allocator's peak reserved
  plus that runtime.
A phase's working memory is its peak less weights, runtime and the KV held at that point (the prompt's share at
the end of the prefill).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rules.phases import Phase


@dataclass(frozen=True)
class Term:
    name: str
    estimate: int  # typical (the only figure off the CPU)
    measured: list[int]  # one per run
    worst: int | None = None  # CPU peaks: the worst of the range
    note: str = ""

    @property
    def median(self) -> int:
        return int(statistics.median(self.measured))

    @property
    def error(self) -> float | None:
        """(median measured - estimate) / estimate; None for an estimate of 0."""
        return (self.median - self.estimate) / self.estimate if self.estimate else None

    def to_json(self) -> dict[str, Any]:
        return {"term": self.name, "estimate_bytes": self.estimate, "estimate_worst_bytes": self.worst,
                "measured_bytes": self.measured, "median_bytes": self.median, "max_bytes": max(self.measured),
                "error": None if self.error is None else round(self.error, 4), "note": self.note}


@dataclass(frozen=True)
class Comparison:
    terms: list[Term]
    peak: Term
    held: bool  # every run's peak at or below the estimate (worst on the CPU)
    notes: list[str] = field(default_factory=list)


def _per_run(run: dict[str, Any], prompt: int, steps: int, on_gpu: bool, runtime_estimate: int,
             ) -> tuple[dict[str, int], str | None]:
    kv_end = int(run["kv_cache_bytes"])
    kv_prefill = kv_end * prompt // max(1, prompt + steps)
    ph = run["phases"]
    note = None
    if on_gpu:
        imports, built = run["after_imports"], run["after_build"]
        weights = int(built["allocated_bytes"]) - int(imports["allocated_bytes"])
        end = ph["decode"]
        if end.get("process_bytes") is not None:
            runtime = int(end["process_bytes"]) - int(end["reserved_bytes"])
        else:
            runtime = runtime_estimate
            note = "NVML does not say this process's GPU memory here: the runtime term is the estimate's"
        base = int(imports["allocated_bytes"])
        out = {"weights": weights, "kv": kv_end, "runtime": runtime,
               "prefill": int(ph["prefill"]["peak_reserved_bytes"]) + runtime,
               "decode": int(ph["decode"]["peak_reserved_bytes"]) + runtime,
               "prefill_working": int(ph["prefill"]["peak_allocated_bytes"]) - base - weights - kv_prefill,
               "decode_working": int(ph["decode"]["peak_allocated_bytes"]) - base - weights - kv_end}
        return out, note
    weights = int(run["weights_bytes"])
    built = int(run["after_build"]["rss_bytes"])
    prefill, decode = int(ph["prefill"]["peak_rss_bytes"]), int(ph["decode"]["peak_rss_bytes"])
    if run.get("kv_preallocated"):
        # llama.cpp: KV and compute buffer are allocated with the context and its mmapped weights are read in by
        # the first forward pass, so the runtime is the process before the model, and the rest is by phase
        runtime = int(run["after_imports"]["rss_bytes"])
        return {"weights": weights, "kv": kv_end, "runtime": runtime, "prefill": prefill, "decode": decode,
                "prefill_working": prefill - runtime - weights - kv_end,
                "decode_working": decode - runtime - weights - kv_end}, None
    return {"weights": weights, "kv": kv_end, "runtime": built - weights, "prefill": prefill, "decode": decode,
            "prefill_working": prefill - built - kv_prefill, "decode_working": decode - built - kv_end}, None


def compare(prefill: Phase, decode: Phase, runs: list[dict[str, Any]], prompt: int, steps: int,
            on_gpu: bool) -> Comparison:
    per, notes = [], []
    logged = runs[0] if runs else {}
    if "compute_buffer_log_bytes" in logged:
        notes.append(f"llama.cpp's log: compute buffer {logged['compute_buffer_log_bytes'] / 2**20:.2f} MiB, KV cache "
                     f"{logged.get('kv_cache_log_bytes', 0) / 2**20:.2f} MiB, weights "
                     f"{logged.get('weights_log_bytes', 0) / 2**20:.2f} MiB (the compute buffer is reserved whole "
                     "and only partly touched: resident memory counts what was)")
    preallocated = bool(logged.get("kv_preallocated"))
    for run in runs:
        values, note = _per_run(run, prompt, steps, on_gpu, prefill.runtime)
        per.append(values)
        if note and note not in notes:
            notes.append(note)

    def col(key: str) -> list[int]:
        return [v[key] for v in per]

    ranged = not on_gpu
    terms = [
        Term("weights", prefill.weights, col("weights")),
        Term("KV cache", decode.kv, col("kv"), note=f"{prompt + steps:,} tokens at the end"),
        Term("runtime", prefill.runtime, col("runtime"),
             note=("the process before the model (python and the engine's library)" if preallocated else
                   "the process and the model's modules" if ranged else "CUDA context and libraries")),
        Term("prefill working", prefill.working, col("prefill_working"), note=f"the prompt's {prompt:,} tokens"),
        Term("decode working", decode.working, col("decode_working"), note=decode.note),
        Term("prefill peak", prefill.typical, col("prefill"), worst=prefill.worst if ranged else None),
        Term("decode peak", decode.typical, col("decode"), worst=decode.worst if ranged else None),
    ]
    peaks = [max(v["prefill"], v["decode"]) for v in per]
    peak = Term("peak", max(prefill.typical, decode.typical), peaks,
                worst=max(prefill.worst, decode.worst) if ranged else None)
    held = max(peaks) <= (peak.worst if peak.worst is not None else peak.estimate)
    return Comparison(terms, peak, held, notes)
