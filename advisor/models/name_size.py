"""Last resort: the size written in a name ("GPT-3 175B", "mixtral-8x7b", "7b"). Approximate, labelled.

The shape (layers, KV heads, head size) is borrowed from the catalog model of the nearest size, so the
KV cache can still be estimated; every such number is listed in `estimated`.
"""

from __future__ import annotations

import re

from advisor.models import catalog
from advisor.models.spec import ModelSpec

_MOE = re.compile(r"(?<![a-z0-9.])(\d+)\s*x\s*(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.I)
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.I)


def parse_size(name: str) -> tuple[int, int, str] | None:
    """(total params, active params, how it was read), or None when the name holds no size."""
    if m := _MOE.search(name):
        count, each = int(m.group(1)), float(m.group(2)) * (1e9 if m.group(3).lower() == "b" else 1e6)
        if count == 0 or each == 0:
            return None
        # N experts of E each: total at most N x E (attention is shared); 2 active experts assumed.
        return int(count * each), int(min(count, 2) * each), f"{count} x {m.group(2)}{m.group(3).upper()} (mixture of experts)"
    if m := _SIZE.search(name):
        value = float(m.group(1)) * (1e9 if m.group(2).lower() == "b" else 1e6)
        if value == 0:
            return None
        return int(value), int(value), f"{m.group(1)}{m.group(2).upper()}"
    return None


def spec_from_name(name: str) -> ModelSpec | None:
    parsed = parse_size(name)
    if parsed is None:
        return None
    total, active, how = parsed
    llms = [catalog.spec_for(e["name"]) for e in catalog.entries() if e.get("kind") != "other"]
    dense = [s for s in llms if not s.is_moe and s.mla is None]
    shape = min(dense, key=lambda s: abs(s.params_total - active))
    return ModelSpec(
        name=name,
        source="name-size",
        params_total=total,
        params_active=active,
        exact=False,
        estimated=["params_total", "params_active", "layers", "hidden_size", "heads", "kv_heads", "head_dim",
                   "vocab_size", "max_context"],
        layers=shape.layers, hidden_size=shape.hidden_size, heads=shape.heads, kv_heads=shape.kv_heads,
        head_dim=shape.head_dim, vocab_size=shape.vocab_size, max_context=shape.max_context,
        native_dtype="bfloat16",
        notes=[f"APPROXIMATE: size {how} read from the name; attention shape borrowed from {shape.name}"],
    )
