"""Memory, part by part: weights, KV cache, activations / workspace, runtime. Pure arithmetic, bytes.

Weights follow the formats' layouts (llama.cpp's published GGUF sizes check the mixes); the KV cache formula asks
the engine (rules/engines/) how it stores sliding-window layers, MLA latents and blocks; each engine's activations
and runtime are in its module; benchmarks/compare.py prints how far every estimate lands from every measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rules.gguf_mix import MIXES, TYPE_BITS, Columns, LayerShape, mix_bytes, outside_types
from rules.precisions import Precision, checkpoint_precision
from rules.quant_layouts import quantized_bytes
from rules.spec import ModelSpec

GIB = 1024**3
MIB = 1024**2
STATE_BYTES = 4  # a recurrent-state element (fp32)

# Engine constants live in each engine's module (rules/engines/); what is here is shared arithmetic.
ADAMW_BYTES_PER_PARAM = 16  # bf16 weights 2 + bf16 grads 2 + fp32 master 4 + two fp32 moments 8
ADAPTER_BYTES_PER_PARAM = 16  # fp32 adapter weights 4 + grads 4 + two moments 8


class KvRules(Protocol):
    """What the KV cache formula needs to know of an engine (rules/engines/base.py implements it)."""

    caches_latent: ClassVar[bool]
    kv_block_tokens: ClassVar[int]

    def caps_sliding_window(self, spec: ModelSpec) -> bool: ...


# --- weights ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightSplit:
    """Weight bytes: the repeated layers (per layer) and everything outside them."""

    total: int
    per_layer: int
    outside: int  # embeddings, output head, final norm, vision tower...
    layers: int


def _linear_params(spec: ModelSpec, precision: Precision) -> int:
    g = spec.params_by_group
    return sum(g.get(k, 0) for k in precision.quantized_groups)


def _layer_params(spec: ModelSpec) -> int:
    g = spec.params_by_group
    if not g:
        return spec.params_total
    return sum(g.get(k, 0) for k in ("attention", "mlp", "experts", "shared_experts", "router", "norms", "mixer"))


def weight_split(spec: ModelSpec, precision: Precision) -> WeightSplit:
    """Weight bytes of `spec` stored at `precision`.

    GGUF files already read give their exact bytes; named GGUF mixes follow llama.cpp's per-tensor rules;
    GPTQ/AWQ/bitsandbytes/FP8 quantize the linear layers and keep embeddings, head and norms at 16 bits.
    """
    layers = spec.layers or 1
    if precision.name == "gguf-file":
        total = spec.weight_bytes or spec.params_total * 2
        outside = sum(v for k, v in spec.params_by_group.items() if k in ("embeddings", "lm_head"))
        outside_bytes = int(total * outside / spec.params_total) if spec.params_total else 0
        return WeightSplit(total, (total - outside_bytes) // layers, outside_bytes, layers)
    if precision.family == "gguf":
        return _gguf_split(spec, precision.name)
    if (spec.quantization is not None and spec.weight_bytes and spec.params_total
            and checkpoint_precision(spec.quantization) == precision.name):
        # a pre-quantized checkpoint whose files were read: its weights are the bytes it stores (packed weights,
        # scales, zeros, g_idx and the layers it keeps at 16 bits), split between layers and the rest by parameters
        total = spec.weight_bytes
        layer_share = _layer_params(spec) / spec.params_total if spec.params_by_group else 1.0
        layer_bytes = math.ceil(total * layer_share)
        return WeightSplit(total, layer_bytes // layers, total - layer_bytes, layers)
    layer_params = _layer_params(spec) if spec.params_by_group else spec.params_total
    outside_params = spec.params_total - layer_params
    if precision.keeps_16bit and spec.params_by_group:
        linear = _linear_params(spec, precision)
        groups = tuple(g for g in precision.quantized_groups if spec.params_by_group.get(g))
        exact = quantized_bytes(spec, precision.name, groups) if groups else None
        quantized = exact if exact is not None else math.ceil(linear * precision.bits / 8)
        layer_bytes = quantized + (layer_params - linear) * 2
        outside_bytes = outside_params * 2
    elif precision.keeps_16bit:  # no breakdown (approximate specs): quantize 95 %, keep 5 % at 16 bits
        layer_bytes = math.ceil(spec.params_total * 0.95 * precision.bits / 8)
        outside_bytes = math.ceil(spec.params_total * 0.05 * 2)
    else:
        layer_bytes = math.ceil(layer_params * precision.bits / 8)
        outside_bytes = math.ceil(outside_params * precision.bits / 8)
    return WeightSplit(layer_bytes + outside_bytes, layer_bytes // layers, outside_bytes, layers)


def _gguf_split(spec: ModelSpec, mix_name: str) -> WeightSplit:
    mix = MIXES[mix_name]
    g = spec.params_by_group
    layers = spec.layers or 1
    h, heads, kv, hd = spec.hidden_size or 0, spec.heads or 0, spec.kv_heads or 0, spec.head_dim or 0
    attn = g.get("attention", 0) // layers
    if spec.mla is None and h and heads and hd:
        v, o = h * kv * hd, heads * hd * h
        qk = max(0, attn - v - o)
    else:
        v, o, qk = 0, 0, attn
    apart = g.get("experts", 0) // layers if mix.experts else 0
    ffn = (g.get("mlp", 0) + g.get("experts", 0) + g.get("shared_experts", 0) + g.get("mixer", 0)) // layers - apart
    norms = (g.get("norms", 0) + g.get("router", 0)) // layers
    shape = LayerShape(attn_q=qk, attn_k=0, attn_v=v, attn_output=o, ffn_gate_up=ffn * 2 // 3, ffn_down=ffn - ffn * 2 // 3,
                       norms=norms, experts=apart)
    embeddings = g.get("embeddings", 0) + g.get("positions", 0)
    output = g.get("lm_head", 0)
    if not g:  # approximate spec: a flat mix
        bits = TYPE_BITS[mix.base] * 1.05
        total = math.ceil(spec.params_total * bits / 8)
        return WeightSplit(total, total // layers, 0, layers)
    if spec.tied_embeddings and not output:
        # tied: llama.cpp uses token_embd as the output and gives it the output type
        output, embeddings = embeddings, 0
    n_gqa = heads // kv if kv else 1
    cols = Columns(h, heads * hd or h, spec.intermediate_size or 4 * h) if h and spec.mla is None else None
    whole = mix_bytes(mix, layers, shape, embeddings, output, 0, n_gqa, cols)
    extra = sum(v for k, v in g.items() if k in ("vision", "projector", "pooler", "audio")) * 2  # kept at 16 bits
    embd_type, out_type = outside_types(mix, cols)
    outside = math.ceil(embeddings * TYPE_BITS[embd_type] / 8 + output * TYPE_BITS[out_type] / 8)
    return WeightSplit(whole + extra, (whole - outside) // layers, outside + extra, layers)


# --- KV cache ---------------------------------------------------------------------------------------------

def kv_bytes_per_token_layer(spec: ModelSpec, engine: KvRules, element_bytes: float) -> float:
    if spec.mla is not None:
        if engine.caches_latent:
            return (spec.mla.kv_lora_rank + spec.mla.qk_rope_head_dim) * element_bytes
        heads = spec.heads or 1
        return heads * (spec.mla.qk_nope_head_dim + spec.mla.qk_rope_head_dim + spec.mla.v_head_dim) * element_bytes
    return 2 * (spec.kv_heads or 0) * (spec.head_dim or 0) * element_bytes


def kv_cache_bytes(spec: ModelSpec, engine: KvRules, tokens: int, batch: int, element_bytes: float,
                   layers: range | None = None) -> int:
    """2 x layers x KV heads x head dim x tokens x batch x bytes (windows and MLA latents as the engine does).

    Args:
        layers: which layers (default all) — for offload, the ones on one device.
    """
    if not spec.layers:
        return 0
    block = engine.kv_block_tokens
    tokens = math.ceil(tokens / block) * block
    per = kv_bytes_per_token_layer(spec, engine, element_bytes)
    windows = spec.sliding_windows or [None] * spec.layers
    cap = engine.caps_sliding_window(spec)
    keep = set(spec.kv_layers) if spec.kv_layers is not None else None
    total = 0.0
    chosen = layers if layers is not None else range(spec.layers)
    for i in chosen:
        if keep is not None and i not in keep:
            continue  # a recurrent (state-space / linear-attention) layer: no KV
        window = windows[i] if i < len(windows) else None
        held = min(tokens, window) if (cap and window) else tokens
        total += per * held
    if spec.state_elements:
        # The recurrent state of the chosen layers, per sequence, whatever the context. Priced at fp32: the
        # reference kernels (mamba's selective scan, the gated-DeltaNet chunked rule) compute it in float32, and
        # an fp32 state bounds the engines that keep it in the model dtype.
        share = len(chosen) / spec.layers if spec.layers else 1
        total += spec.state_elements * share * STATE_BYTES
    return math.ceil(total * batch)


# --- activations / workspace ------------------------------------------------------------------------------

def ffn_width(spec: ModelSpec) -> int:
    return spec.intermediate_size or 4 * (spec.hidden_size or 0)


# --- training ---------------------------------------------------------------------------------------------

def lora_params(spec: ModelSpec, rank: int) -> int:
    """LoRA adapters on q, k, v, o of every layer: rank x (in + out) each."""
    h, heads, kv, hd = spec.hidden_size or 0, spec.heads or 0, spec.kv_heads or 0, spec.head_dim or 0
    per_layer = rank * ((h + heads * hd) + 2 * (h + kv * hd) + (heads * hd + h))
    return per_layer * (spec.layers or 0)


def training_activations(spec: ModelSpec, tokens: int, batch: int, checkpointing: bool) -> int:
    """Activations kept for the backward pass, bf16 (Korthikanti et al. 2022: about 34 x s x b x h bytes per
    layer with flash attention when the FFN is 4h wide; generalized to (18h + 4 x FFN)), plus the logits in
    bf16 and fp32 for the loss and its gradient."""
    h = spec.hidden_size or 0
    per_layer_full = tokens * batch * (18 * h + 4 * ffn_width(spec))
    layers = spec.layers or 1
    if checkpointing:
        kept = layers * tokens * batch * h * 2 + per_layer_full
    else:
        kept = layers * per_layer_full
    logits = tokens * batch * (spec.vocab_size or 0) * (2 + 4 + 4)
    return kept + logits


def gguf_metadata_bytes(spec: ModelSpec) -> int:
    """GGUF header, metadata and tokenizer: about 32 bytes per vocabulary entry plus 64 KiB."""
    return (spec.vocab_size or 0) * 32 + 64 * 1024


def rule_of_thumb_bytes(params: int, bytes_per_param: float) -> int:
    """NVIDIA's rule of thumb: params x bytes per param x 2 ("7B at FP16 = 28 GB")."""
    return int(params * bytes_per_param * 2)
