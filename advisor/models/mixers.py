"""Token mixers that are not attention: Mamba (selective state space), Mamba-2 and Qwen3-Next's gated DeltaNet.

Each returns the parameters of one layer's mixer and the recurrent state it keeps *per sequence* (elements):
these layers hold a fixed-size state instead of a KV cache that grows with the context. Shapes follow the
reference implementations in Hugging Face transformers (models/mamba, mamba2, nemotron_h, granitemoehybrid,
falcon_h1, jamba, qwen3_next: the `conv1d`, `in_proj`, `x_proj`, `dt_proj`, `A_log`, `D`, `dt_bias`, gated norm and
`out_proj` parameters, and the cache classes' conv_states / ssm_states / recurrent_states shapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from advisor.models.bounds import positive_size


@dataclass(frozen=True)
class Mixer:
    params: int
    state_elements: int  # per sequence, this layer


def _pos(value: Any, name: str, source: str) -> int:
    return positive_size(value, name, source)


def mamba1(cfg: dict[str, Any], h: int, source: str, prefix: str = "") -> Mixer:
    """Mamba (Gu & Dao 2023): in_proj to 2 x d_inner, a depthwise conv, x_proj to (dt_rank + 2 x d_state), dt_proj,
    A_log (d_inner x d_state), D, out_proj. `prefix` "mamba_" reads Jamba's key names, which also adds its three
    RMSNorms on dt, B and C."""
    if prefix:
        expand = _pos(cfg.get("mamba_expand", 2), "mamba_expand", source)
        d_inner = expand * h
        d_state = _pos(cfg.get("mamba_d_state", 16), "mamba_d_state", source)
        d_conv = _pos(cfg.get("mamba_d_conv", 4), "mamba_d_conv", source)
        dt_rank = cfg.get("mamba_dt_rank", "auto")
        proj_bias, conv_bias = bool(cfg.get("mamba_proj_bias", False)), bool(cfg.get("mamba_conv_bias", True))
    else:
        inner = cfg.get("intermediate_size")
        d_inner = _pos(2 * h if inner is None else inner, "intermediate_size", source)
        d_state = _pos(cfg.get("state_size", 16), "state_size", source)
        d_conv = _pos(cfg.get("conv_kernel", 4), "conv_kernel", source)
        dt_rank = cfg.get("time_step_rank", "auto")
        proj_bias, conv_bias = bool(cfg.get("use_bias", False)), bool(cfg.get("use_conv_bias", True))
    rank = math.ceil(h / 16) if dt_rank in (None, "auto") else _pos(dt_rank, "dt_rank", source)
    params = (h * 2 * d_inner + (2 * d_inner if proj_bias else 0)
              + d_inner * d_conv + (d_inner if conv_bias else 0)
              + d_inner * (rank + 2 * d_state)
              + rank * d_inner + d_inner
              + d_inner * d_state + d_inner
              + d_inner * h + (h if proj_bias else 0))
    if prefix:
        params += rank + 2 * d_state  # Jamba's dt_layernorm, b_layernorm, c_layernorm
    return Mixer(params, d_inner * d_conv + d_inner * d_state)


# Mamba-2 keys by model family: (heads, head dim, state, groups, conv kernel, projection bias, conv bias, d_inner)
MAMBA2_KEYS = {
    "mamba2": ("num_heads", "head_dim", "state_size", "n_groups", "conv_kernel", "use_bias", "use_conv_bias", None),
    "nemotron_h": ("mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups", "conv_kernel", "use_bias",
                   "use_conv_bias", None),
    "granitemoehybrid": ("mamba_n_heads", "mamba_d_head", "mamba_d_state", "mamba_n_groups", "mamba_d_conv",
                         "mamba_proj_bias", "mamba_conv_bias", None),
    "falcon_h1": ("mamba_n_heads", "mamba_d_head", "mamba_d_state", "mamba_n_groups", "mamba_d_conv",
                  "mamba_proj_bias", "mamba_conv_bias", "mamba_d_ssm"),
}


def mamba2(cfg: dict[str, Any], h: int, family: str, source: str) -> Mixer:
    """Mamba-2 (Dao & Gu 2024): one in_proj to (z, x, B, C, dt) = 2 x d_inner + 2 x groups x d_state + heads, a
    depthwise conv over x, B and C, per-head dt_bias, A_log and D, a gated RMSNorm over d_inner (Falcon-H1 only when
    `mamba_rms_norm`), out_proj."""
    heads_k, dim_k, state_k, groups_k, conv_k, bias_k, conv_bias_k, inner_k = MAMBA2_KEYS[family]
    heads = _pos(cfg.get(heads_k), heads_k, source)
    head_dim = _pos(cfg.get(dim_k, 64), dim_k, source)
    d_state = _pos(cfg.get(state_k, 128), state_k, source)
    groups = _pos(cfg.get(groups_k, 1), groups_k, source)
    d_conv = _pos(cfg.get(conv_k, 4), conv_k, source)
    d_inner = heads * head_dim
    if inner_k and cfg.get(inner_k) is not None:
        d_inner = _pos(cfg[inner_k], inner_k, source)
    proj_bias, conv_bias = bool(cfg.get(bias_k, False)), bool(cfg.get(conv_bias_k, True))
    conv_dim = d_inner + 2 * groups * d_state
    in_out = 2 * d_inner + 2 * groups * d_state + heads
    norm = d_inner if (family != "falcon_h1" or cfg.get("mamba_rms_norm", False)) else 0
    params = (h * in_out + (in_out if proj_bias else 0)
              + conv_dim * d_conv + (conv_dim if conv_bias else 0)
              + 3 * heads + norm
              + d_inner * h + (h if proj_bias else 0))
    return Mixer(params, conv_dim * d_conv + heads * head_dim * d_state)


def gated_deltanet(cfg: dict[str, Any], h: int, source: str) -> Mixer:
    """Qwen3-Next's linear attention (gated DeltaNet): in_proj_qkvz (h -> 2 x key_dim + 2 x value_dim), in_proj_ba
    (h -> 2 x value heads), a depthwise conv over q, k and v without bias, dt_bias and A_log per value head, a
    gated RMSNorm over the value head dim, out_proj. State per sequence: the conv window and a
    (value heads x key dim x value dim) matrix."""
    k_heads = _pos(cfg.get("linear_num_key_heads", 16), "linear_num_key_heads", source)
    v_heads = _pos(cfg.get("linear_num_value_heads", 32), "linear_num_value_heads", source)
    dk = _pos(cfg.get("linear_key_head_dim", 128), "linear_key_head_dim", source)
    dv = _pos(cfg.get("linear_value_head_dim", 128), "linear_value_head_dim", source)
    kernel = _pos(cfg.get("linear_conv_kernel_dim", 4), "linear_conv_kernel_dim", source)
    key_dim, value_dim = k_heads * dk, v_heads * dv
    conv_dim = 2 * key_dim + value_dim
    params = (h * (2 * key_dim + 2 * value_dim) + h * 2 * v_heads + conv_dim * kernel + 2 * v_heads + dv
              + value_dim * h)
    return Mixer(params, conv_dim * kernel + v_heads * dk * dv)
