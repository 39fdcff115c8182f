"""The bytes a quantized checkpoint stores for each linear layer: packed weights with their scales, zeros and
indices, per format, for a matrix of K inputs and N outputs (group 128 where the format groups).

Layouts as the packers write them (facts, with where they come from):
- GPTQ (AutoGPTQ / GPTQModel, transformers' gptq quantizer): qweight int32 [K*b/32, N], qzeros int32 [K/g, N*b/32],
  scales fp16 [K/g, N], g_idx int32 [K], saved whether desc_act is on or off.
- AWQ GEMM (AutoAWQ): qweight int32 [K, N/8], qzeros int32 [K/g, N/8], scales fp16 [K/g, N]; no g_idx.
- FP8: the weight in float8 and either a bf16 scale per output channel [N, 1] (compressed-tensors FP8-dynamic,
  RedHatAI) or an fp32 scale per 128 x 128 block (fine-grained, Qwen3-*-FP8, DeepSeek-V3): the larger of the two.
- W8A8 int8 (compressed-tensors): int8 weight and an fp32 scale per channel (the larger of its dtypes).
- bitsandbytes LLM.int8: int8 weight [N, K], SCB fp32 [N], a one-byte weight_format.
- bitsandbytes 4-bit without double quantization (transformers' default): packed uint8 [(NK+1)/2], absmax fp32 per
  block of 64, quant_map fp32 [16], and a JSON quant_state (counted at 256 bytes, its upper range).
- NVFP4 (ModelOpt): packed uint8 [N, K/2], an fp8 scale per 16 [N, K/16], fp32 weight_scale_2 and input_scale.
- MXFP4 (gpt-oss's experts): blocks uint8 [.., N, K/32, 16] and an e8m0 scale per 32 [.., N, K/32].
Checked against real checkpoints' totals in tests/test_rules_memory.py (RedHatAI Llama-3.1-8B FP8-dynamic
9,083,953,152 bytes, nvidia/Llama-3.3-70B-Instruct-FP4 42,709,045,632, openai/gpt-oss-20b 13,761,264,768).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rules.spec import ModelSpec

G = 128  # the group size of the GPTQ / AWQ rows
NF4_STATE = 256  # bytes of the serialized quant_state JSON per matrix, an upper bound


def _groups(k: int) -> int:
    return math.ceil(k / G)


LAYOUTS: dict[str, Callable[[int, int], int]] = {
    "gptq-int4": lambda k, n: k * n // 2 + _groups(k) * n // 2 + 2 * _groups(k) * n + 4 * k,
    "gptq-int8": lambda k, n: k * n + _groups(k) * n + 2 * _groups(k) * n + 4 * k,
    "awq-int4": lambda k, n: k * n // 2 + _groups(k) * n // 2 + 2 * _groups(k) * n,
    "fp8": lambda k, n: k * n + max(2 * n, 4 * math.ceil(n / 128) * math.ceil(k / 128)),
    "int8-w8a8": lambda k, n: k * n + 4 * n,
    "int8": lambda k, n: k * n + 4 * n + 1,
    "nf4": lambda k, n: (k * n + 1) // 2 + 4 * math.ceil(k * n / 64) + 64 + NF4_STATE,
    "nvfp4": lambda k, n: k * n // 2 + k * n // 16 + 8,
    "mxfp4": lambda k, n: k * n // 2 + k * n // 32,
}


def dense_matrices(spec: ModelSpec) -> list[tuple[int, int]] | None:
    """One layer's quantized matrices (K, N) of a dense decoder with standard attention: q, k, v, o, gate, up,
    down; None when the spec is another shape (MLA, MoE, hybrid layers) or its counts do not add up to them."""
    h, heads, kv, hd, f = spec.hidden_size, spec.heads, spec.kv_heads, spec.head_dim, spec.intermediate_size
    layers = spec.layers
    if (not (h and heads and kv and hd and f and layers) or spec.mla is not None or spec.is_moe
            or spec.kv_layers is not None or spec.state_elements):
        return None
    mats = [(h, heads * hd), (h, kv * hd), (h, kv * hd), (heads * hd, h), (h, f), (h, f), (f, h)]
    if not _adds_up(spec, ("attention", "mlp"), layers * sum(k * n for k, n in mats), layers * (heads + 2 * kv + 2) * hd
                    + layers * 2 * (h + f)):
        return None
    return mats


def expert_matrices(spec: ModelSpec) -> list[tuple[int, int]] | None:
    """One MoE layer's routed-expert matrices (gate and up fused, down) of every expert; None when the counts do
    not add up to them."""
    h, f, experts, layers = spec.hidden_size, spec.intermediate_size, spec.experts, spec.layers
    if not (h and f and experts and layers):
        return None
    mats = [(h, 2 * f), (f, h)] * experts
    if not _adds_up(spec, ("experts",), layers * sum(k * n for k, n in mats), layers * experts * (3 * f + h)):
        return None
    return mats


def _adds_up(spec: ModelSpec, groups: tuple[str, ...], weights: int, slack: int) -> bool:
    """The groups hold these matrices' weights and at most `slack` more parameters (biases, q/k norms)."""
    held = sum(spec.params_by_group.get(g, 0) for g in groups)
    return 0 <= held - weights <= slack


def quantized_bytes(spec: ModelSpec, precision: str, groups: tuple[str, ...]) -> int | None:
    """The bytes of the quantized groups' parameters stored at `precision`, exactly: each matrix by its layout, the
    groups' other parameters (biases, norms inside them) at 16 bits; None when the layout or the shapes are unknown."""
    layout = LAYOUTS.get(precision)
    if layout is None or not spec.layers:
        return None
    mats = expert_matrices(spec) if groups == ("experts",) else dense_matrices(spec)
    if mats is None:
        return None
    weights = spec.layers * sum(k * n for k, n in mats)
    others = sum(spec.params_by_group.get(g, 0) for g in groups) - weights
    return spec.layers * sum(layout(k, n) for k, n in mats) + 2 * others
