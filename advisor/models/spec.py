"""ModelSpec: what a model is, exactly where we can tell, and labelled where we cannot."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.models.count import Counted

Source = Literal["directory", "safetensors", "gguf", "hf-cache", "catalog", "name-size"]


class Quantization(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str = Field(description="gptq, awq, bitsandbytes, fp8, compressed-tensors, mxfp4, gguf, ...")
    bits: float | None = None
    group_size: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Mla(BaseModel):
    model_config = ConfigDict(frozen=True)

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int = 0


class ModelSpec(BaseModel):
    """A model, resolved. `exact` says whether the parameter counts are exact; `estimated` names every
    field that is an estimate."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: Source
    location: str | None = Field(None, description="File, directory or catalog entry it came from")
    model_type: str | None = None
    architecture: str | None = None
    family: str | None = None
    modality: str = "text"
    kind: Literal["llm", "other"] = "llm"
    params_total: int
    params_active: int
    exact: bool
    estimated: list[str] = Field(default_factory=list)
    params_by_group: dict[str, int] = Field(default_factory=dict)
    params_not_loaded: dict[str, int] = Field(default_factory=dict, description="e.g. DeepSeek MTP layers")
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_context: int | None = None
    sliding_windows: list[int | None] = Field(default_factory=list, description="Per layer; None = global")
    mla: Mla | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    tied_embeddings: bool | None = None
    native_dtype: str | None = None
    quantization: Quantization | None = None
    weight_bytes: int | None = Field(None, description="Bytes of the weights as stored, when files were read")
    bytes_by_dtype: dict[str, int] = Field(default_factory=dict)
    typical_activation_bytes: int | None = Field(None, description="Non-LLMs: a typical inference peak")
    notes: list[str] = Field(default_factory=list)
    citation: str | None = None

    @property
    def is_moe(self) -> bool:
        return bool(self.experts)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def spec_from_counted(counted: Counted, **fields: Any) -> ModelSpec:
    """A ModelSpec from a config count; `fields` add name, source, dtype, quantization, ..."""
    mla = Mla(**counted.mla) if counted.mla else None
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
        **{"family": counted.text_model_type, **fields},
    )
