"""A plan's memory by phase: the prefill (the prompt's forward pass) and the end of decoding (the whole sequence
in the KV cache), each as weights + KV + working memory + runtime on one device.

The verdict of a plan (rules/placement.py) takes the KV of the whole context together with the prefill's working
memory at the longest prompt, which covers both phases at once; `advisor verify` compares each phase with what a
run really held, so the terms that disagree show. Only engines that model their phases say them (`Engine.phases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules import engines
from rules import memory as M
from rules.placement import kv_element_bytes
from rules.precisions import Precision
from rules.spec import ModelSpec


@dataclass(frozen=True)
class Phase:
    """One phase's estimated peak on one device, bytes: `typical` and `worst` differ on the CPU only."""

    name: str  # "prefill" or "decode"
    weights: int
    kv: int
    working: int  # at the typical peak
    runtime: int
    typical: int
    worst: int
    note: str = ""


def phases(spec: ModelSpec, precision: Precision, engine: str, prompt: int, context: int, batch: int,
           kv_dtype: str, on_cpu: bool) -> tuple[Phase, Phase] | None:
    """(prefill, decode) of one device holding the whole model, or None when the engine does not model them.

    Args:
        prompt: tokens of the prefill; context: tokens in the cache at the end of decoding (prompt included).
    """
    eng = engines.get(engine)
    weights = M.weight_split(spec, precision).total
    elem = kv_element_bytes(kv_dtype, precision)
    kv_context = M.kv_cache_bytes(spec, eng, context, batch, elem)
    # an engine that allocates the whole context's cache at start holds all of it during the prefill too
    kv_prompt = kv_context if eng.preallocates_kv else M.kv_cache_bytes(spec, eng, prompt, batch, elem)
    working = eng.phase_working(spec, precision, prompt, context, batch, elem, on_cpu)
    if working is None:
        return None
    runtime = eng.runtime(on_cpu)
    out = []
    for name, kv in (("prefill", kv_prompt), ("decode", kv_context)):
        typical, worst, note = working[name]
        base = weights + kv + runtime
        out.append(Phase(name, weights, kv, typical, runtime, base + typical, base + worst, note))
    return out[0], out[1]
