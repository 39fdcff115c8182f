"""ModelSpec as the resolvers build it: the contract lives in rules/spec.py (rules import it from there)."""

from __future__ import annotations

from typing import Any

from advisor.models.count import Counted
from rules.spec import Mla, ModelSpec, Quantization, Source, SpeechShape, TowerShape

__all__ = ["Mla", "ModelSpec", "Quantization", "Source", "spec_from_counted"]


def spec_from_counted(counted: Counted, **fields: Any) -> ModelSpec:
    """A ModelSpec from a config count; `fields` add name, source, dtype, quantization, ..."""
    mla = Mla(**counted.mla) if counted.mla else None
    if not counted.checked and fields.get("exact"):
        fields = {**fields, "exact": False,
                  "estimated": [*fields.get("estimated", []), "params_total"],
                  "notes": [*fields.get("notes", []), f"{counted.text_model_type}: counted from the architecture's "
                            "layout, not yet checked against a published total (approximate)"]}
    return ModelSpec(
        params_total=counted.total,
        params_active=counted.active,
        params_by_group=counted.groups,
        params_not_loaded=counted.extra,
        layers=counted.layers,
        hidden_size=counted.hidden,
        heads=counted.heads,
        kv_heads=counted.kv_heads,
        head_dim=counted.head_dim,
        intermediate_size=counted.intermediate,
        vocab_size=counted.vocab,
        max_context=counted.context,
        sliding_windows=list(counted.windows) if any(w is not None for w in counted.windows) else [],
        mla=mla,
        experts=counted.experts,
        experts_per_token=counted.experts_per_token,
        tied_embeddings=counted.tied_embeddings,
        kv_layers=list(counted.kv_layers) if counted.kv_layers is not None else None,
        state_elements=counted.state_elements,
        speech=SpeechShape(**counted.speech) if counted.speech else None,
        tower=TowerShape(**counted.tower) if counted.tower else None,
        **{"family": counted.text_model_type, "kind": counted.kind, **fields},
    )
