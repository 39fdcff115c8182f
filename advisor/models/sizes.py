"""What a model's name says about its size ("GPT-3 175B", "mixtral-8x7b", "Qwen3-30B-A3B", "Llama-4-Scout-17B-16E",
"gemma-3n-E4B"): conservative readings, each saying what it assumed. Pure text parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"(\d{1,5}(?:\.\d{1,3})?)"
_EDGE = r"(?<![a-z0-9.])"
_END = r"(?![a-z0-9])"
# "8x7B": N experts of E each (Mixtral)
_EXPERTS_TIMES = re.compile(rf"{_EDGE}(\d{{1,3}})\s?x\s?{_NUM}\s?([bm]){_END}", re.I)
# "30B-A3B": total, then active (Qwen3 MoE)
_TOTAL_ACTIVE = re.compile(rf"{_EDGE}{_NUM}([bm])[-_ ]a{_NUM}([bm]){_END}", re.I)
# "17B-16E": active size, then the number of experts (Llama 4)
_ACTIVE_EXPERTS = re.compile(rf"{_EDGE}{_NUM}([bm])[-_ ](\d{{1,4}})e{_END}", re.I)
# "E4B": an effective size (Gemma 3n: per-layer embeddings make the raw count larger)
_EFFECTIVE = re.compile(rf"{_EDGE}e{_NUM}([bm]){_END}", re.I)
_SIZE = re.compile(rf"{_EDGE}{_NUM}\s?([bm]){_END}", re.I)
# Gemma 3n: E2B has about 5B raw parameters and E4B about 8B (Google's Gemma 3n model card), so a raw count of
# 2.5x the effective size covers both.
EFFECTIVE_RAW_FACTOR = 2.5
MIXTRAL_ACTIVE_EXPERTS = 2  # top-2 routing (Mixtral's model card); assumed for other "NxM" names


@dataclass(frozen=True)
class NameSize:
    total: int
    active: int
    how: str  # what was read and what was assumed
    quoted: int  # the size as people quote it


def _value(number: str, unit: str) -> float:
    return float(number) * (1e9 if unit.lower() == "b" else 1e6)


def read_size(name: str) -> NameSize | None:
    """What the name says about the size, or None when it holds none."""
    if len(name) > 512:
        name = name[:512]
    if m := _EXPERTS_TIMES.search(name):
        count, each = int(m.group(1)), _value(m.group(2), m.group(3))
        if count and each:
            active = min(count, MIXTRAL_ACTIVE_EXPERTS) * each
            return NameSize(int(count * each), int(active), f"{count} x {m.group(2)}{m.group(3).upper()}: a mixture of "
                            f"{count} experts, counted as {count} whole models of {m.group(2)}{m.group(3).upper()} "
                            f"(an upper bound), {MIXTRAL_ACTIVE_EXPERTS} active", int(count * each))
    if m := _TOTAL_ACTIVE.search(name):
        total, active = _value(m.group(1), m.group(2)), _value(m.group(3), m.group(4))
        if total and active and active <= total:
            return NameSize(int(total), int(active), f"{m.group(1)}{m.group(2).upper()} in total, "
                            f"{m.group(3)}{m.group(4).upper()} active (a mixture of experts)", int(total))
    if m := _ACTIVE_EXPERTS.search(name):
        active, experts = _value(m.group(1), m.group(2)), int(m.group(3))
        if active and experts:
            total = active * experts
            return NameSize(int(total), int(active), f"{m.group(1)}{m.group(2).upper()} active with {experts} experts: "
                            f"the total is not in the name; counted as {experts} x {m.group(1)}{m.group(2).upper()} "
                            "(an upper bound: no expert is larger than the active size)", int(active))
    if m := _EFFECTIVE.search(name):
        effective = _value(m.group(1), m.group(2))
        if effective:
            raw = effective * EFFECTIVE_RAW_FACTOR
            return NameSize(int(raw), int(raw), f"E{m.group(1)}{m.group(2).upper()}: an effective size; the raw count "
                            f"is larger, taken as {EFFECTIVE_RAW_FACTOR:g} x (Gemma 3n: E2B is 5B raw, E4B 8B)",
                            int(effective))
    if m := _SIZE.search(name):
        value = _value(m.group(1), m.group(2))
        if value:
            return NameSize(int(value), int(value), f"{m.group(1)}{m.group(2).upper()} read from the name", int(value))
    return None


def parse_size(name: str) -> tuple[int, int, str] | None:
    """(total params, active params, how it was read), or None when the name holds no size."""
    found = read_size(name)
    return (found.total, found.active, found.how) if found else None


def nominal_size(name: str, params_total: int) -> int | None:
    """The size people quote ("7B") when the name carries one close (within 25 %) to the exact count."""
    found = read_size(name)
    if found is None or not params_total:
        return None
    for quoted in (found.quoted, found.total):
        if abs(quoted - params_total) <= 0.25 * params_total:
            return quoted
    return None


