"""Last resort: a model known only by the size in its name. Approximate, labelled, and conservative: a guess never
makes a model smaller than it can be (advisor/models/sizes.py reads the name).

The shape (layers, KV heads, head size) is borrowed from the catalog model of the nearest size, so the KV cache
can still be estimated; every such number is listed in `estimated`.
"""

from __future__ import annotations

from advisor.models import catalog
from advisor.models.sizes import nominal_size, parse_size, read_size
from advisor.models.spec import ModelSpec

__all__ = ["nominal_size", "parse_size", "read_size", "spec_from_name"]


def spec_from_name(name: str) -> ModelSpec | None:
    found = read_size(name)
    if found is None:
        return None
    llms = [catalog.spec_for(e["name"]) for e in catalog.entries() if e.get("kind") != "other"]
    dense = [s for s in llms if not s.is_moe and s.mla is None]
    shape = min(dense, key=lambda s: abs(s.params_total - found.active))  # attention follows the active size
    return ModelSpec(
        name=name,
        source="name-size",
        params_total=found.total,
        params_active=found.active,
        exact=False,
        estimated=["params_total", "params_active", "layers", "hidden_size", "heads", "kv_heads", "head_dim",
                   "vocab_size", "max_context"],
        layers=shape.layers, hidden_size=shape.hidden_size, heads=shape.heads, kv_heads=shape.kv_heads,
        head_dim=shape.head_dim, vocab_size=shape.vocab_size, max_context=shape.max_context,
        native_dtype="bfloat16",
        notes=[f"APPROXIMATE: size {found.how}; attention shape borrowed from {shape.name}"],
    )
