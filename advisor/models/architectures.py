"""What each supported architecture is made of, as data. One function (count.py) reads it.

Each entry says which config keys hold the sizes, how attention and the MLP are built (biases, gated or
not, fused or not does not matter for counts), which norms exist (RMSNorm: weight; LayerNorm: weight and
bias) and how many per layer, and whether embeddings are tied by default. Facts from the model families'
published configs and reference implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arch:
    family: str
    mlp: str = "gated"  # "gated": gate, up, down; "plain": up, down
    norm: str = "rms"  # "rms": weight only; "layer": weight + bias
    norms_per_layer: int = 2
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: str | None = None  # "head": q_norm/k_norm of head_dim; "full": over all heads
    tied_default: bool = False
    lm_head_bias: bool = False
    positions_key: str | None = None  # learned absolute position embeddings
    moe: str | None = None  # "mixtral" | "qwen" | "deepseek"
    attention: str = "standard"  # "standard" | "mla"
    bias_keys: tuple[str, ...] = ()  # config keys that switch linear biases on (all of them)
    window: str | None = None  # how sliding-window attention is laid out (see count.sliding_layout)
    head_class: str = "causal-lm"
    aliases: tuple[str, ...] = field(default_factory=tuple)


ARCHITECTURES: dict[str, Arch] = {
    "llama": Arch("llama", bias_keys=("attention_bias",)),
    "mistral": Arch("mistral", window="all"),
    "mixtral": Arch("mixtral", moe="mixtral", window="all"),
    "qwen2": Arch("qwen2", qkv_bias=True, window="qwen"),
    "qwen2_moe": Arch("qwen2_moe", qkv_bias=True, moe="qwen", window="qwen"),
    "qwen3": Arch("qwen3", qk_norm="head", bias_keys=("attention_bias",), window="qwen"),
    "qwen3_moe": Arch("qwen3_moe", qk_norm="head", moe="qwen", bias_keys=("attention_bias",), window="qwen"),
    "gemma": Arch("gemma", tied_default=True),
    "gemma2": Arch("gemma2", norms_per_layer=4, tied_default=True, window="alternate"),
    "gemma3_text": Arch("gemma3_text", norms_per_layer=4, qk_norm="head", tied_default=True, window="pattern"),
    "phi3": Arch("phi3", window="all"),
    "phi": Arch("phi", mlp="plain", norm="layer", norms_per_layer=1, qkv_bias=True, o_bias=True, mlp_bias=True,
                lm_head_bias=True),
    "gpt2": Arch("gpt2", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True, tied_default=True,
                 positions_key="n_positions"),
    "gpt_neox": Arch("gpt_neox", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True),
    "falcon": Arch("falcon", mlp="plain", norm="layer", tied_default=True, bias_keys=("bias",)),
    "olmo2": Arch("olmo2", qk_norm="full", bias_keys=("attention_bias",)),
    "deepseek_v2": Arch("deepseek_v2", moe="deepseek", attention="mla", bias_keys=("attention_bias",)),
    "deepseek_v3": Arch("deepseek_v3", moe="deepseek", attention="mla", bias_keys=("attention_bias",)),
    "bert": Arch("bert", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True, tied_default=True,
                 positions_key="max_position_embeddings", head_class="encoder"),
}

# Config keys by meaning, first present wins.
KEYS = {
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "intermediate": ("intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim"),
    "vocab": ("vocab_size", "padded_vocab_size"),
    "context": ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"),
}

# Multimodal wrappers: model_type -> the text architecture inside `text_config`.
MULTIMODAL_TEXT = {
    "gemma3": "gemma3_text",
    "llava": None,  # whatever text_config.model_type says
    "mistral3": None,
    "qwen2_vl": "qwen2",
}
